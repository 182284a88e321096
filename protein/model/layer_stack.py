"""Repeated blocks with stacked parameters, as the official parameter files store them.

The parameters of a block repeated N times are one tensor per parameter with a leading axis N
(`evoformer_iteration/.../query_w` is [48, 256, 8, 32]). Blocks run one after the other in a `scan`, so the
compiled program holds one copy of the block, whatever N.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import haiku as hk
import jax
import jax.numpy as jnp

Carry = TypeVar("Carry")


class _LayerStackNoState(hk.Module):
    """Scope of the modules that a stacked function creates (the official files name it so)."""

    def __init__(self, num_layers: int, fn: Callable[[Carry], Carry]):
        super().__init__(name="__layer_stack_no_state")
        self.num_layers = num_layers
        self.fn = fn

    def __call__(self, carry: Carry) -> Carry:
        num_layers = self.num_layers

        def creator(next_creator, shape, dtype, init, context):
            del context

            def stacked_init(stacked_shape, stacked_dtype):
                return jnp.stack([init(stacked_shape[1:], stacked_dtype) for _ in range(num_layers)])

            return next_creator((num_layers,) + tuple(shape), dtype, stacked_init)

        def layer_getter(index):
            def getter(next_getter, value, context):
                del context
                return next_getter(jax.lax.dynamic_index_in_dim(value, index, keepdims=False))

            return getter

        if hk.running_init():
            # One call creates every layer's parameters (stacked by the creator). Calling `fn` again would create
            # its inner modules anew under suffixed names (`triangle_attention_starting_node_1`), which the
            # official files do not have; blocks keep the carry's shape, so one call also gives the right
            # output shape for whatever follows.
            with hk.custom_creator(creator, state=False), hk.custom_getter(layer_getter(0), state=False):
                return self.fn(carry)

        def body(carry, index):
            with hk.custom_getter(layer_getter(index), state=False):
                return self.fn(carry), None

        carry, _ = hk.scan(body, carry, jnp.arange(num_layers))
        return carry


def layer_stack(num_layers: int, fn: Callable[[Carry], Carry], carry: Carry) -> Carry:
    """Applies `fn` `num_layers` times to `carry`, each time with that layer's slice of the stacked parameters.

    Modules that `fn` creates are scoped under `__layer_stack_no_state`; modules created outside and called
    inside keep their own names (as the Evoformer's blocks do in the official files).
    """
    return _LayerStackNoState(num_layers, fn)(carry)
