"""Model inputs for the whole-network tests: raw features (sequence, MSA, templates) made here, processed by the
oracle's own `RunModel.process_features`, and the oracle driven one iteration at a time in float32.

The template structure is real (ubiquitin, 1UBI, from ../shared/data) when the shared data is present; otherwise
a synthetic chain whose atoms are placed around an ideal helix, which exercises the same code.
"""

from __future__ import annotations

import os
from pathlib import Path

import haiku as hk
import jax
import numpy as np

from protein.model import runner
from tests.reference import random_params_for, reference_config_for, reference_model_config

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


def shared_data() -> Path | None:
    root = Path(os.environ["PROTEIN_SHARED"]) if "PROTEIN_SHARED" in os.environ else Path(__file__).parents[3] / "shared"
    data = root / "data"
    return data if data.is_dir() else None


def template_structure(num_res: int, seed: int = 0) -> tuple[str, np.ndarray, np.ndarray]:
    """(sequence, atom37 positions [N, 37, 3], atom37 mask [N, 37]) of a structure of at least num_res residues."""
    from alphafold.common import protein as reference_protein
    from alphafold.common import residue_constants

    data = shared_data()
    if data is not None and (data / "structures/classic/1ubi.pdb").exists():
        structure = reference_protein.from_pdb_string((data / "structures/classic/1ubi.pdb").read_text())
        if len(structure.aatype) >= num_res:
            sequence = "".join(residue_constants.restypes_with_x[a] for a in structure.aatype[:num_res])
            return sequence, structure.atom_positions[:num_res], structure.atom_mask[:num_res]
    rng = np.random.default_rng(seed)
    sequence = "".join(rng.choice(list(AMINO_ACIDS), num_res))
    turn = np.deg2rad(100.0) * np.arange(num_res)
    ca = np.stack([2.3 * np.cos(turn), 2.3 * np.sin(turn), 1.5 * np.arange(num_res)], axis=-1)
    positions = ca[:, None, :] + rng.normal(scale=1.2, size=(num_res, 37, 3))
    positions[:, 1] = ca
    mask = np.stack([residue_constants.restype_atom37_mask[residue_constants.restype_order[a]] for a in sequence])
    return sequence, (positions * mask[..., None]).astype(np.float32), mask.astype(np.float32)


