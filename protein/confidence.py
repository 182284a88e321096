"""Confidence measures from the heads' logits (Jumper et al. 2021, Suppl. 1.9.6 and 1.9.7), and their
AlphaFold DB JSON files.

Plain numpy: these run on the host after the network, on arrays fetched from the device.
"""

from __future__ import annotations

import json

import numpy as np

# Upper bounds of the pLDDT bands of the AlphaFold DB, with the letter each band is written as:
# very low (D), low (L), confident (M), very high (H).
PLDDT_CATEGORIES: tuple[tuple[float, str], ...] = ((50.0, "D"), (70.0, "L"), (90.0, "M"), (np.inf, "H"))

# TM-score's d0 is undefined for fewer than 16 residues and negative below 19, so the residue count is
# clipped at 19 (Suppl. 1.9.7, as released).
MIN_TM_NUM_RESIDUES = 19.0


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64 for a stable sum."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - np.max(logits, axis=-1, keepdims=True))
    return shifted / np.sum(shifted, axis=-1, keepdims=True)


def plddt(logits: np.ndarray) -> np.ndarray:
    """Per-residue pLDDT in [0, 100] (Suppl. Alg. 29 and 1.9.6).

    logits [N_res, num_bins] of `PredictedLDDTHead`, bins splitting lDDT's [0, 1] into equal parts; the
    pLDDT is the expected lDDT under them, each bin at its centre. Returns float64 [N_res].
    """
    logits = np.asarray(logits)
    num_bins = logits.shape[-1]
    bin_centres = (np.arange(num_bins, dtype=np.float64) + 0.5) / num_bins
    return 100.0 * (_softmax(logits) @ bin_centres)


def _error_bin_centres(breaks: np.ndarray) -> np.ndarray:
    """Centres [num_bins] of the bins delimited by `breaks` [num_bins - 1] (equally spaced, starting at the
    first bin's upper edge); the open-ended last bin is placed one step past the previous centre."""
    breaks = np.asarray(breaks, dtype=np.float64)
    step = breaks[1] - breaks[0]
    centres = breaks + step / 2.0
    return np.append(centres, centres[-1] + step)


def predicted_aligned_error(logits: np.ndarray, breaks: np.ndarray) -> tuple[np.ndarray, float]:
    """Expected aligned error of every residue pair (Suppl. 1.9.7), in Angstrom.

    logits [N_res, N_res, num_bins] and breaks [num_bins - 1] of `PredictedAlignedErrorHead`. Returns the PAE
    [N_res, N_res] (float64; row i: aligned on residue i's frame) and the largest value a PAE can take
    (the centre of the last bin, 31.75 A for the released models).
    """
    centres = _error_bin_centres(breaks)
    pae = _softmax(logits) @ centres
    return pae, float(centres[-1])


def predicted_tm_score(
    logits: np.ndarray, breaks: np.ndarray, residue_weights: np.ndarray | None = None
) -> float:
    """pTM: the TM-score of the prediction expected under the aligned-error distribution (Suppl. 1.9.7,
    eqs. 38-40).

    For each alignment frame i, the weighted mean over residues j of E[1 / (1 + (e_ij / d0)^2)], then the best
    frame. d0 = 1.24 (N - 15)^(1/3) - 1.8 is TM-score's (Yang & Skolnick 2004) with N the (weighted) number of
    residues, clipped at 19.

    logits [N_res, N_res, num_bins], breaks [num_bins - 1]; residue_weights [N_res] in [0, 1] (default all 1)
    leaves out padding residues (weight 0) from the mean, from N and from the choice of frame.
    """
    logits = np.asarray(logits)
    num_res = logits.shape[0]
    if residue_weights is None:
        residue_weights = np.ones(num_res, dtype=np.float64)
    residue_weights = np.asarray(residue_weights, dtype=np.float64)
    if residue_weights.shape != (num_res,):
        raise ValueError(f"residue_weights has shape {residue_weights.shape}; expected ({num_res},)")

    clipped_num_res = max(float(np.sum(residue_weights)), MIN_TM_NUM_RESIDUES)
    d0 = 1.24 * (clipped_num_res - 15.0) ** (1.0 / 3.0) - 1.8
    tm_per_bin = 1.0 / (1.0 + np.square(_error_bin_centres(breaks)) / d0**2)
    expected_tm = _softmax(logits) @ tm_per_bin  # [N_res (frame), N_res (residue)]

    pair_weights = residue_weights[:, None] * residue_weights[None, :]
    normalised = pair_weights / (1e-8 + np.sum(pair_weights, axis=-1, keepdims=True))
    per_frame = np.sum(expected_tm * normalised, axis=-1)
    return float(np.max(per_frame * residue_weights))


def pae_json(pae: np.ndarray, max_pae: float, decimals: int = 1) -> str:
    """The PAE as the AlphaFold DB's `predicted_aligned_error` JSON file.

    `[{"predicted_aligned_error": [[...], ...], "max_predicted_aligned_error": 31.75}]`, compact. Values are
    rounded to `decimals` places (1, as AlphaFold writes it; the AlphaFold DB files carry whole numbers, which
    `decimals=0` gives, written as integers).
    """
    pae = np.asarray(pae, dtype=np.float64)
    if pae.ndim != 2 or pae.shape[0] != pae.shape[1]:
        raise ValueError(f"PAE must be a square [N_res, N_res] matrix; got shape {pae.shape}")
    rounded = np.round(pae, decimals=decimals)
    values = rounded.astype(np.int64).tolist() if decimals <= 0 else rounded.tolist()
    document = [{"predicted_aligned_error": values, "max_predicted_aligned_error": float(max_pae)}]
    return json.dumps(document, separators=(",", ":"))


def plddt_categories(plddt_values: np.ndarray) -> list[str]:
    """The AlphaFold DB band letter of each pLDDT: D (< 50), L (< 70), M (< 90), H (>= 90).

    Raises ValueError for a value outside [0, 100] (not a pLDDT)."""
    letters = []
    for value in np.asarray(plddt_values, dtype=np.float64).reshape(-1):
        if not 0.0 <= value <= 100.0:
            raise ValueError(f"pLDDT {value} is outside [0, 100]")
        letters.append(next(letter for bound, letter in PLDDT_CATEGORIES if value < bound))
    return letters


def confidence_json(plddt_values: np.ndarray) -> str:
    """Per-residue pLDDT as the AlphaFold DB's `confidence_v*.json` file.

    `{"residueNumber": [1, ...], "confidenceScore": [...], "confidenceCategory": ["H", ...]}`, scores rounded to
    two decimals, residues numbered from 1. plddt_values [N_res] in [0, 100].
    """
    plddt_values = np.asarray(plddt_values, dtype=np.float64)
    if plddt_values.ndim != 1:
        raise ValueError(f"pLDDT must be one value per residue [N_res]; got shape {plddt_values.shape}")
    document = {
        "residueNumber": list(range(1, plddt_values.shape[0] + 1)),
        # Python's round is correctly rounded on the decimal value, unlike np.round's scale-and-round.
        "confidenceScore": [round(float(value), 2) for value in plddt_values],
        "confidenceCategory": plddt_categories(plddt_values),
    }
    return json.dumps(document, separators=(",", ":"))
