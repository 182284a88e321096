"""The Evoformer block and its modules (Jumper et al. 2021, Suppl. 1.6), also used by the extra-MSA stack
(Suppl. 1.7.2) and, for its pair modules, by the template pair stack (Suppl. 1.7.1).

Each module returns the update to its input; the block adds it (the residual connections of Alg. 6).
Inference only: dropout is the identity at evaluation time.
"""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp

from protein.model.config import EvoformerBlockConfig
from protein.model.layer_stack import layer_stack
from protein.model.primitives import MASK_BIAS, Attention, GlobalAttention, Linear, chunked, layer_norm


class MSARowAttentionWithPairBias(hk.Module):
    """Suppl. Alg. 7: each MSA row attends over residues, biased by the pair representation."""

    def __init__(self, num_head: int, chunk_size: int | None = None, name: str = "msa_row_attention_with_pair_bias"):
        super().__init__(name=name)
        self.num_head = num_head
        self.chunk_size = chunk_size

    def __call__(self, msa: jnp.ndarray, msa_mask: jnp.ndarray, pair: jnp.ndarray) -> jnp.ndarray:
        """msa [N_seq, N_res, c_m], msa_mask [N_seq, N_res], pair [N_res, N_res, c_z] -> [N_seq, N_res, c_m]."""
        bias = (MASK_BIAS * (msa_mask - 1.0))[:, None, None, :]
        msa = layer_norm("query_norm")(msa)
        pair = layer_norm("feat_2d_norm")(pair)
        feat_2d_weights = hk.get_parameter(
            "feat_2d_weights",
            (pair.shape[-1], self.num_head),
            msa.dtype,
            hk.initializers.RandomNormal(stddev=1.0 / pair.shape[-1] ** 0.5),
        )
        pair_bias = jnp.einsum("qkc,ch->hqk", pair, feat_2d_weights)
        attention = Attention(self.num_head, output_dim=msa.shape[-1])
        return chunked(lambda m, b: attention(m, m, b, pair_bias), self.chunk_size)(msa, bias)


class MSAColumnAttention(hk.Module):
    """Suppl. Alg. 8: each MSA column attends over sequences."""

    def __init__(self, num_head: int, chunk_size: int | None = None, name: str = "msa_column_attention"):
        super().__init__(name=name)
        self.num_head = num_head
        self.chunk_size = chunk_size

    def __call__(self, msa: jnp.ndarray, msa_mask: jnp.ndarray) -> jnp.ndarray:
        """msa [N_seq, N_res, c_m], msa_mask [N_seq, N_res] -> [N_seq, N_res, c_m]."""
        msa = jnp.swapaxes(msa, -2, -3)
        msa_mask = jnp.swapaxes(msa_mask, -1, -2)
        bias = (MASK_BIAS * (msa_mask - 1.0))[:, None, None, :]
        msa = layer_norm("query_norm")(msa)
        attention = Attention(self.num_head, output_dim=msa.shape[-1])
        update = chunked(lambda m, b: attention(m, m, b), self.chunk_size)(msa, bias)
        return jnp.swapaxes(update, -2, -3)


class MSAColumnGlobalAttention(hk.Module):
    """Suppl. Alg. 19: column attention of the extra-MSA stack, with one global query per column."""

    def __init__(self, num_head: int, chunk_size: int | None = None, name: str = "msa_column_global_attention"):
        super().__init__(name=name)
        self.num_head = num_head
        self.chunk_size = chunk_size

    def __call__(self, msa: jnp.ndarray, msa_mask: jnp.ndarray) -> jnp.ndarray:
        """msa [N_extra, N_res, c_e], msa_mask [N_extra, N_res] -> [N_extra, N_res, c_e]."""
        msa = jnp.swapaxes(msa, -2, -3)
        msa_mask = jnp.swapaxes(msa_mask, -1, -2)
        msa = layer_norm("query_norm")(msa)
        attention = GlobalAttention(self.num_head, output_dim=msa.shape[-1])
        update = chunked(lambda m, mask: attention(m, m, mask[..., None]), self.chunk_size)(msa, msa_mask)
        return jnp.swapaxes(update, -2, -3)


