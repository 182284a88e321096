"""The whole network against the oracle: same non-trivial random parameters, same processed features.

Fast tests use the `tiny` preset (every module, narrow). The full-size presets are marked slow; one of them
also runs in CI (marker `ci`).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from protein.errors import InputError, ResourceError
from protein.model import runner
from protein.model.config import preset_config, replace
from protein.model.network import expected_param_shapes, initial_recycled_state, iteration_fn
from tests.model.inputs import (
    reference_cfg_for,
    ReferenceModel,
    first_slice,
    network_inputs,
    processed_features,
    raw_features,
)
from tests.reference import assert_params_equal_layout, relative_error


class Case:
    """A preset, its processed features, the oracle, and shared random parameters."""

    def __init__(self, preset, num_res, msa_depth, num_templates, num_recycle, seed=0):
        self.preset = preset
        self.num_recycle = num_recycle
        self.cfg = reference_cfg_for(preset, num_recycle)
        self.features = processed_features(self.cfg, raw_features(num_res, msa_depth, num_templates, seed), seed)
        self.reference = ReferenceModel(self.cfg)
        self.prev = initial_recycled_state(preset.model, num_res)
        self.params = self.reference.random_params(self.features, self.prev, seed=seed)


@pytest.fixture(scope="module")
def tiny():
    return Case(preset_config("tiny"), num_res=23, msa_depth=40, num_templates=2, num_recycle=2)


def _compare(ours: dict, reference: dict, tolerance: float) -> dict[str, float]:
    pairs = {
        "final_atom_positions": (ours["structure_module"]["final_atom_positions"], reference["structure_module"]["final_atom_positions"]),
        "structure_act": (ours["structure_module"]["act"], reference["representations"]["structure_module"]),
        "distogram": (ours["distogram"]["logits"], reference["distogram"]["logits"]),
        "masked_msa": (ours["masked_msa"]["logits"], reference["masked_msa"]["logits"]),
        "predicted_lddt": (ours["predicted_lddt"]["logits"], reference["predicted_lddt"]["logits"]),
        "experimentally_resolved": (
            ours["experimentally_resolved"]["logits"],
            reference["experimentally_resolved"]["logits"],
        ),
        "prev_msa_first_row": (ours["prev"]["prev_msa_first_row"], reference["prev"]["prev_msa_first_row"]),
        "prev_pair": (ours["prev"]["prev_pair"], reference["prev"]["prev_pair"]),
    }
    if "pae_matrix_with_logits" in reference:
        pairs["predicted_aligned_error"] = (
            ours["predicted_aligned_error"]["logits"],
            reference["pae_matrix_with_logits"]["logits"],
        )
    errors = {name: relative_error(a, b) for name, (a, b) in pairs.items()}
    bad = {name: e for name, e in errors.items() if not e <= tolerance}
    assert not bad, f"relative errors above {tolerance}: {bad}"
    return errors


def test_parameter_layout_equals_reference(tiny):
    assert_params_equal_layout(expected_param_shapes(tiny.preset), tiny.params)


def test_one_iteration_equals_reference(tiny):
    """One iteration from the same non-zero float32 recycled state (the oracle's own after one iteration)."""
    _, history = tiny.reference.run(tiny.params, tiny.features, tiny.prev, num_recycle=0)
    prev = {k: np.asarray(v, np.float32) for k, v in history[0]["prev"].items()}
    reference = tiny.reference.iteration(
        tiny.params, {k: v[1:2] for k, v in tiny.features.items()}, dict(prev)
    )
    ours = iteration_fn(tiny.preset.model).apply(
        tiny.params, {k: v[1] for k, v in network_inputs(tiny.features, tiny.preset).items()}, prev
    )
    _compare(jax.device_get(ours), reference, tolerance=1e-5)


def _whole_run_deviation(case: Case) -> dict[str, float]:
    reference, _ = case.reference.run(case.params, case.features, case.prev, num_recycle=case.num_recycle)
    ours = runner.run_network(case.params, network_inputs(case.features, case.preset), case.preset, case.num_recycle)
    mask = np.asarray(reference["structure_module"]["final_atom_mask"]) > 0
    np.testing.assert_array_equal(ours["final_atom_mask"] > 0, mask)
    delta = np.abs(ours["final_atom_positions"] - reference["structure_module"]["final_atom_positions"])
    deviation = {
        "max_position_delta": float(delta[mask].max()),
        "mean_plddt_delta": float(np.mean(np.abs(ours["plddt"] - reference["plddt"]))),
    }
    if case.preset.ptm:
        deviation["ptm_delta"] = abs(ours["ptm"] - float(reference["ptm"]))
        deviation["max_pae_delta"] = float(np.max(np.abs(ours["predicted_aligned_error"] - reference["predicted_aligned_error"])))
    print(case.preset.name, deviation)
    return deviation


def test_whole_run_equals_reference(tiny):
    deviation = _whole_run_deviation(tiny)
    assert deviation["max_position_delta"] <= 0.01
    assert deviation["mean_plddt_delta"] <= 0.01
    assert deviation["ptm_delta"] <= 1e-4


def test_run_without_any_template_skips_the_template_modules_and_equals_reference(tiny):
    """No template found (every template and template atom masked): our runner leaves the template modules out, the reference runs
    them on padding; the outputs agree as closely as the full run's, and as our own run with them in."""
    import copy

    case = copy.copy(tiny)  # the same inputs with every template masked: as the data pipeline pads "no template"
    case.num_recycle = 1
    case.features = dict(tiny.features)
    for name in ("template_mask", "template_all_atom_masks", "template_pseudo_beta_mask"):
        case.features[name] = np.zeros_like(np.asarray(tiny.features[name]))
    features = network_inputs(case.features, case.preset)
    assert not np.any(features["template_mask"])
    deviation = _whole_run_deviation(case)
    assert deviation["max_position_delta"] <= 0.01 and deviation["mean_plddt_delta"] <= 0.01
    assert deviation["ptm_delta"] <= 1e-4
    model = runner.Runner(case.preset, case.params)
    skipped = model.run(features, num_recycle=1)
    assert any("template_mask" not in {name for name, _, _ in key} for key in model._compiled)  # no templates ran
    full = model.run(features, num_recycle=1, skip_templates=False)
    assert np.max(np.abs(skipped.final_atom_positions - full.final_atom_positions)) <= 1e-4
    assert np.max(np.abs(skipped.plddt - full.plddt)) <= 1e-3 and abs(skipped.ptm - full.ptm) <= 1e-5


@pytest.mark.parametrize(
    "max_msa_clusters, max_extra_msa, msa_depth",
    [(96, 32, 40), (16, 96, 60)],
    ids=["clusters-trimmed", "extra-trimmed"],
)
def test_msa_trimmed_to_bucket_equals_full_padding(tiny, max_msa_clusters, max_extra_msa, msa_depth):
    """Features padded far past the real MSA depth (as AlphaFold2 pads to 512/5120 rows) give the same result
    trimmed to a depth bucket as run fully padded."""
    preset = replace(tiny.preset, {"data.max_msa_clusters": max_msa_clusters, "data.max_extra_msa": max_extra_msa})
    cfg = reference_cfg_for(preset, num_recycle=1)
    features = network_inputs(processed_features(cfg, raw_features(23, msa_depth, 2, seed=3), seed=3), preset)
    trimmed_batch = runner.trim_msa_depth(features, recycle_axis=True)
    name = "msa_feat" if max_msa_clusters > msa_depth else "extra_msa"
    assert trimmed_batch[name].shape[1] < features[name].shape[1]
    model = runner.Runner(preset, tiny.params)
    trimmed = model.run(features, num_recycle=1, trim_msa=True)
    padded = model.run(features, num_recycle=1, trim_msa=False)
    assert np.max(np.abs(trimmed.final_atom_positions - padded.final_atom_positions)) <= 1e-4
    assert np.max(np.abs(trimmed.plddt - padded.plddt)) <= 1e-3
    assert abs(trimmed.ptm - padded.ptm) <= 1e-5


def test_early_stopping_stops_when_structure_settles(tiny):
    model = runner.Runner(tiny.preset, tiny.params)
    features = network_inputs(tiny.features, tiny.preset)
    full = model.run(features, num_recycle=2)
    assert full.num_recycles == 2 and len(full.recycle_tolerances) == 2
    stopped = model.run(features, num_recycle=2, early_stop_tolerance=full.recycle_tolerances[0] + 1e-6)
    assert stopped.num_recycles == 1


def test_sequence_too_long_for_the_memory_fails_with_a_message(tiny, monkeypatch):
    """The compiled program's memory need is checked against what the device has before anything runs."""
    monkeypatch.setattr(runner, "_available_memory", lambda device: 1 << 20)  # a device with 1 MiB left
    model = runner.Runner(tiny.preset, tiny.params)
    with pytest.raises(ResourceError, match=r"23 residues needs about .* GiB .* has only 0\.0 GiB available"):
        model.run(network_inputs(tiny.features, tiny.preset), num_recycle=0)


def test_allocation_failure_becomes_a_resource_error():
    error = RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 81604378624 bytes.")
    with pytest.raises(ResourceError, match="out of device memory .* 2500 residues"):
        runner._raise_if_out_of_memory(error, 2500)
    runner._raise_if_out_of_memory(ValueError("something else"), 10)  # other errors are left to the caller


def test_missing_or_oversized_inputs_are_named(tiny):
    features = network_inputs(tiny.features, tiny.preset)
    model = runner.Runner(tiny.preset, tiny.params)
    with pytest.raises(InputError, match="template_mask"):
        model.run({k: v for k, v in features.items() if k != "template_mask"})
    five = {k: (np.concatenate([v] * 3, axis=1)[:, :5] if k.startswith("template_") else v) for k, v in features.items()}
    with pytest.raises(InputError, match="5 templates given, preset 'tiny' takes at most 4"):
        model.run(five)
    with pytest.raises(InputError, match="num_recycle must be >= 0"):
        model.run(features, num_recycle=-1)


def test_ca_distance_change_equals_reference():
    from alphafold.common import confidence

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 17, 37, 3)) * 10
    mask = (rng.random(17) > 0.2).astype(np.float32)
    expected = float(confidence.compute_tol(a, b, mask))
    assert runner.ca_distance_change(a, b, mask) == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [pytest.param("model_1_ptm", marks=pytest.mark.ci), "model_3_ptm"],
)
def test_full_size_whole_run_equals_reference(name):
    """Full-size presets, L = 60, MSA depth 40 (cluster/extra sizes shrunk in both configs), 2 recycles."""
    preset = replace(preset_config(name), {"data.max_msa_clusters": 32, "data.max_extra_msa": 64})
    case = Case(preset, num_res=60, msa_depth=40, num_templates=2 if preset.model.template.enabled else 0, num_recycle=2)
    deviation = _whole_run_deviation(case)
    assert deviation["max_position_delta"] <= 0.05
    assert deviation["mean_plddt_delta"] <= 0.1
    assert deviation["ptm_delta"] <= 1e-3
