"""Each Evoformer module of ours against the oracle's, with the same non-trivial random parameters."""

import haiku as hk
import jax
import numpy as np
import pytest

from protein.model import evoformer
from protein.model.config import EvoformerBlockConfig
from tests.reference import (
    assert_params_equal_layout,
    random_params_for,
    reference_global_config,
    reference_model_config,
    relative_error,
    set_evoformer_block,
)

NUM_SEQ, NUM_RES, C_M, C_Z = 7, 13, 32, 16
BLOCK = EvoformerBlockConfig(
    msa_row_num_head=4,
    msa_column_num_head=4,
    msa_transition_factor=2,
    outer_product_channels=8,
    triangle_multiplication_channels=12,
    triangle_attention_num_head=2,
    pair_transition_factor=3,
)


def _reference_block_config():
    cfg = reference_model_config("model_1").model.embeddings_and_evoformer.evoformer
    set_evoformer_block(cfg, BLOCK)
    return cfg


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    msa = rng.standard_normal((NUM_SEQ, NUM_RES, C_M)).astype(np.float32)
    pair = rng.standard_normal((NUM_RES, NUM_RES, C_Z)).astype(np.float32)
    # Padded tail residues and a partly masked MSA, as after cropping and clustering.
    msa_mask = (rng.random((NUM_SEQ, NUM_RES)) > 0.2).astype(np.float32)
    msa_mask[:, -2:] = 0.0
    msa_mask[0] = 1.0
    msa_mask[0, -2:] = 0.0
    seq_mask = msa_mask[0]
    pair_mask = seq_mask[:, None] * seq_mask[None, :]
    return msa, pair, msa_mask, pair_mask


def _compare(ours_fn, reference_fn, args, tolerance=1e-5):
    ours = hk.transform(ours_fn)
    reference = hk.transform(reference_fn)
    params = random_params_for(reference, *args)
    assert_params_equal_layout(jax.eval_shape(ours.init, jax.random.PRNGKey(0), *args), params)
    out_ours = ours.apply(params, None, *args)
    out_ref = reference.apply(params, jax.random.PRNGKey(1), *args)
    for a, b in zip(jax.tree_util.tree_leaves(out_ours), jax.tree_util.tree_leaves(out_ref)):
        error = relative_error(a, b)
        assert error <= tolerance, error
        assert np.std(np.asarray(b)) > 1e-3  # the compared output is not trivially constant
    return out_ours


def _modules():
    from alphafold.model import modules

    return modules


def test_msa_row_attention_with_pair_bias():
    m, gc, cfg = _modules(), reference_global_config(), _reference_block_config()
    msa, pair, msa_mask, _ = _inputs()
    _compare(
        lambda a, b, c: evoformer.MSARowAttentionWithPairBias(BLOCK.msa_row_num_head)(a, b, c),
        lambda a, b, c: m.MSARowAttentionWithPairBias(cfg.msa_row_attention_with_pair_bias, gc)(
            a, b, pair_act=c, is_training=False
        ),
        (msa, msa_mask, pair),
    )


def test_msa_column_attention():
    m, gc, cfg = _modules(), reference_global_config(), _reference_block_config()
    msa, _, msa_mask, _ = _inputs()
    _compare(
        lambda a, b: evoformer.MSAColumnAttention(BLOCK.msa_column_num_head)(a, b),
        lambda a, b: m.MSAColumnAttention(cfg.msa_column_attention, gc)(a, b, is_training=False),
        (msa, msa_mask),
    )


def test_msa_column_global_attention():
    m, gc, cfg = _modules(), reference_global_config(), _reference_block_config()
    msa, _, msa_mask, _ = _inputs()
    _compare(
        lambda a, b: evoformer.MSAColumnGlobalAttention(BLOCK.msa_column_num_head)(a, b),
        lambda a, b: m.MSAColumnGlobalAttention(cfg.msa_column_attention, gc)(a, b, is_training=False),
        (msa, msa_mask),
    )


def test_transition():
    m, gc, cfg = _modules(), reference_global_config(), _reference_block_config()
    msa, _, msa_mask, _ = _inputs()
    _compare(
        lambda a, b: evoformer.Transition(BLOCK.msa_transition_factor, name="msa_transition")(a),
        lambda a, b: m.Transition(cfg.msa_transition, gc, name="msa_transition")(a, b, is_training=False),
        (msa, msa_mask),
    )


def test_outer_product_mean():
    m, gc, cfg = _modules(), reference_global_config(), _reference_block_config()
    msa, _, msa_mask, _ = _inputs()
    _compare(
        lambda a, b: evoformer.OuterProductMean(BLOCK.outer_product_channels, C_Z)(a, b),
        lambda a, b: m.OuterProductMean(cfg.outer_product_mean, gc, num_output_channel=C_Z)(a, b, is_training=False),
        (msa, msa_mask),
    )


@pytest.mark.parametrize("outgoing", [True, False])
def test_triangle_multiplication(outgoing):
    m, gc, cfg = _modules(), reference_global_config(), _reference_block_config()
    _, pair, _, pair_mask = _inputs()
    name = "triangle_multiplication_outgoing" if outgoing else "triangle_multiplication_incoming"
    _compare(
        lambda a, b: evoformer.TriangleMultiplication(BLOCK.triangle_multiplication_channels, outgoing, name=name)(a, b),
        lambda a, b: m.TriangleMultiplication(cfg[name], gc, name=name)(a, b, is_training=False),
        (pair, pair_mask),
    )


@pytest.mark.parametrize("starting_node", [True, False])
def test_triangle_attention(starting_node):
    m, gc, cfg = _modules(), reference_global_config(), _reference_block_config()
    _, pair, _, pair_mask = _inputs()
    name = "triangle_attention_starting_node" if starting_node else "triangle_attention_ending_node"
    _compare(
        lambda a, b: evoformer.TriangleAttention(BLOCK.triangle_attention_num_head, starting_node, name=name)(a, b),
        lambda a, b: m.TriangleAttention(cfg[name], gc, name=name)(a, b, is_training=False),
        (pair, pair_mask),
    )


@pytest.mark.parametrize("is_extra_msa", [False, True])
def test_evoformer_stack(is_extra_msa):
    """Three stacked blocks with per-layer parameters, as the Evoformer and extra-MSA stacks run them."""
    from alphafold.model import layer_stack as reference_layer_stack

    m, gc, cfg = _modules(), reference_global_config(), _reference_block_config()
    msa, pair, msa_mask, pair_mask = _inputs()
    name = "extra_msa_stack" if is_extra_msa else "evoformer_iteration"
    num_blocks = 3

    def ours(a, b, c, d):
        block = evoformer.EvoformerIteration(BLOCK, is_extra_msa, name=name)
        return evoformer.evoformer_stack(block, num_blocks, a, b, c, d)

    def reference(a, b, c, d):
        block = m.EvoformerIteration(cfg, gc, is_extra_msa=is_extra_msa, name=name)

        def step(act):
            out = block(act, {"msa": c, "pair": d}, is_training=False)
            return out

        out = reference_layer_stack.layer_stack(num_blocks)(step)({"msa": a, "pair": b})
        return out["msa"], out["pair"]

    params_ours = _compare(ours, reference, (msa, pair, msa_mask, pair_mask), tolerance=2e-5)
    assert params_ours is not None
