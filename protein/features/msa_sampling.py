"""MSA sampling, BERT-style masking and cluster summaries at evaluation time (Jumper et al. (2021) Suppl. 1.2.5
"MSA clustering", 1.2.6 "MSA stack input", 1.2.7 "Residue masking").

One call of each function is one draw for one recycling iteration. Residue types are in our order (index 20 for
unknown, 21 for the gap); masked positions hold the mask token 22. Every random draw depends only on the MSA
depth and the residues it is given, never on later padding, so padding after processing leaves the draws alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protein.structure import residue_constants

GAP = residue_constants.restypes_with_x_and_gap.index("-")  # 21
MASK_TOKEN = GAP + 1  # 22: the "[MASK]" token of the masked MSA objective
NUM_PROFILE_CLASSES = GAP + 1  # 22: 20 amino acids, unknown, gap
NUM_MSA_CLASSES = MASK_TOKEN + 1  # 23: the above and the mask token
# Residue types whose agreement counts in the nearest-neighbour assignment: the 20 amino acids and unknown. Gap
# agreement may be spurious and the mask token carries no information (Suppl. 1.2.5, gap agreement weight 0).
_NUM_AGREEMENT_CLASSES = GAP
# Extra-MSA rows are compared with the cluster centres in blocks of this many one-hot elements (rows x N_res x 21
# float32, 64 MiB): large enough blocks keep the matrix product efficient, and memory stays bounded.
_ASSIGNMENT_BLOCK_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class MaskedMsaProbabilities:
    """What a masked MSA position is replaced by (Suppl. 1.2.7): with uniform_prob a uniformly random amino acid,
    with profile_prob a residue drawn from the MSA profile at that column, with same_prob the residue unchanged,
    and with the remaining probability the mask token. AlphaFold2's values."""

    uniform_prob: float = 0.1
    profile_prob: float = 0.1
    same_prob: float = 0.1

    @property
    def mask_prob(self) -> float:
        return 1.0 - self.uniform_prob - self.profile_prob - self.same_prob


def msa_profile(msa: np.ndarray) -> np.ndarray:
    """Frequency of each residue type per column over all rows of the MSA (the "HHblits profile" of AlphaFold2).

    msa [N_seq, N_res] int (0..21) -> [N_res, 22] float32.
    """
    num_seq, num_res = msa.shape
    counts = np.bincount(
        (np.arange(num_res) * NUM_PROFILE_CLASSES + msa).ravel(), minlength=num_res * NUM_PROFILE_CLASSES
    ).reshape(num_res, NUM_PROFILE_CLASSES)
    return counts.astype(np.float32) / np.float32(num_seq)