def raw_features(num_res: int, msa_depth: int, num_templates: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Sequence, MSA (mutated copies of the query, with gaps and deletions) and template features, as AlphaFold2's
    data pipeline writes them, for the first num_res residues of the template structure."""
    from alphafold.common import residue_constants
    from alphafold.data import parsers, pipeline

    rng = np.random.default_rng(seed)
    sequence, positions, mask = template_structure(num_res, seed)
    rows, deletions = [sequence], [[0] * num_res]
    for _ in range(msa_depth - 1):
        identity = rng.uniform(0.3, 0.9)
        row = [c if rng.random() < identity else rng.choice(list(AMINO_ACIDS + "-")) for c in sequence]
        rows.append("".join(row))
        deletions.append([int(d) for d in rng.poisson(0.3, num_res)])
    msa = parsers.Msa(sequences=rows, deletion_matrix=deletions, descriptions=[f"hit{i}" for i in range(len(rows))])
    features = {
        **pipeline.make_sequence_features(sequence, "query", num_res),
        **pipeline.make_msa_features([msa]),
    }
    if num_templates:
        aatypes, all_positions, all_masks = [], [], []
        for t in range(num_templates):
            template_positions = positions + rng.normal(scale=0.5 * t, size=positions.shape).astype(np.float32)
            template_mask = mask.copy()
            if t:  # later templates cover only part of the query, as real hits do
                template_mask[: num_res // 4 * t % num_res] = 0.0
            template_sequence = "".join(c if rng.random() < 0.7 else rng.choice(list(AMINO_ACIDS)) for c in sequence)
            aatypes.append(residue_constants.sequence_to_onehot(template_sequence, residue_constants.HHBLITS_AA_TO_ID))
            all_positions.append(template_positions * template_mask[..., None])
            all_masks.append(template_mask)
        features.update(
            template_aatype=np.stack(aatypes).astype(np.float32),
            template_all_atom_positions=np.stack(all_positions).astype(np.float32),
            template_all_atom_masks=np.stack(all_masks).astype(np.float32),
            template_domain_names=np.array([f"t{t}".encode() for t in range(num_templates)], dtype=object),
            template_sequence=np.array([sequence.encode()] * num_templates, dtype=object),
            template_sum_probs=np.ones((num_templates, 1), np.float32),
        )
    return features


def reference_cfg_for(preset, num_recycle: int):
    """The oracle's config with every size of `preset`, including the data settings."""
    cfg = reference_config_for(preset) if preset.name == "tiny" else reference_model_config(preset.name)
    d = preset.data
    cfg.data.eval.max_msa_clusters = d.max_msa_clusters
    cfg.data.common.max_extra_msa = d.max_extra_msa
    cfg.data.eval.max_templates = d.max_templates
    cfg.data.common.use_templates = d.use_templates
    cfg.data.common.reduce_msa_clusters_by_max_templates = d.reduce_msa_clusters_by_max_templates
    cfg.data.common.num_recycle = num_recycle
    cfg.model.num_recycle = num_recycle
    # The fork overwrites the head's `predicted_aligned_error` dict with the PAE matrix; with this switch it
    # keeps the head's logits and breaks under `pae_matrix_with_logits`.
    cfg.model.calc_extended_ptm = True
    return cfg


def processed_features(reference_cfg, raw: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """The oracle's `RunModel.process_features` (leading axis: one slice per iteration)."""
    from alphafold.model import model

    return model.RunModel(reference_cfg).process_features(dict(raw), random_seed=seed)


class ReferenceModel:
    """The oracle's monomer network, one iteration per call, recycled state kept in float32."""

    def __init__(self, reference_cfg):
        from alphafold.model import modules

        self.cfg = reference_cfg

        def forward(batch):
            return modules.AlphaFold_noE(reference_cfg.model)(batch, is_training=False, return_representations=True)

        self.transformed = hk.transform(forward)
        self._apply = jax.jit(self.transformed.apply)

    def random_params(self, features: dict, prev: dict, seed: int = 0):
        return random_params_for(self.transformed, {**first_slice(features, keep_axis=True), "prev": prev}, seed=seed)

    def iteration(self, params, features_slice: dict, prev: dict) -> dict:
        """features_slice keeps a leading axis of 1 (the oracle's ensemble axis)."""
        outputs = self._apply(params, jax.random.PRNGKey(0), {**features_slice, "prev": prev})
        return jax.device_get(outputs)

    def run(self, params, features: dict, prev: dict, num_recycle: int) -> tuple[dict, list[dict]]:
        """Whole run of 1 + num_recycle iterations; returns the last outputs and every iteration's."""
        history = []
        num_slices = features["aatype"].shape[0]
        for iteration in range(num_recycle + 1):
            index = min(iteration, num_slices - 1)
            outputs = self.iteration(params, {k: v[index : index + 1] for k, v in features.items()}, prev)
            prev = {k: np.asarray(v, np.float32) for k, v in outputs["prev"].items()}
            history.append(outputs)
        return history[-1], history


def first_slice(features: dict, keep_axis: bool = False) -> dict:
    return {k: (np.asarray(v[:1]) if keep_axis else np.asarray(v[0])) for k, v in features.items()}


def network_inputs(features: dict, preset) -> dict[str, np.ndarray]:
    """Only the features our network reads (the oracle's processed dict also holds training-only ones)."""
    names = runner.NETWORK_FEATURES + (runner.TEMPLATE_FEATURES if preset.model.template.enabled else ())
    return {name: features[name] for name in names}