class Transition(hk.Module):
    """Suppl. Alg. 9 and 15: two-layer MLP with a ReLU, widening the channels by `factor`."""

    def __init__(self, factor: int, chunk_size: int | None = None, name: str = "transition_block"):
        super().__init__(name=name)
        self.factor = factor
        self.chunk_size = chunk_size

    def __call__(self, act: jnp.ndarray) -> jnp.ndarray:
        """act [N, M, c] -> [N, M, c]."""
        channels = act.shape[-1]
        act = layer_norm("input_layer_norm")(act)
        transition1 = Linear(channels * self.factor, name="transition1")
        transition2 = Linear(channels, name="transition2")
        return chunked(lambda x: transition2(jax.nn.relu(transition1(x))), self.chunk_size)(act)


class OuterProductMean(hk.Module):
    """Suppl. Alg. 10: the MSA updates the pair representation by the mean outer product over sequences."""

    def __init__(self, num_outer_channel: int, num_output_channel: int, name: str = "outer_product_mean"):
        super().__init__(name=name)
        self.num_outer_channel = num_outer_channel
        self.num_output_channel = num_output_channel

    def __call__(self, msa: jnp.ndarray, msa_mask: jnp.ndarray) -> jnp.ndarray:
        """msa [N_seq, N_res, c_m], msa_mask [N_seq, N_res] -> [N_res, N_res, c_z]."""
        mask = msa_mask[..., None]
        act = layer_norm("layer_norm_input")(msa)
        left = mask * Linear(self.num_outer_channel, name="left_projection")(act)  # [N_seq, N_res, c]
        right = mask * Linear(self.num_outer_channel, name="right_projection")(act)  # [N_seq, N_res, c]
        output_w = hk.get_parameter(
            "output_w",
            (self.num_outer_channel, self.num_outer_channel, self.num_output_channel),
            msa.dtype,
            hk.initializers.TruncatedNormal(stddev=1.0 / self.num_outer_channel),
        )
        output_b = hk.get_parameter("output_b", (self.num_output_channel,), msa.dtype, jnp.zeros)
        outer = jnp.einsum("sic,sjd->ijcd", left, right)  # [N_res, N_res, c, c]
        update = jnp.einsum("ijcd,cdo->ijo", outer, output_w) + output_b
        num_pairs = jnp.einsum("si,sj->ij", msa_mask, msa_mask)[..., None]
        return update / (1e-3 + num_pairs)


class TriangleMultiplication(hk.Module):
    """Suppl. Alg. 11 (outgoing edges) and 12 (incoming edges)."""

    def __init__(self, num_intermediate_channel: int, outgoing: bool, name: str):
        super().__init__(name=name)
        self.num_intermediate_channel = num_intermediate_channel
        self.outgoing = outgoing

    def __call__(self, pair: jnp.ndarray, pair_mask: jnp.ndarray) -> jnp.ndarray:
        """pair [N_res, N_res, c_z], pair_mask [N_res, N_res] -> [N_res, N_res, c_z]."""
        mask = pair_mask[..., None]
        channels = pair.shape[-1]
        act = layer_norm("layer_norm_input")(pair)
        num_c = self.num_intermediate_channel
        left = mask * Linear(num_c, name="left_projection")(act)
        right = mask * Linear(num_c, name="right_projection")(act)
        left = left * jax.nn.sigmoid(Linear(num_c, name="left_gate")(act))
        right = right * jax.nn.sigmoid(Linear(num_c, name="right_gate")(act))
        if self.outgoing:
            # z_ij += sum_k a_ik * b_jk
            update = jnp.einsum("ikc,jkc->ijc", left, right)
        else:
            # z_ij += sum_k a_ki * b_kj
            update = jnp.einsum("kjc,kic->ijc", left, right)
        update = layer_norm("center_layer_norm")(update)
        update = Linear(channels, name="output_projection")(update)
        return update * jax.nn.sigmoid(Linear(channels, name="gating_linear")(act))


class TriangleAttention(hk.Module):
    """Suppl. Alg. 13 (around the starting node) and 14 (around the ending node)."""

    def __init__(self, num_head: int, starting_node: bool, chunk_size: int | None = None, name: str = ""):
        super().__init__(name=name)
        self.num_head = num_head
        self.starting_node = starting_node
        self.chunk_size = chunk_size

    def __call__(self, pair: jnp.ndarray, pair_mask: jnp.ndarray) -> jnp.ndarray:
        """pair [N_res, N_res, c_z], pair_mask [N_res, N_res] -> [N_res, N_res, c_z]."""
        if not self.starting_node:
            pair = jnp.swapaxes(pair, -2, -3)
            pair_mask = jnp.swapaxes(pair_mask, -1, -2)
        bias = (MASK_BIAS * (pair_mask - 1.0))[:, None, None, :]
        pair = layer_norm("query_norm")(pair)
        feat_2d_weights = hk.get_parameter(
            "feat_2d_weights",
            (pair.shape[-1], self.num_head),
            pair.dtype,
            hk.initializers.RandomNormal(stddev=1.0 / pair.shape[-1] ** 0.5),
        )
        triangle_bias = jnp.einsum("qkc,ch->hqk", pair, feat_2d_weights)
        attention = Attention(self.num_head, output_dim=pair.shape[-1])
        update = chunked(lambda p, b: attention(p, p, b, triangle_bias), self.chunk_size)(pair, bias)
        if not self.starting_node:
            update = jnp.swapaxes(update, -2, -3)
        return update


