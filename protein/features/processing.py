"""The evaluation-time input pipeline of the AlphaFold2 monomer model (Jumper et al. (2021) Suppl. 1.2.5-1.2.9,
Alg. 2 inputs): raw features from the data pipeline to the processed features the network reads, in numpy.

Steps, as AlphaFold2: residue types from the HHblits alphabet to ours, sequence and MSA masks, template masks and
pseudo-β positions, atom14/atom37 index maps; then per recycling iteration an independent MSA draw: cluster
centres sampled (the query first), BERT-style masking, nearest-neighbour cluster assignment of the remaining
rows and cluster summaries, `msa_feat` (49 channels), `target_feat` (22) and the extra-MSA features; finally
zero padding to fixed sizes. Template torsion angles are not processed features in the monomer model: the
network computes them from the template atoms (Alg. 2 line 7, `protein.model.templates`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from protein.errors import InputError
from protein.features import msa_sampling
from protein.features.msa_sampling import MaskedMsaProbabilities
from protein.model.config import Preset
from protein.structure import residue_constants

# Axis kinds of the processed features (without the leading recycle axis), for padding to fixed sizes.
_RES, _MSA, _EXTRA, _TEMPLATES = "num_res", "msa_depth", "extra_msa_depth", "num_templates"
_SHAPE_SCHEMA: dict[str, tuple[str | None, ...]] = {
    "aatype": (_RES,),
    "residue_index": (_RES,),
    "seq_mask": (_RES,),
    "seq_length": (),
    "is_distillation": (),
    "random_crop_to_size_seed": (None,),
    "target_feat": (_RES, None),
    "atom14_atom_exists": (_RES, None),
    "atom37_atom_exists": (_RES, None),
    "residx_atom14_to_atom37": (_RES, None),
    "residx_atom37_to_atom14": (_RES, None),
    "msa_feat": (_MSA, _RES, None),
    "msa_mask": (_MSA, _RES),
    "msa_row_mask": (_MSA,),
    "bert_mask": (_MSA, _RES),
    "true_msa": (_MSA, _RES),
    "extra_msa": (_EXTRA, _RES),
    "extra_msa_mask": (_EXTRA, _RES),
    "extra_msa_row_mask": (_EXTRA,),
    "extra_has_deletion": (_EXTRA, _RES),
    "extra_deletion_value": (_EXTRA, _RES),
    "template_aatype": (_TEMPLATES, _RES),
    "template_all_atom_positions": (_TEMPLATES, _RES, None, None),
    "template_all_atom_masks": (_TEMPLATES, _RES, None),
    "template_mask": (_TEMPLATES,),
    "template_pseudo_beta": (_TEMPLATES, _RES, None),
    "template_pseudo_beta_mask": (_TEMPLATES, _RES),
    "template_sum_probs": (_TEMPLATES, None),
}
_TEMPLATE_INPUTS = ("template_aatype", "template_all_atom_positions", "template_all_atom_masks")
_HHBLITS_TO_OURS = np.asarray(residue_constants.MAP_HHBLITS_AATYPE_TO_OUR_AATYPE, dtype=np.int32)
_MASKED_MSA = MaskedMsaProbabilities()


def process_features(
    raw: Mapping[str, np.ndarray],
    preset: Preset,
    seed: int,
    num_recycle: int | None = None,
    num_res_padded: int | None = None,
    sample_msa: bool = True,
    mask_msa: bool = True,
) -> dict[str, np.ndarray]:
    """Processed features for `preset`'s network, one slice per recycling iteration (AlphaFold2's
    `RunModel.process_features` at evaluation: one ensemble member, MSA resampled in recycling).

    raw: the data pipeline's features: aatype [N_res, 21] one-hot (our order), residue_index [N_res], msa
    [N_seq, N_res] int (HHblits alphabet, the query first), deletion_matrix_int (or deletion_matrix) [N_seq,
    N_res], optionally between_segment_residues [N_res]; with templates template_aatype [T, N_res, 22] one-hot
    (HHblits alphabet), template_all_atom_positions [T, N_res, 37, 3], template_all_atom_masks [T, N_res, 37],
    optionally template_sum_probs [T, 1] (no template keys at all: no templates). Other keys are ignored.
    seed: non-negative; recycling iteration r draws from `np.random.default_rng([seed, r])`.
    num_recycle: defaults to the preset's; the leading axis has num_recycle + 1 slices when the preset resamples
    the MSA in recycling, else 1. num_res_padded: zero-pad the residue axis to this length (processing runs on
    the real residues first, so padding never changes them). sample_msa False keeps the MSA rows in input order
    (the first rows become cluster centres, the next ones the extra MSA); mask_msa False masks nothing.

    Returns, with R slices, L = num_res_padded or N_res, S = max_msa_clusters (less max_templates when the preset
    says so), E = max_extra_msa, T = max_templates: aatype, residue_index [R, L] int32; seq_mask [R, L];
    target_feat [R, L, 22]; msa_feat [R, S, L, 49]; msa_mask, bert_mask [R, S, L]; true_msa [R, S, L] int32;
    msa_row_mask [R, S]; extra_msa [R, E, L] int32; extra_msa_mask, extra_has_deletion, extra_deletion_value
    [R, E, L]; extra_msa_row_mask [R, E]; atom14_atom_exists [R, L, 14]; atom37_atom_exists [R, L, 37];
    residx_atom14_to_atom37 [R, L, 14], residx_atom37_to_atom14 [R, L, 37] int32; seq_length [R] int32;
    is_distillation [R]; random_crop_to_size_seed [R, 2] int32 (kept for AlphaFold2's key set, read by nothing);
    with templates template_aatype [R, T, L] int32, template_all_atom_positions [R, T, L, 37, 3],
    template_all_atom_masks [R, T, L, 37], template_mask [R, T], template_pseudo_beta [R, T, L, 3],
    template_pseudo_beta_mask [R, T, L], template_sum_probs [R, T, 1]. Unstated dtypes are float32.
    """
    data = preset.data
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    num_recycle = data.num_recycle if num_recycle is None else int(num_recycle)
    if num_recycle < 0:
        raise InputError(f"num_recycle must be >= 0, got {num_recycle}")

    sequence = sequence_features(raw)
    num_res = sequence["aatype"].shape[0]
    if num_res_padded is not None and num_res_padded < num_res:
        raise InputError(f"num_res_padded {num_res_padded} is shorter than the sequence ({num_res} residues)")
    msa, deletion_matrix = msa_features(raw, num_res)
    templates = template_features(raw, num_res, data.max_templates) if data.use_templates else {}

    num_clusters = data.max_msa_clusters - (data.max_templates if data.reduce_msa_clusters_by_max_templates else 0)
    if num_clusters < 1:
        raise InputError(f"preset {preset.name!r} leaves {num_clusters} MSA cluster rows; at least 1 is needed")
    profile = msa_sampling.msa_profile(msa)
    num_slices = num_recycle + 1 if data.resample_msa_in_recycling else 1
    slices = [
        _msa_iteration(
            msa,
            deletion_matrix,
            profile,
            num_clusters=num_clusters,
            max_extra_msa=data.max_extra_msa,
            replace_fraction=data.masked_msa_replace_fraction if mask_msa else 0.0,
            rng=np.random.default_rng([seed, iteration]),
            sample=sample_msa,
        )
        for iteration in range(num_slices)
    ]

    shared = {**sequence, **templates}
    shared["seq_length"] = np.asarray(num_res, np.int32)
    shared["is_distillation"] = np.asarray(0.0, np.float32)
    shared["random_crop_to_size_seed"] = np.random.default_rng([seed]).integers(
        np.iinfo(np.int32).min, np.iinfo(np.int32).max, size=2, dtype=np.int32
    )
    shared["target_feat"] = target_feat(shared.pop("between_segment_residues"), sequence["aatype"])
    sizes = {
        _RES: num_res if num_res_padded is None else int(num_res_padded),
        _MSA: num_clusters,
        _EXTRA: data.max_extra_msa,
        _TEMPLATES: data.max_templates,
    }
    out = {name: np.stack([_pad(name, value, sizes)] * num_slices) for name, value in shared.items()}
    for name in slices[0]:
        out[name] = np.stack([_pad(name, features[name], sizes) for features in slices])
    return out


def sequence_features(raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-residue features of the query: aatype [N_res] int32 (our order), residue_index [N_res] int32,
    between_segment_residues [N_res] int32, seq_mask [N_res] float32 and the atom maps of `atom_maps`."""
    if "aatype" not in raw:
        raise InputError("raw features lack 'aatype'")
    aatype = np.asarray(raw["aatype"])
    if aatype.ndim != 2 or aatype.shape[-1] != residue_constants.restype_num + 1:
        raise InputError(f"raw 'aatype' must be one-hot [N_res, 21], got shape {aatype.shape}")
    aatype = np.argmax(aatype, axis=-1).astype(np.int32)
    num_res = aatype.shape[0]
    residue_index = _residue_vector(raw, "residue_index", num_res, required=True)
    between_segment_residues = _residue_vector(raw, "between_segment_residues", num_res, required=False)
    return {
        "aatype": aatype,
        "residue_index": residue_index,
        "between_segment_residues": between_segment_residues,
        "seq_mask": np.ones(num_res, np.float32),
        **atom_maps(aatype),
    }


def target_feat(between_segment_residues: np.ndarray, aatype: np.ndarray) -> np.ndarray:
    """Suppl. Table 1 "target_feat": a domain-break flag (always 0 for one chain) and the one-hot residue type.

    between_segment_residues [N_res] int, aatype [N_res] int -> [N_res, 22] float32.
    """
    has_break = np.clip(between_segment_residues.astype(np.float32), 0.0, 1.0)
    one_hot = np.eye(residue_constants.restype_num + 1, dtype=np.float32)[aatype]  # 20 amino acids and unknown
    return np.concatenate([has_break[:, None], one_hot], axis=-1)


def atom_maps(aatype: np.ndarray) -> dict[str, np.ndarray]:
    """Which atoms each residue has and the index maps between the atom14 and atom37 layouts (Suppl. 1.8.1).

    aatype [N_res] int -> atom14_atom_exists [N_res, 14], atom37_atom_exists [N_res, 37] float32;
    residx_atom14_to_atom37 [N_res, 14], residx_atom37_to_atom14 [N_res, 37] int32 (unknown residues: all 0).
    """
    return {
        "atom14_atom_exists": residue_constants.restype_atom14_mask[aatype].astype(np.float32),
        "atom37_atom_exists": residue_constants.restype_atom37_mask[aatype].astype(np.float32),
        "residx_atom14_to_atom37": residue_constants.restype_atom14_to_atom37[aatype].astype(np.int32),
        "residx_atom37_to_atom14": residue_constants.restype_atom37_to_atom14[aatype].astype(np.int32),
    }


def msa_features(raw: Mapping[str, np.ndarray], num_res: int) -> tuple[np.ndarray, np.ndarray]:
    """The MSA in our residue order [N_seq, N_res] int32 and its deletion counts [N_seq, N_res] float32."""
    if "msa" not in raw:
        raise InputError("raw features lack 'msa'")
    msa = np.asarray(raw["msa"])
    if msa.ndim != 2 or msa.shape[1] != num_res or msa.shape[0] < 1:
        raise InputError(f"raw 'msa' must be [N_seq >= 1, {num_res}], got shape {msa.shape}")
    if not np.issubdtype(msa.dtype, np.integer) or msa.min() < 0 or msa.max() >= len(_HHBLITS_TO_OURS):
        raise InputError(f"raw 'msa' must hold HHblits residue ids 0..{len(_HHBLITS_TO_OURS) - 1}")
    deletion_name = "deletion_matrix_int" if "deletion_matrix_int" in raw else "deletion_matrix"
    if deletion_name not in raw:
        raise InputError("raw features lack 'deletion_matrix_int' (or 'deletion_matrix')")
    deletion_matrix = np.asarray(raw[deletion_name])
    if deletion_matrix.shape != msa.shape:
        raise InputError(f"raw {deletion_name!r} has shape {deletion_matrix.shape}, the MSA {msa.shape}")
    return _HHBLITS_TO_OURS[msa], deletion_matrix.astype(np.float32)


def template_features(raw: Mapping[str, np.ndarray], num_res: int, max_templates: int) -> dict[str, np.ndarray]:
    """The first max_templates templates: template_aatype [T, N_res] int32 (one-hot HHblits order to our index),
    template_all_atom_positions [T, N_res, 37, 3], template_all_atom_masks [T, N_res, 37], template_mask [T],
    template_pseudo_beta [T, N_res, 3], template_pseudo_beta_mask [T, N_res], template_sum_probs [T, 1] float32.
    """
    present = [name for name in _TEMPLATE_INPUTS if name in raw]
    if not present:
        num_templates = 0
        one_hot = np.zeros((0, num_res, msa_sampling.NUM_PROFILE_CLASSES), np.float32)
        positions = np.zeros((0, num_res, residue_constants.atom_type_num, 3), np.float32)
        masks = np.zeros((0, num_res, residue_constants.atom_type_num), np.float32)
    else:
        missing = [name for name in _TEMPLATE_INPUTS if name not in raw]
        if missing:
            raise InputError(f"raw features have {', '.join(present)} but lack {', '.join(missing)}")
        one_hot = np.asarray(raw["template_aatype"])
        positions = np.asarray(raw["template_all_atom_positions"], np.float32)
        masks = np.asarray(raw["template_all_atom_masks"], np.float32)
        num_templates = one_hot.shape[0]
        expected = {
            "template_aatype": (num_templates, num_res, msa_sampling.NUM_PROFILE_CLASSES),
            "template_all_atom_positions": (num_templates, num_res, residue_constants.atom_type_num, 3),
            "template_all_atom_masks": (num_templates, num_res, residue_constants.atom_type_num),
        }
        for name, shape in expected.items():
            if np.shape(raw[name]) != shape:
                raise InputError(f"raw {name!r} must have shape {shape}, got {np.shape(raw[name])}")
    if "template_sum_probs" in raw:
        sum_probs = np.asarray(raw["template_sum_probs"], np.float32).reshape(num_templates, 1)
    else:
        sum_probs = np.zeros((num_templates, 1), np.float32)

    keep = slice(0, max_templates)
    aatype = _HHBLITS_TO_OURS[np.argmax(one_hot[keep], axis=-1)]
    positions, masks = positions[keep], masks[keep]
    pseudo_beta, pseudo_beta_mask = pseudo_beta_features(aatype, positions, masks)
    return {
        "template_aatype": aatype,
        "template_all_atom_positions": positions,
        "template_all_atom_masks": masks,
        "template_mask": np.ones(aatype.shape[0], np.float32),
        "template_pseudo_beta": pseudo_beta,
        "template_pseudo_beta_mask": pseudo_beta_mask,
        "template_sum_probs": sum_probs[keep],
    }


def pseudo_beta_features(
    aatype: np.ndarray, all_atom_positions: np.ndarray, all_atom_masks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The Cβ of each residue, Cα for glycine (Suppl. 1.7.1): aatype [..., N], positions [..., N, 37, 3], masks
    [..., N, 37] -> positions [..., N, 3] and mask [..., N] float32."""
    is_glycine = aatype == residue_constants.restype_order["G"]
    ca, cb = residue_constants.atom_order["CA"], residue_constants.atom_order["CB"]
    positions = np.where(is_glycine[..., None], all_atom_positions[..., ca, :], all_atom_positions[..., cb, :])
    mask = np.where(is_glycine, all_atom_masks[..., ca], all_atom_masks[..., cb])
    return positions.astype(np.float32), mask.astype(np.float32)


def _msa_iteration(
    msa: np.ndarray,
    deletion_matrix: np.ndarray,
    profile: np.ndarray,
    num_clusters: int,
    max_extra_msa: int,
    replace_fraction: float,
    rng: np.random.Generator,
    sample: bool,
) -> dict[str, np.ndarray]:
    """One recycling iteration's MSA features (Suppl. 1.2.5-1.2.7, Alg. 1 inputs), unpadded.

    The draws, in order: the row permutation (when sampling), then the masking (when replace_fraction > 0).
    """
    cluster_rows, extra_rows = msa_sampling.sample_rows(msa.shape[0], num_clusters, rng if sample else None)
    true_msa = msa[cluster_rows]
    cluster_deletion = deletion_matrix[cluster_rows]
    if replace_fraction > 0.0:
        cluster_msa, bert_mask = msa_sampling.mask_msa(true_msa, profile, replace_fraction, _MASKED_MSA, rng)
    else:
        cluster_msa, bert_mask = true_msa, np.zeros(true_msa.shape, np.float32)
    cluster_mask = np.ones(cluster_msa.shape, np.float32)

    # Every row that is not a centre joins a cluster; only the first max_extra_msa of them stay in the extra MSA.
    extra_msa = msa[extra_rows]
    extra_deletion = deletion_matrix[extra_rows]
    extra_mask = np.ones(extra_msa.shape, np.float32)
    assignment = msa_sampling.nearest_neighbor_clusters(cluster_msa, cluster_mask, extra_msa, extra_mask)
    cluster_profile, cluster_deletion_mean = msa_sampling.summarize_clusters(
        cluster_msa, cluster_mask, cluster_deletion, extra_msa, extra_mask, extra_deletion, assignment
    )
    keep = slice(0, max_extra_msa)

    msa_feat = np.concatenate(
        [
            np.eye(msa_sampling.NUM_MSA_CLASSES, dtype=np.float32)[cluster_msa],  # 23
            msa_sampling.has_deletion(cluster_deletion)[..., None],  # 1
            msa_sampling.deletion_value(cluster_deletion)[..., None],  # 1
            cluster_profile,  # 23
            msa_sampling.deletion_value(cluster_deletion_mean)[..., None],  # 1
        ],
        axis=-1,
    )  # [N_clust, N_res, 49]
    return {
        "msa_feat": msa_feat,
        "msa_mask": cluster_mask,
        "msa_row_mask": np.ones(cluster_msa.shape[0], np.float32),
        "bert_mask": bert_mask,
        "true_msa": true_msa.astype(np.int32),
        "extra_msa": extra_msa[keep].astype(np.int32),
        "extra_msa_mask": extra_mask[keep],
        "extra_msa_row_mask": np.ones(extra_msa[keep].shape[0], np.float32),
        "extra_has_deletion": msa_sampling.has_deletion(extra_deletion[keep]),
        "extra_deletion_value": msa_sampling.deletion_value(extra_deletion[keep]),
    }


def _residue_vector(raw: Mapping[str, np.ndarray], name: str, num_res: int, required: bool) -> np.ndarray:
    if name not in raw:
        if required:
            raise InputError(f"raw features lack {name!r}")
        return np.zeros(num_res, np.int32)
    value = np.asarray(raw[name])
    if value.shape != (num_res,):
        raise InputError(f"raw {name!r} must have shape ({num_res},), got {value.shape}")
    return value.astype(np.int32)


def _pad(name: str, value: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
    """Zero padding of `name`'s residue, MSA-row and template axes to the fixed sizes (AlphaFold2's
    make_fixed_size)."""
    schema = _SHAPE_SCHEMA[name]
    padding = []
    for axis, (kind, dim) in enumerate(zip(schema, value.shape, strict=True)):
        target = dim if kind is None else sizes[kind]
        if dim > target:
            raise InputError(f"feature {name!r} has {dim} entries on axis {axis} ({kind}), more than {target}")
        padding.append((0, target - dim))
    return np.pad(value, padding) if padding else value
