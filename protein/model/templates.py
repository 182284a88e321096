"""Template embedding (Jumper et al. 2021, Suppl. 1.7.1): template pair features through the template pair
stack (Alg. 16), merged into the pair representation by point-wise attention (Alg. 17), and the template
torsion-angle rows appended to the MSA representation (Alg. 2 lines 7-8).
"""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp

from protein.model import all_atom, geometry
from protein.model.config import TemplateConfig
from protein.model.evoformer import pair_stack_block
from protein.model.layer_stack import layer_stack
from protein.model.primitives import MASK_BIAS, Attention, Linear, layer_norm
from protein.structure import residue_constants

# Template aatype one-hot width: 20 amino acids, unknown and gap (the HHblits alphabet collapsed to ours).
NUM_TEMPLATE_AATYPES = 22


def distogram_one_hot(positions: jnp.ndarray, num_bins: int, min_bin: float, max_bin: float) -> jnp.ndarray:
    """One-hot distance bins between all pairs of points (Suppl. Alg. 32 and 1.7.1).

    positions [N, 3] -> [N, N, num_bins]; bin k holds distances in [b_k, b_k+1) with b linearly spaced from
    min_bin to max_bin and the last bin open-ended. Compared in squared distances, as published.
    """
    lower_breaks = jnp.square(jnp.linspace(min_bin, max_bin, num_bins))
    upper_breaks = jnp.concatenate([lower_breaks[1:], jnp.array([1e8], dtype=jnp.float32)], axis=-1)
    dist2 = jnp.sum(jnp.square(positions[:, None, :] - positions[None, :, :]), axis=-1, keepdims=True)
    return ((dist2 > lower_breaks).astype(jnp.float32) * (dist2 < upper_breaks).astype(jnp.float32))


class TemplatePairStack(hk.Module):
    """Suppl. Alg. 16: blocks of triangle attention, triangle multiplication and transition on a template's
    pair features."""

    def __init__(self, config: TemplateConfig, chunk_size: int | None = None, name: str = "template_pair_stack"):
        super().__init__(name=name)
        self.config = config
        self.chunk_size = chunk_size

    def __call__(self, pair: jnp.ndarray, pair_mask: jnp.ndarray) -> jnp.ndarray:
        """pair [N_res, N_res, c_t], pair_mask [N_res, N_res] -> [N_res, N_res, c_t]."""
        c = self.config

        def block(act):
            return pair_stack_block(
                act,
                pair_mask,
                num_head=c.triangle_attention_num_head,
                num_intermediate_channel=c.triangle_multiplication_channels,
                transition_factor=c.pair_transition_factor,
                chunk_size=self.chunk_size,
            )

        return layer_stack(c.num_pair_blocks, block, pair)


class SingleTemplateEmbedding(hk.Module):
    """The pair features of one template (Suppl. Table 1 / 1.7.1) through the template pair stack."""

    def __init__(self, config: TemplateConfig, chunk_size: int | None = None, name: str = "single_template_embedding"):
        super().__init__(name=name)
        self.config = config
        self.chunk_size = chunk_size

    def __call__(
        self,
        template_aatype: jnp.ndarray,
        template_all_atom_positions: jnp.ndarray,
        template_all_atom_masks: jnp.ndarray,
        template_pseudo_beta: jnp.ndarray,
        template_pseudo_beta_mask: jnp.ndarray,
        pair_mask: jnp.ndarray,
    ) -> jnp.ndarray:
        """One template: aatype [N_res], atom37 positions [N_res, 37, 3] and masks [N_res, 37], pseudo-beta
        [N_res, 3] and its mask [N_res]; pair_mask [N_res, N_res] -> [N_res, N_res, c_t]."""
        c = self.config
        num_res = template_aatype.shape[0]
        pseudo_beta_mask_2d = template_pseudo_beta_mask[:, None] * template_pseudo_beta_mask[None, :]
        dgram = distogram_one_hot(template_pseudo_beta, c.dgram_num_bins, c.dgram_min_bin, c.dgram_max_bin)
        aatype = jax.nn.one_hot(template_aatype, NUM_TEMPLATE_AATYPES)

        # Unit vectors from each residue's backbone frame to every other CA (zero unless enabled, as in the
        # released models), masked by the backbone atoms N, CA, C being present.
        n, ca, c_atom = (residue_constants.atom_order[a] for a in ("N", "CA", "C"))
        frames = geometry.Rigid.from_backbone(
            template_all_atom_positions[:, n], template_all_atom_positions[:, ca], template_all_atom_positions[:, c_atom]
        )
        local_ca = frames[:, None].invert_apply(template_all_atom_positions[None, :, ca])  # [N_res, N_res, 3]
        backbone_mask = (
            template_all_atom_masks[:, n] * template_all_atom_masks[:, ca] * template_all_atom_masks[:, c_atom]
        )
        backbone_mask_2d = backbone_mask[:, None] * backbone_mask[None, :]
        inv_distance = jax.lax.rsqrt(1e-6 + jnp.sum(jnp.square(local_ca), axis=-1)) * backbone_mask_2d
        unit_vector = local_ca * inv_distance[..., None]
        if not c.use_template_unit_vector:
            unit_vector = jnp.zeros_like(unit_vector)

        features = jnp.concatenate(
            [
                dgram,
                pseudo_beta_mask_2d[..., None],
                jnp.tile(aatype[None, :, :], [num_res, 1, 1]),
                jnp.tile(aatype[:, None, :], [1, num_res, 1]),
                unit_vector,
                backbone_mask_2d[..., None],
            ],
            axis=-1,
        )
        features = features * backbone_mask_2d[..., None]
        act = Linear(c.pair_channel, name="embedding2d")(features)
        act = TemplatePairStack(c, self.chunk_size)(act, pair_mask)
        return layer_norm("output_layer_norm")(act)