def sample_rows(msa_depth: int, num_clusters: int, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    """Suppl. 1.2.5: the query row first, the other rows in random order; the first num_clusters rows are the
    cluster centres, the rest the extra MSA. rng None keeps the input order (no sampling).

    -> (cluster centre row indices [min(num_clusters, N_seq)], extra row indices [N_seq - that]) int64. The extra
    rows come in uniformly random order, so their first rows are a uniform random subset of them (AlphaFold2
    shuffles them once more before cropping the extra MSA, which does not change that distribution).
    """
    others = np.arange(1, msa_depth)
    if rng is not None:
        others = others[rng.permutation(msa_depth - 1)]
    order = np.concatenate([[0], others])
    return order[:num_clusters], order[num_clusters:]


def mask_msa(
    msa: np.ndarray,
    profile: np.ndarray,
    replace_fraction: float,
    probabilities: MaskedMsaProbabilities,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Suppl. 1.2.7: each position of the cluster centres is selected with probability replace_fraction and
    replaced by a token drawn from `probabilities` (uniform amino acid, profile, same residue, mask token).

    msa [N_clust, N_res] int32, profile [N_res, 22] float32 -> (masked msa [N_clust, N_res] int32, bert_mask
    [N_clust, N_res] float32: 1 where a position was selected, whatever token it was given).
    The draws are two uniform numbers per position, laid out residue-major ([N_res, N_clust, 2]), one stream.
    """
    if probabilities.mask_prob < 0.0:
        raise ValueError(f"masked MSA probabilities sum to more than 1: {probabilities}")
    num_clusters, num_res = msa.shape
    draws = rng.random((num_res, num_clusters, 2)).transpose(1, 0, 2)
    selected = draws[..., 0] < replace_fraction
    rows, cols = np.nonzero(selected)
    residues = msa[rows, cols]

    uniform_amino_acid = np.zeros(NUM_MSA_CLASSES)
    uniform_amino_acid[: residue_constants.restype_num] = 1.0 / residue_constants.restype_num
    probs = np.zeros((rows.size, NUM_MSA_CLASSES))  # [N_selected, 23]
    probs += probabilities.uniform_prob * uniform_amino_acid
    probs[:, :NUM_PROFILE_CLASSES] += probabilities.profile_prob * profile[cols]
    probs[np.arange(rows.size), residues] += probabilities.same_prob
    probs[:, MASK_TOKEN] += probabilities.mask_prob
    # Inverse-CDF draw: the first class whose cumulative probability exceeds u * total.
    cumulative = np.cumsum(probs, axis=-1)
    threshold = draws[rows, cols, 1] * cumulative[:, -1]
    tokens = np.argmax(cumulative > threshold[:, None], axis=-1)

    masked = msa.copy()
    masked[rows, cols] = tokens
    return masked.astype(np.int32), selected.astype(np.float32)


def nearest_neighbor_clusters(
    msa: np.ndarray, msa_mask: np.ndarray, extra_msa: np.ndarray, extra_msa_mask: np.ndarray
) -> np.ndarray:
    """Suppl. 1.2.5: each extra row joins the cluster centre it agrees with at the most positions (Hamming
    similarity over unmasked positions; agreement on gaps and on the mask token does not count). Ties go to the
    first centre.

    msa, msa_mask [N_clust, N_res]; extra_msa, extra_msa_mask [N_extra, N_res] -> [N_extra] int32 centre index.
    """
    def one_hot(residues: np.ndarray, mask: np.ndarray) -> np.ndarray:  # [N, N_res] -> [N, N_res * 21]
        agreeing = (residues[:, :, None] == np.arange(_NUM_AGREEMENT_CLASSES)) & (mask[:, :, None] > 0)
        return agreeing.astype(np.float32).reshape(residues.shape[0], -1)

    centres = one_hot(msa, msa_mask).T  # [N_res * 21, N_clust]
    assignment = np.zeros(extra_msa.shape[0], np.int32)
    block_rows = max(1, _ASSIGNMENT_BLOCK_ELEMENTS // max(centres.shape[0], 1))
    for start in range(0, extra_msa.shape[0], block_rows):
        rows = slice(start, start + block_rows)
        # Counts of agreeing positions, exact in float32 (integers below 2**24).
        agreement = one_hot(extra_msa[rows], extra_msa_mask[rows]) @ centres  # [rows, N_clust]
        assignment[rows] = np.argmax(agreement, axis=1)
    return assignment


def summarize_clusters(
    msa: np.ndarray,
    msa_mask: np.ndarray,
    deletion_matrix: np.ndarray,
    extra_msa: np.ndarray,
    extra_msa_mask: np.ndarray,
    extra_deletion_matrix: np.ndarray,
    assignment: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Suppl. 1.2.5-1.2.6: per cluster, the residue distribution and the mean deletion count over its centre and
    the extra rows assigned to it (unmasked positions).

    msa, msa_mask, deletion_matrix [N_clust, N_res]; extra_* [N_extra, N_res]; assignment [N_extra] ->
    (cluster_profile [N_clust, N_res, 23], cluster_deletion_mean [N_clust, N_res]) float32.
    """
    num_clusters, num_res = msa.shape
    mask = extra_msa_mask.astype(np.float64)
    segment = (assignment[:, None].astype(np.int64) * num_res + np.arange(num_res)).ravel()  # cluster x column

    def segment_sum(weights: np.ndarray, index: np.ndarray, size: int) -> np.ndarray:
        # Sums of 0/1 masks and integer deletion counts: exact in float64, and so in float32 below 2**24.
        return np.bincount(index, weights=weights.ravel(), minlength=size).astype(np.float32)

    counts = segment_sum(mask, segment, num_clusters * num_res).reshape(num_clusters, num_res)
    residue_sum = segment_sum(
        mask, segment * NUM_MSA_CLASSES + extra_msa.ravel(), num_clusters * num_res * NUM_MSA_CLASSES
    ).reshape(num_clusters, num_res, NUM_MSA_CLASSES)
    residue_sum += np.eye(NUM_MSA_CLASSES, dtype=np.float32)[msa]  # the centre itself
    deletion_sum = segment_sum(mask * extra_deletion_matrix, segment, num_clusters * num_res)
    deletion_sum = deletion_sum.reshape(num_clusters, num_res) + deletion_matrix

    # The 1e-6 keeps fully masked (padding) columns finite.
    mask_counts = (np.float32(1e-6) + msa_mask.astype(np.float32)) + counts
    return residue_sum / mask_counts[:, :, None], (deletion_sum / mask_counts).astype(np.float32)


def deletion_value(deletion_matrix: np.ndarray) -> np.ndarray:
    """Deletion counts squashed to [0, 1): 2/pi * arctan(d / 3) (Suppl. Table 1). float32 in, float32 out."""
    return np.arctan(deletion_matrix / np.float32(3.0)) * np.float32(2.0 / np.pi)


def has_deletion(deletion_matrix: np.ndarray) -> np.ndarray:
    """1 where a deletion precedes the position, else 0 (Suppl. Table 1)."""
    return np.clip(deletion_matrix, 0.0, 1.0).astype(np.float32)
