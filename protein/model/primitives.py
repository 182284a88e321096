"""Building blocks shared by every part of the network: linear layers, layer norm, attention.

Parameter names follow the official AlphaFold2 parameter files (`weights`/`bias` for linear layers,
`scale`/`offset` for layer norms, `query_w`... for attention) so that those files load with no renaming.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import haiku as hk
import jax
import jax.numpy as jnp

# Added to attention logits at masked positions. Large enough that softmax gives them exactly zero weight in
# float32, as in the published model.
MASK_BIAS = 1e9


def layer_norm(name: str) -> hk.LayerNorm:
    """Layer norm over the last axis with a learnt scale and offset (epsilon 1e-5, as published)."""
    return hk.LayerNorm(axis=-1, create_scale=True, create_offset=True, eps=1e-5, name=name)


class Linear(hk.Module):
    """Affine map of the trailing `num_input_dims` axes to `output_shape`.

    Parameters: `weights` [*input_shape, *output_shape] and `bias` [*output_shape].
    """

    def __init__(
        self,
        output_shape: int | Sequence[int],
        num_input_dims: int = 1,
        use_bias: bool = True,
        name: str = "linear",
    ):
        super().__init__(name=name)
        self.output_shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        self.num_input_dims = num_input_dims
        self.use_bias = use_bias

    def __call__(self, inputs: jnp.ndarray) -> jnp.ndarray:
        n_in, n_out = self.num_input_dims, len(self.output_shape)
        input_shape = tuple(inputs.shape[-n_in:]) if n_in > 0 else ()
        fan_in = max(1, math.prod(input_shape))
        weights = hk.get_parameter(
            "weights",
            input_shape + self.output_shape,
            inputs.dtype,
            init=hk.initializers.TruncatedNormal(stddev=1.0 / math.sqrt(fan_in)),
        )
        in_letters = "abcde"[:n_in]
        out_letters = "hijkl"[:n_out]
        output = jnp.einsum(f"...{in_letters},{in_letters}{out_letters}->...{out_letters}", inputs, weights)
        if self.use_bias:
            bias = hk.get_parameter("bias", self.output_shape, inputs.dtype, init=jnp.zeros)
            output = output + bias
        return output


def chunked(fn: Callable, chunk_size: int | None, num_batch_dims: int = 1) -> Callable:
    """Applies `fn` to slices of `chunk_size` along the leading axis of every argument, to bound memory.

    `fn` must treat the leading axis as an independent batch axis. With `chunk_size=None` (or not smaller
    than the axis) `fn` runs once on the whole input. Parameters created inside `fn` are shared across
    chunks, so chunking never changes the parameter tree or the result.
    """
    del num_batch_dims  # The leading axis is always the batch axis here.

    def apply(*args):
        size = args[0].shape[0]
        if chunk_size is None or chunk_size >= size:
            return fn(*args)
        num_chunks = -(-size // chunk_size)
        padded = num_chunks * chunk_size

        def split(x):
            x = jnp.pad(x, [(0, padded - size)] + [(0, 0)] * (x.ndim - 1))
            return x.reshape((num_chunks, chunk_size) + x.shape[1:])

        def body(chunk_args):
            return fn(*chunk_args)

        if hk.running_init():
            # Parameters are created by one call at the full chunk shape.
            out = fn(*[split(a)[0] for a in args])
            return jax.tree_util.tree_map(
                lambda o: jnp.zeros((size,) + o.shape[1:], o.dtype), out
            )
        out = hk.map(body, tuple(split(a) for a in args))
        return jax.tree_util.tree_map(lambda o: o.reshape((padded,) + o.shape[2:])[:size], out)

    return apply


class Attention(hk.Module):
    """Multi-head attention with an optional sigmoid gate (Jumper et al. 2021, Suppl. Alg. 7, 13, 14).

    Parameters: `query_w` [c_q, h, d_k], `key_w` / `value_w` [c_m, h, d_k|d_v], `gating_w` [c_q, h, d_v],
    `gating_b` [h, d_v], `output_w` [h, d_v, c_out], `output_b` [c_out].
    """

    def __init__(
        self,
        num_head: int,
        output_dim: int,
        key_dim: int | None = None,
        value_dim: int | None = None,
        gating: bool = True,
        name: str = "attention",
    ):
        super().__init__(name=name)
        self.num_head = num_head
        self.output_dim = output_dim
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.gating = gating

    def __call__(
        self,
        q_data: jnp.ndarray,
        m_data: jnp.ndarray,
        bias: jnp.ndarray,
        nonbatched_bias: jnp.ndarray | None = None,
    ) -> jnp.ndarray:
        """q_data [B, Q, c_q], m_data [B, K, c_m], bias broadcastable to [B, h, Q, K],
        nonbatched_bias [h, Q, K] -> [B, Q, c_out]."""
        num_head = self.num_head
        key_dim = (self.key_dim or q_data.shape[-1]) // num_head
        value_dim = (self.value_dim or m_data.shape[-1]) // num_head
        glorot = hk.initializers.VarianceScaling(1.0, "fan_avg", "uniform")

        query_w = hk.get_parameter("query_w", (q_data.shape[-1], num_head, key_dim), q_data.dtype, glorot)
        key_w = hk.get_parameter("key_w", (m_data.shape[-1], num_head, key_dim), q_data.dtype, glorot)
        value_w = hk.get_parameter("value_w", (m_data.shape[-1], num_head, value_dim), q_data.dtype, glorot)

        q = jnp.einsum("bqa,ahc->bqhc", q_data, query_w) * key_dim ** (-0.5)
        k = jnp.einsum("bka,ahc->bkhc", m_data, key_w)
        v = jnp.einsum("bka,ahc->bkhc", m_data, value_w)
        logits = jnp.einsum("bqhc,bkhc->bhqk", q, k) + bias
        if nonbatched_bias is not None:
            logits = logits + nonbatched_bias[None]
        weights = jax.nn.softmax(logits)
        weighted_avg = jnp.einsum("bhqk,bkhc->bqhc", weights, v)

        if self.gating:
            gating_w = hk.get_parameter(
                "gating_w", (q_data.shape[-1], num_head, value_dim), q_data.dtype, glorot
            )
            gating_b = hk.get_parameter("gating_b", (num_head, value_dim), q_data.dtype, jnp.ones)
            gate = jax.nn.sigmoid(jnp.einsum("bqc,chv->bqhv", q_data, gating_w) + gating_b)
            weighted_avg = weighted_avg * gate

        output_w = hk.get_parameter("output_w", (num_head, value_dim, self.output_dim), q_data.dtype, glorot)
        output_b = hk.get_parameter("output_b", (self.output_dim,), q_data.dtype, jnp.zeros)
        return jnp.einsum("bqhc,hco->bqo", weighted_avg, output_w) + output_b


class GlobalAttention(hk.Module):
    """Gated attention with one query per column, the masked mean of its rows (Suppl. Alg. 19).

    Parameters: `query_w` [c, h, d], `key_w` / `value_w` [c, d] (shared by all heads), `gating_w`
    [c, h, d], `gating_b` [h, d], `output_w` [h, d, c_out], `output_b` [c_out].
    """

    def __init__(self, num_head: int, output_dim: int, gating: bool = True, name: str = "attention"):
        super().__init__(name=name)
        self.num_head = num_head
        self.output_dim = output_dim
        self.gating = gating

    def __call__(self, q_data: jnp.ndarray, m_data: jnp.ndarray, q_mask: jnp.ndarray) -> jnp.ndarray:
        """q_data, m_data [B, S, c], q_mask [B, S, 1] -> [B, S, c_out] (B: columns, S: sequences)."""
        num_head = self.num_head
        key_dim = q_data.shape[-1] // num_head
        value_dim = m_data.shape[-1] // num_head
        glorot = hk.initializers.VarianceScaling(1.0, "fan_avg", "uniform")

        query_w = hk.get_parameter("query_w", (q_data.shape[-1], num_head, key_dim), q_data.dtype, glorot)
        key_w = hk.get_parameter("key_w", (m_data.shape[-1], key_dim), q_data.dtype, glorot)
        value_w = hk.get_parameter("value_w", (m_data.shape[-1], value_dim), q_data.dtype, glorot)

        v = jnp.einsum("bka,ac->bkc", m_data, value_w)
        q_avg = masked_mean(q_mask, q_data, axis=1)
        q = jnp.einsum("ba,ahc->bhc", q_avg, query_w) * key_dim ** (-0.5)
        k = jnp.einsum("bka,ac->bkc", m_data, key_w)
        bias = MASK_BIAS * (q_mask[:, None, :, 0] - 1.0)
        logits = jnp.einsum("bhc,bkc->bhk", q, k) + bias
        weights = jax.nn.softmax(logits)
        weighted_avg = jnp.einsum("bhk,bkc->bhc", weights, v)

        output_w = hk.get_parameter("output_w", (num_head, value_dim, self.output_dim), q_data.dtype, glorot)
        output_b = hk.get_parameter("output_b", (self.output_dim,), q_data.dtype, jnp.zeros)
        if self.gating:
            gating_w = hk.get_parameter(
                "gating_w", (q_data.shape[-1], num_head, value_dim), q_data.dtype, glorot
            )
            gating_b = hk.get_parameter("gating_b", (num_head, value_dim), q_data.dtype, jnp.ones)
            gate = jax.nn.sigmoid(jnp.einsum("bqc,chv->bqhv", q_data, gating_w) + gating_b)
            weighted_avg = weighted_avg[:, None] * gate
            return jnp.einsum("bqhc,hco->bqo", weighted_avg, output_w) + output_b
        output = jnp.einsum("bhc,hco->bo", weighted_avg, output_w) + output_b
        return output[:, None]


def masked_mean(mask: jnp.ndarray, value: jnp.ndarray, axis, eps: float = 1e-10) -> jnp.ndarray:
    """Mean of `value` over `axis` counting only positions where `mask` (broadcastable) is 1."""
    mask = jnp.broadcast_to(mask, value.shape)
    return jnp.sum(mask * value, axis=axis) / (jnp.sum(mask, axis=axis) + eps)