class TemplateEmbedding(hk.Module):
    """Suppl. Alg. 17: each pair position attends over the templates' pair embeddings."""

    def __init__(self, config: TemplateConfig, chunk_size: int | None = None, name: str = "template_embedding"):
        super().__init__(name=name)
        self.config = config
        self.chunk_size = chunk_size

    def __call__(self, pair: jnp.ndarray, batch: dict[str, jnp.ndarray], pair_mask: jnp.ndarray) -> jnp.ndarray:
        """pair [N_res, N_res, c_z]; batch holds template_aatype [T, N_res], template_all_atom_positions
        [T, N_res, 37, 3], template_all_atom_masks [T, N_res, 37], template_pseudo_beta [T, N_res, 3],
        template_pseudo_beta_mask [T, N_res], template_mask [T] -> update [N_res, N_res, c_z]."""
        c = self.config
        num_res, _, pair_channel = pair.shape
        template_mask = batch["template_mask"]
        single_template = SingleTemplateEmbedding(c, self.chunk_size)
        template_pair = hk.vmap(
            lambda *args: single_template(*args, pair_mask), split_rng=False
        )(
            batch["template_aatype"],
            batch["template_all_atom_positions"],
            batch["template_all_atom_masks"],
            batch["template_pseudo_beta"],
            batch["template_pseudo_beta_mask"],
        )  # [T, N_res, N_res, c_t]
        num_templates = template_pair.shape[0]

        query = jnp.reshape(pair, [num_res * num_res, 1, pair_channel])
        templates = jnp.reshape(
            jnp.transpose(template_pair, [1, 2, 0, 3]), [num_res * num_res, num_templates, c.pair_channel]
        )
        bias = MASK_BIAS * (template_mask[None, None, None, :] - 1.0)
        attention = Attention(
            c.attention_num_head,
            output_dim=pair_channel,
            key_dim=c.attention_key_dim,
            value_dim=c.attention_value_dim,
            gating=False,
        )
        update = jnp.reshape(attention(query, templates, bias), [num_res, num_res, pair_channel])
        # No templates at all: no update (the softmax over only masked templates would be uniform).
        return update * (jnp.sum(template_mask) > 0.0).astype(update.dtype)


def template_torsion_features(
    template_aatype: jnp.ndarray, template_all_atom_positions: jnp.ndarray, template_all_atom_masks: jnp.ndarray
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Per-residue template features for the MSA rows (Suppl. Table 1): aatype one-hot, torsion sin/cos,
    alternative torsion sin/cos and torsion masks.

    [T, N_res], [T, N_res, 37, 3], [T, N_res, 37] -> features [T, N_res, 57] and the row mask [T, N_res]
    (the mask of the backbone torsion psi, as published).
    """
    num_templates, num_res = template_aatype.shape
    torsions = all_atom.atom37_to_torsion_angles(
        template_aatype, template_all_atom_positions, template_all_atom_masks, placeholder_for_undefined=True
    )
    features = jnp.concatenate(
        [
            jax.nn.one_hot(template_aatype, NUM_TEMPLATE_AATYPES),
            jnp.reshape(torsions["torsion_angles_sin_cos"], [num_templates, num_res, 14]),
            jnp.reshape(torsions["alt_torsion_angles_sin_cos"], [num_templates, num_res, 14]),
            torsions["torsion_angles_mask"],
        ],
        axis=-1,
    )
    return features, torsions["torsion_angles_mask"][:, :, 2]
