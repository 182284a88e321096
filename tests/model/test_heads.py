"""Each output head of ours against the oracle's, with the same non-trivial random parameters."""

import haiku as hk
import jax
import numpy as np
import pytest

from protein.model import heads
from protein.model.config import preset_config
from tests.reference import (
    assert_params_equal_layout,
    random_params_for,
    reference_model_config,
    relative_error,
)

NUM_SEQ, NUM_RES, C_M, C_Z, C_S = 5, 11, 24, 16, 40
HEADS = preset_config("model_1_ptm").model.heads


def _reference():
    from alphafold.model import modules

    cfg = reference_model_config("model_1_ptm").model
    return modules, cfg.heads, cfg.global_config


def _compare(ours_fn, reference_fn, array, tolerance=1e-5):
    """Runs both on `array` with the oracle's parameters; returns both output dicts."""
    ours = hk.transform(ours_fn)
    reference = hk.transform(reference_fn)
    params = random_params_for(reference, array)
    assert_params_equal_layout(jax.eval_shape(ours.init, jax.random.PRNGKey(0), array), params)
    out_ours = ours.apply(params, None, array)
    out_ref = reference.apply(params, None, array)
    assert set(out_ours) == set(out_ref)
    for key in out_ref:
        a, b = np.asarray(out_ours[key]), np.asarray(out_ref[key])
        assert a.shape == b.shape, (key, a.shape, b.shape)
        error = relative_error(a, b)
        assert error <= tolerance, (key, error)
        assert np.std(b) > 1e-3, key  # the compared output is not trivially constant
    return out_ours, out_ref


def _array(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_distogram_head():
    modules, cfg, gc = _reference()
    out, _ = _compare(
        lambda pair: heads.DistogramHead(HEADS)(pair),
        lambda pair: modules.DistogramHead(cfg.distogram, gc)({"pair": pair}, None, is_training=False),
        _array(NUM_RES, NUM_RES, C_Z),
    )
    logits = np.asarray(out["logits"])
    assert logits.shape == (NUM_RES, NUM_RES, 64)
    np.testing.assert_array_equal(logits, np.swapaxes(logits, 0, 1))
    edges = np.asarray(out["bin_edges"])
    assert edges.shape == (63,)
    assert edges[0] == pytest.approx(2.3125) and edges[-1] == pytest.approx(21.6875)


def test_masked_msa_head():
    modules, cfg, gc = _reference()
    out, _ = _compare(
        lambda msa: heads.MaskedMsaHead(HEADS)(msa),
        lambda msa: modules.MaskedMsaHead(cfg.masked_msa, gc)({"msa": msa}, None, is_training=False),
        _array(NUM_SEQ, NUM_RES, C_M),
    )
    assert out["logits"].shape == (NUM_SEQ, NUM_RES, 23)


def test_predicted_lddt_head():
    modules, cfg, gc = _reference()
    out, _ = _compare(
        lambda act: heads.PredictedLDDTHead(HEADS)(act),
        lambda act: modules.PredictedLDDTHead(cfg.predicted_lddt, gc)(
            {"structure_module": act}, None, is_training=False
        ),
        _array(NUM_RES, C_S),
    )
    assert out["logits"].shape == (NUM_RES, 50)


def test_predicted_lddt_head_channels_from_config():
    """A narrow preset's channel count reaches the hidden layers (the `tiny` preset uses 16)."""
    tiny = preset_config("tiny").model.heads
    fn = hk.transform(lambda act: heads.PredictedLDDTHead(tiny)(act))
    shapes = jax.eval_shape(fn.init, jax.random.PRNGKey(0), _array(NUM_RES, C_S))
    assert shapes["predicted_lddt_head/act_0"]["weights"].shape == (C_S, 16)
    assert shapes["predicted_lddt_head/act_1"]["weights"].shape == (16, 16)
    assert shapes["predicted_lddt_head/logits"]["weights"].shape == (16, 50)


def test_experimentally_resolved_head():
    modules, cfg, gc = _reference()
    out, _ = _compare(
        lambda single: heads.ExperimentallyResolvedHead(HEADS)(single),
        lambda single: modules.ExperimentallyResolvedHead(cfg.experimentally_resolved, gc)(
            {"single": single}, None, is_training=False
        ),
        _array(NUM_RES, C_S),
    )
    assert out["logits"].shape == (NUM_RES, 37)


def test_predicted_aligned_error_head():
    modules, cfg, gc = _reference()
    out, _ = _compare(
        lambda pair: heads.PredictedAlignedErrorHead(HEADS)(pair),
        lambda pair: modules.PredictedAlignedErrorHead(cfg.predicted_aligned_error, gc)(
            {"pair": pair}, None, is_training=False
        ),
        _array(NUM_RES, NUM_RES, C_Z),
    )
    assert out["logits"].shape == (NUM_RES, NUM_RES, 64)
    breaks = np.asarray(out["breaks"])
    assert breaks.shape == (63,)
    assert breaks[0] == 0.0 and breaks[-1] == pytest.approx(31.0)