def pair_stack_block(
    pair: jnp.ndarray,
    pair_mask: jnp.ndarray,
    num_head: int,
    num_intermediate_channel: int,
    transition_factor: int,
    chunk_size: int | None,
) -> jnp.ndarray:
    """The pair half of an Evoformer block (Alg. 6 lines 6-10), in the order the template pair stack
    uses (Alg. 16): triangle attention first, then triangle multiplication, then the transition."""
    pair = pair + TriangleAttention(num_head, True, chunk_size, name="triangle_attention_starting_node")(pair, pair_mask)
    pair = pair + TriangleAttention(num_head, False, chunk_size, name="triangle_attention_ending_node")(pair, pair_mask)
    pair = pair + TriangleMultiplication(num_intermediate_channel, True, name="triangle_multiplication_outgoing")(
        pair, pair_mask
    )
    pair = pair + TriangleMultiplication(num_intermediate_channel, False, name="triangle_multiplication_incoming")(
        pair, pair_mask
    )
    pair = pair + Transition(transition_factor, chunk_size, name="pair_transition")(pair)
    return pair


class EvoformerIteration(hk.Module):
    """One block of the Evoformer stack (Suppl. Alg. 6) or, with `is_extra_msa`, of the extra-MSA stack
    (Suppl. Alg. 18, column attention replaced by global column attention)."""

    def __init__(
        self,
        config: EvoformerBlockConfig,
        is_extra_msa: bool,
        chunk_size: int | None = None,
        name: str = "evoformer_iteration",
    ):
        super().__init__(name=name)
        self.config = config
        self.is_extra_msa = is_extra_msa
        self.chunk_size = chunk_size

    def __call__(
        self, msa: jnp.ndarray, pair: jnp.ndarray, msa_mask: jnp.ndarray, pair_mask: jnp.ndarray
    ) -> tuple[jnp.ndarray, jnp.ndarray]:
        """msa [N_seq, N_res, c_m], pair [N_res, N_res, c_z], masks [N_seq, N_res], [N_res, N_res]."""
        c = self.config
        chunk = self.chunk_size
        msa = msa + MSARowAttentionWithPairBias(c.msa_row_num_head, chunk)(msa, msa_mask, pair)
        if self.is_extra_msa:
            msa = msa + MSAColumnGlobalAttention(c.msa_column_num_head, chunk)(msa, msa_mask)
        else:
            msa = msa + MSAColumnAttention(c.msa_column_num_head, chunk)(msa, msa_mask)
        msa = msa + Transition(c.msa_transition_factor, chunk, name="msa_transition")(msa)
        pair = pair + OuterProductMean(c.outer_product_channels, pair.shape[-1])(msa, msa_mask)
        num_c = c.triangle_multiplication_channels
        pair = pair + TriangleMultiplication(num_c, True, name="triangle_multiplication_outgoing")(pair, pair_mask)
        pair = pair + TriangleMultiplication(num_c, False, name="triangle_multiplication_incoming")(pair, pair_mask)
        num_head = c.triangle_attention_num_head
        pair = pair + TriangleAttention(num_head, True, chunk, name="triangle_attention_starting_node")(pair, pair_mask)
        pair = pair + TriangleAttention(num_head, False, chunk, name="triangle_attention_ending_node")(pair, pair_mask)
        pair = pair + Transition(c.pair_transition_factor, chunk, name="pair_transition")(pair)
        return msa, pair


def evoformer_stack(
    block: EvoformerIteration,
    num_blocks: int,
    msa: jnp.ndarray,
    pair: jnp.ndarray,
    msa_mask: jnp.ndarray,
    pair_mask: jnp.ndarray,
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Runs `block` `num_blocks` times with stacked parameters (Suppl. Alg. 6, Alg. 18)."""

    def step(carry):
        return block(carry[0], carry[1], msa_mask, pair_mask)

    return layer_stack(num_blocks, step, (msa, pair))
