"""The whole monomer network: one recycling iteration (Jumper et al. 2021, Suppl. Alg. 2), its heads, and the
parameter layout it expects.

Recycling itself (Alg. 2 line 1 loop) lives in `runner.py`: each iteration is one call of `iteration_fn`,
so the host can stop early and the compiled program holds a single iteration.
"""

from __future__ import annotations

from collections.abc import Mapping

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from protein.model import heads
from protein.model.config import ModelConfig, Preset
from protein.model.embeddings import EmbeddingsAndEvoformer
from protein.model.structure_module import StructureModule

RECYCLED = ("prev_pos", "prev_msa_first_row", "prev_pair")


class AlphaFoldIteration(hk.Module):
    """One pass of the network through embeddings, Evoformer, structure module and heads."""

    def __init__(self, config: ModelConfig, name: str = "alphafold_iteration"):
        super().__init__(name=name)
        self.config = config

    def __call__(self, batch: Mapping[str, jnp.ndarray], prev: Mapping[str, jnp.ndarray]) -> dict:
        c = self.config
        representations = EmbeddingsAndEvoformer(c)(dict(batch), dict(prev))
        structure = StructureModule(c.structure_module)(
            single=representations["single"],
            pair=representations["pair"],
            batch=batch,
        )
        outputs = {
            "structure_module": structure,
            "distogram": heads.DistogramHead(c.heads)(representations["pair"]),
            "masked_msa": heads.MaskedMsaHead(c.heads)(representations["msa"]),
            "predicted_lddt": heads.PredictedLDDTHead(c.heads)(structure["act"]),
        }
        if c.heads.experimentally_resolved:
            outputs["experimentally_resolved"] = heads.ExperimentallyResolvedHead(c.heads)(representations["single"])
        if c.heads.predicted_aligned_error:
            outputs["predicted_aligned_error"] = heads.PredictedAlignedErrorHead(c.heads)(representations["pair"])
        outputs["prev"] = {
            "prev_pos": structure["final_atom_positions"],
            "prev_msa_first_row": representations["msa_first_row"],
            "prev_pair": representations["pair"],
        }
        return outputs


def iteration_fn(config: ModelConfig) -> hk.Transformed:
    """`(params, batch, prev) -> outputs` of one recycling iteration, as a Haiku transform without rng.

    The module tree is rooted at `alphafold/alphafold_iteration`, as in the official parameter files.
    """

    def forward(batch, prev):
        return _AlphaFold(config)(batch, prev)

    return hk.without_apply_rng(hk.transform(forward))


class _AlphaFold(hk.Module):
    """The root scope `alphafold` of the official parameter files."""

    def __init__(self, config: ModelConfig):
        super().__init__(name="alphafold")
        self.config = config

    def __call__(self, batch, prev):
        return AlphaFoldIteration(self.config)(batch, prev)


def initial_recycled_state(config: ModelConfig, num_res: int) -> dict[str, np.ndarray]:
    """Zeros for the recycled inputs of the first iteration (Alg. 2 line 2)."""
    return {
        "prev_pos": np.zeros((num_res, 37, 3), np.float32),
        "prev_msa_first_row": np.zeros((num_res, config.msa_channel), np.float32),
        "prev_pair": np.zeros((num_res, num_res, config.pair_channel), np.float32),
    }


def example_batch(preset: Preset, num_res: int = 8, num_msa: int = 4, num_extra_msa: int = 4) -> dict:
    """Zero-valued features of the right names, shapes and dtypes for one iteration (for shape inference)."""
    num_templates = preset.model.template.max_templates
    f32, i32 = np.float32, np.int32
    return {
        "aatype": np.zeros((num_res,), i32),
        "residue_index": np.arange(num_res, dtype=i32),
        "seq_mask": np.ones((num_res,), f32),
        "target_feat": np.zeros((num_res, 22), f32),
        "msa_feat": np.zeros((num_msa, num_res, 49), f32),
        "msa_mask": np.ones((num_msa, num_res), f32),
        "extra_msa": np.zeros((num_extra_msa, num_res), i32),
        "extra_has_deletion": np.zeros((num_extra_msa, num_res), f32),
        "extra_deletion_value": np.zeros((num_extra_msa, num_res), f32),
        "extra_msa_mask": np.ones((num_extra_msa, num_res), f32),
        "template_aatype": np.zeros((num_templates, num_res), i32),
        "template_all_atom_positions": np.zeros((num_templates, num_res, 37, 3), f32),
        "template_all_atom_masks": np.zeros((num_templates, num_res, 37), f32),
        "template_pseudo_beta": np.zeros((num_templates, num_res, 3), f32),
        "template_pseudo_beta_mask": np.zeros((num_templates, num_res), f32),
        "template_mask": np.zeros((num_templates,), f32),
        "atom14_atom_exists": np.ones((num_res, 14), f32),
        "atom37_atom_exists": np.ones((num_res, 37), f32),
        "residx_atom14_to_atom37": np.zeros((num_res, 14), i32),
        "residx_atom37_to_atom14": np.zeros((num_res, 37), i32),
    }


def expected_param_shapes(preset: Preset) -> dict[str, dict[str, tuple[int, ...]]]:
    """The parameter layout of `preset`: module path -> parameter name -> shape (no computation is run)."""
    transformed = iteration_fn(preset.model)
    batch = example_batch(preset)
    prev = initial_recycled_state(preset.model, batch["aatype"].shape[0])
    shapes = jax.eval_shape(transformed.init, jax.random.PRNGKey(0), batch, prev)
    return {module: {name: tuple(s.shape) for name, s in params.items()} for module, params in shapes.items()}
