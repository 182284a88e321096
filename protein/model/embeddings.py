"""Input embedding, recycling, templates, extra-MSA stack and Evoformer: from features to the single, pair
and MSA representations (Jumper et al. 2021, Suppl. Alg. 2 lines 5-17, Alg. 3, 4, 32).
"""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp

from protein.model import all_atom
from protein.model.config import ModelConfig
from protein.model.evoformer import EvoformerIteration, evoformer_stack
from protein.model.primitives import Linear, layer_norm
from protein.model.templates import TemplateEmbedding, distogram_one_hot, template_torsion_features

# One-hot width of MSA residues: 20 amino acids, unknown, gap and the BERT mask token.
NUM_MSA_TOKENS = 23


def relative_position_features(residue_index: jnp.ndarray, max_relative_feature: int) -> jnp.ndarray:
    """Suppl. Alg. 4: one-hot of the clipped residue-index offset. [N_res] -> [N_res, N_res, 2*max+1]."""
    offset = residue_index[:, None] - residue_index[None, :]
    clipped = jnp.clip(offset + max_relative_feature, 0, 2 * max_relative_feature)
    return jax.nn.one_hot(clipped, 2 * max_relative_feature + 1)


def extra_msa_features(batch: dict[str, jnp.ndarray]) -> jnp.ndarray:
    """Suppl. 1.2.8: extra-MSA residue one-hot, has-deletion and deletion value. -> [N_extra, N_res, 25]."""
    return jnp.concatenate(
        [
            jax.nn.one_hot(batch["extra_msa"], NUM_MSA_TOKENS),
            batch["extra_has_deletion"][..., None],
            batch["extra_deletion_value"][..., None],
        ],
        axis=-1,
    )


class EmbeddingsAndEvoformer(hk.Module):
    """Everything before the structure module (Suppl. Alg. 2 lines 5-17)."""

    def __init__(self, config: ModelConfig, name: str = "evoformer"):
        super().__init__(name=name)
        self.config = config

    def __call__(self, batch: dict[str, jnp.ndarray], prev: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
        """batch: one recycling iteration's processed features (target_feat [N_res, 22], msa_feat
        [N_clust, N_res, 49], msa_mask, seq_mask, aatype, residue_index, extra_msa* [N_extra, N_res],
        template_* ...). prev: prev_pos [N_res, 37, 3], prev_msa_first_row [N_res, c_m], prev_pair
        [N_res, N_res, c_z] from the previous iteration (zeros at the first).

        Returns single [N_res, c_s], pair [N_res, N_res, c_z], msa [N_clust, N_res, c_m] and
        msa_first_row [N_res, c_m].
        """
        c = self.config
        chunk = c.chunk_size

        # Alg. 3: input embedder.
        target_feat = batch["target_feat"]
        msa = Linear(c.msa_channel, name="preprocess_1d")(target_feat)[None] + Linear(
            c.msa_channel, name="preprocess_msa"
        )(batch["msa_feat"])
        pair = (
            Linear(c.pair_channel, name="left_single")(target_feat)[:, None]
            + Linear(c.pair_channel, name="right_single")(target_feat)[None, :]
        )
        seq_mask = batch["seq_mask"]
        pair_mask = seq_mask[:, None] * seq_mask[None, :]

        # Alg. 32: recycling embedder.
        if c.recycle_pos:
            prev_pseudo_beta, _ = all_atom.pseudo_beta(batch["aatype"], prev["prev_pos"])
            dgram = distogram_one_hot(prev_pseudo_beta, c.prev_pos_num_bins, c.prev_pos_min_bin, c.prev_pos_max_bin)
            pair = pair + Linear(c.pair_channel, name="prev_pos_linear")(dgram)
        if c.recycle_features:
            msa = msa.at[0].add(layer_norm("prev_msa_first_row_norm")(prev["prev_msa_first_row"]))
            pair = pair + layer_norm("prev_pair_norm")(prev["prev_pair"])

        # Alg. 4: relative position encoding (the published parameter name has this spelling).
        if c.max_relative_feature:
            relpos = relative_position_features(batch["residue_index"], c.max_relative_feature)
            pair = pair + Linear(c.pair_channel, name="pair_activiations")(relpos)

        # Alg. 2 lines 9-13: template pair embedding.
        if c.template.enabled:
            template_batch = {k: v for k, v in batch.items() if k.startswith("template_")}
            pair = pair + TemplateEmbedding(c.template, chunk)(pair, template_batch, pair_mask)

        # Alg. 2 lines 14-16: extra-MSA stack (Alg. 18).
        extra_msa = Linear(c.extra_msa_channel, name="extra_msa_activations")(extra_msa_features(batch))
        extra_block = EvoformerIteration(c.evoformer, is_extra_msa=True, chunk_size=chunk, name="extra_msa_stack")
        _, pair = evoformer_stack(
            extra_block, c.num_extra_msa_blocks, extra_msa, pair, batch["extra_msa_mask"], pair_mask
        )

        # Alg. 2 lines 7-8: template torsion-angle rows appended to the MSA.
        msa_mask = batch["msa_mask"]
        num_msa_rows = msa.shape[0]
        if c.template.enabled and c.template.embed_torsion_angles:
            template_features, template_row_mask = template_torsion_features(
                batch["template_aatype"], batch["template_all_atom_positions"], batch["template_all_atom_masks"]
            )
            template_rows = Linear(c.msa_channel, name="template_single_embedding")(template_features)
            template_rows = Linear(c.msa_channel, name="template_projection")(jax.nn.relu(template_rows))
            msa = jnp.concatenate([msa, template_rows], axis=0)
            msa_mask = jnp.concatenate([msa_mask, template_row_mask], axis=0)

        # Alg. 6: the Evoformer stack.
        block = EvoformerIteration(c.evoformer, is_extra_msa=False, chunk_size=chunk, name="evoformer_iteration")
        msa, pair = evoformer_stack(block, c.num_evoformer_blocks, msa, pair, msa_mask, pair_mask)

        single = Linear(c.seq_channel, name="single_activations")(msa[0])
        return {
            "single": single,
            "pair": pair,
            "msa": msa[:num_msa_rows],
            "msa_first_row": msa[0],
        }
