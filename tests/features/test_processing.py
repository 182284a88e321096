"""The evaluation-time input pipeline against the oracle's `RunModel.process_features`.

The oracle draws its row orders and BERT masks from TensorFlow's Philox stream, which we do not reproduce. Its
two row shuffles (cluster sampling in `sample_msa`, the extra-MSA crop in `crop_extra_msa`) are therefore
replaced in the comparisons: by the identity (our `sample_msa=False`), or by the order our own sampler drew
(recovered from our output rows). Either is one possible outcome of the oracle's uniform shuffle, so every other
step (masks, profiles, clustering, features, padding) is compared exactly. Masking is compared with the
oracle's replace fraction at 0, and checked statistically (on both sides) when on.
"""

from __future__ import annotations

import contextlib
from unittest import mock

import numpy as np
import pytest

from protein.errors import InputError
from protein.features.processing import process_features
from protein.model import runner
from protein.model.config import preset_config, replace
from protein.model.network import expected_param_shapes
from tests.model.inputs import network_inputs, processed_features, raw_features, reference_cfg_for

NUM_RECYCLE = 2
# Each case: preset, residues, MSA depth, templates. Tiny: 12 cluster rows (16 less 4 templates), 32 extra rows.
CASES = {
    "tiny-extra-cropped": ("tiny", 23, 60, 2),  # 48 rows left after sampling: 16 dropped from the extra MSA
    "tiny-query-only": ("tiny", 23, 1, 2),
    "tiny-shallow-many-templates": ("tiny", 23, 6, 6),  # fewer rows than clusters; templates cut to 4
    "model_1": ("model_1", 30, 600, 3),  # full size: 508 cluster rows, 5120 extra rows, templates
    "model_3": ("model_3", 30, 600, 0),  # full size: 512 cluster rows, no templates
}


@pytest.fixture(scope="module")
def inputs():
    cache = {}

    def get(case):
        if case not in cache:
            name, num_res, depth, num_templates = CASES[case]
            cache[case] = (preset_config(name), raw_features(num_res, depth, num_templates, seed=1))
        return cache[case]

    return get


def _oracle_cfg(preset, num_recycle=NUM_RECYCLE, mask=False):
    cfg = reference_cfg_for(preset, num_recycle)
    if not mask:
        cfg.data.eval.masked_msa_replace_fraction = 0.0  # no position is selected (uniform < 0 never holds)
    return cfg


@contextlib.contextmanager
def oracle_row_orders(orders=None):
    """Within the block, the oracle's cluster-sampling shuffle returns orders[iteration][1:] (the identity when
    orders is None) and its extra-MSA crop shuffle keeps the order."""
    from alphafold.model.tf import np_backend

    def shuffle(value, seed=None, name=None):
        value = np.asarray(value)
        # sample_msa shuffles range(1, N_seq); crop_extra_msa shuffles range(0, N_extra).
        if orders is not None and value.size and value[0] == 1:
            # The oracle's map over recycling iterations records the iteration in this module global.
            return np.asarray(orders[np_backend._ensemble_iter][1:], value.dtype)
        return value.copy()

    with mock.patch.object(np_backend, "random_shuffle", shuffle):
        yield


def assert_features_equal(ours: dict, reference: dict) -> None:
    assert sorted(ours) == sorted(reference)
    for name, expected in reference.items():
        assert (ours[name].shape, ours[name].dtype) == (expected.shape, expected.dtype), name
        if name == "random_crop_to_size_seed":
            continue  # drawn from the oracle's own RNG stream, and read by nothing at evaluation
        np.testing.assert_array_equal(ours[name], expected, err_msg=name)


def _oracle_msa(raw) -> np.ndarray:
    """The raw MSA in our residue order, through the oracle's own table."""
    from alphafold.common import residue_constants

    return np.asarray(residue_constants.MAP_HHBLITS_AATYPE_TO_OUR_AATYPE, np.int32)[raw["msa"]]


def _row_key(residues: np.ndarray, deletion_value: np.ndarray) -> bytes:
    deletions = np.rint(3.0 * np.tan(deletion_value.astype(np.float64) * np.pi / 2))  # deletion_value inverted
    return residues.astype(np.int32).tobytes() + deletions.astype(np.int32).tobytes()


def _row_orders(ours: dict, raw) -> list[np.ndarray]:
    """Per iteration, the raw row indices our sampler put first: cluster centres, then the kept extra rows, then
    the rows that were dropped (in any order: they join clusters but are not in the output). Identical rows are
    interchangeable, so a row matches the first unused raw row equal to it."""
    msa = _oracle_msa(raw)
    deletion = np.asarray(raw["deletion_matrix_int"], np.float32)
    orders = []
    for r in range(ours["aatype"].shape[0]):
        unused: dict[bytes, list[int]] = {}
        for i in range(len(msa)):
            unused.setdefault(_row_key(msa[i], np.arctan(deletion[i] / 3) * 2 / np.pi), []).append(i)
        centres = ours["msa_row_mask"][r] > 0
        extra = ours["extra_msa_row_mask"][r] > 0
        keys = [_row_key(a, b) for a, b in zip(ours["true_msa"][r][centres], ours["msa_feat"][r][centres][..., 24])]
        keys += [_row_key(a, b) for a, b in zip(ours["extra_msa"][r][extra], ours["extra_deletion_value"][r][extra])]
        first = [unused[key].pop(0) for key in keys]
        orders.append(np.array(first + sorted(set(range(len(msa))) - set(first))))
    return orders


@pytest.mark.parametrize("case", list(CASES))
def test_equals_oracle_without_sampling_or_masking(inputs, case):
    preset, raw = inputs(case)
    ours = process_features(raw, preset, seed=0, num_recycle=NUM_RECYCLE, sample_msa=False, mask_msa=False)
    with oracle_row_orders(None):
        reference = processed_features(_oracle_cfg(preset), raw, seed=0)
    assert_features_equal(ours, reference)


@pytest.mark.parametrize("case", ["tiny-extra-cropped", "model_1"])
def test_sampled_rows_equal_oracle_given_the_same_order(inputs, case):
    """Sampling on, masking off: with the oracle's shuffle giving the rows our sampler chose, every feature,
    including the cluster profiles over the rows dropped from the extra MSA, is the oracle's."""
    preset, raw = inputs(case)
    ours = process_features(raw, preset, seed=5, num_recycle=3, mask_msa=False)
    orders = _row_orders(ours, raw)
    assert all(order[0] == 0 for order in orders)  # the query stays first
    assert len({order.tobytes() for order in orders}) == len(orders)  # one draw per iteration
    with oracle_row_orders(orders):
        reference = processed_features(_oracle_cfg(preset, num_recycle=3), raw, seed=5)
    assert_features_equal(ours, reference)


@pytest.mark.parametrize("case", ["tiny-extra-cropped", "model_1", "model_3"])
def test_sampled_and_masked_shapes_equal_oracle(inputs, case):
    preset, raw = inputs(case)
    ours = process_features(raw, preset, seed=3, num_recycle=NUM_RECYCLE)
    reference = processed_features(_oracle_cfg(preset, mask=True), raw, seed=3)
    assert sorted(ours) == sorted(reference)
    for name, expected in reference.items():
        assert (ours[name].shape, ours[name].dtype) == (expected.shape, expected.dtype), name


def _bert_statistics(features: dict, raw) -> None:
    """Selected fraction within 5 sigma of 0.15, and per token class, the replacements within 5 sigma of the
    expectation (Suppl. 1.2.7: 10% uniform amino acid, 10% from the column profile, 10% unchanged, 70% mask)."""
    msa = _oracle_msa(raw)
    profile = np.stack([np.bincount(column, minlength=22) for column in msa.T]) / len(msa)  # [N_res, 22]
    real = features["msa_mask"] > 0
    selected = (features["bert_mask"] > 0) & real
    fraction = selected.sum() / real.sum()
    assert abs(fraction - 0.15) <= 5 * np.sqrt(0.15 * 0.85 / real.sum()), fraction

    tokens = np.argmax(features["msa_feat"][..., :23], axis=-1)
    true = features["true_msa"]
    np.testing.assert_array_equal(tokens[real & ~selected], true[real & ~selected])
    column = np.broadcast_to(np.arange(true.shape[-1]), true.shape)[selected]
    probs = np.zeros((column.size, 23))
    probs[:, :20] += 0.1 / 20
    probs[:, :22] += 0.1 * profile[column]
    probs[np.arange(column.size), true[selected]] += 0.1
    probs[:, 22] += 0.7
    expected = probs.sum(axis=0)
    observed = np.bincount(tokens[selected], minlength=23)
    bound = 5 * np.sqrt(np.sum(probs * (1 - probs), axis=0)) + 1  # standard deviation of a sum of Bernoullis
    assert np.all(np.abs(observed - expected) <= bound), (observed, expected.round(1))
    # Kept unchanged, per position: the "same" share plus what the uniform and profile draws give back.
    same = probs[np.arange(column.size), true[selected]]
    kept = np.sum(tokens[selected] == true[selected])
    assert abs(kept - same.sum()) <= 5 * np.sqrt(np.sum(same * (1 - same))) + 1, (kept, same.sum())


@pytest.fixture(scope="module")
def deep_tiny():
    """508 cluster rows of 40 residues, 6 iterations: about 120,000 positions, 18,000 of them masked; enough to
    tell a 3% shift of any token's share."""
    preset = replace(preset_config("tiny"), {"data.max_msa_clusters": 512, "data.max_extra_msa": 64})
    return preset, raw_features(40, 600, 2, seed=2)


def test_masking_statistics(deep_tiny):
    preset, raw = deep_tiny
    _bert_statistics(process_features(raw, preset, seed=11, num_recycle=5), raw)


def test_oracle_masking_follows_the_same_law(deep_tiny):
    """The same check passes on the oracle's output: both draw from one distribution."""
    preset, raw = deep_tiny
    _bert_statistics(processed_features(_oracle_cfg(preset, num_recycle=5, mask=True), raw, seed=11), raw)


def test_deterministic_for_a_seed_and_different_across_seeds(inputs):
    preset, raw = inputs("tiny-extra-cropped")
    first = process_features(raw, preset, seed=7)
    again = process_features(raw, preset, seed=7)
    other = process_features(raw, preset, seed=8)
    assert first["aatype"].shape[0] == preset.data.num_recycle + 1
    for name in first:
        np.testing.assert_array_equal(first[name], again[name], err_msg=name)
    for name in ("msa_feat", "bert_mask", "true_msa", "extra_msa"):
        assert not np.array_equal(first[name], other[name]), name
        assert not np.array_equal(first[name][0], first[name][1]), name  # independent per iteration
    single = process_features(raw, replace(preset, {"data.resample_msa_in_recycling": False}), seed=7)
    assert single["msa_feat"].shape[0] == 1
    np.testing.assert_array_equal(single["msa_feat"][0], first["msa_feat"][0])


@pytest.mark.parametrize("sampling", [True, False])
def test_padding_residues_changes_nothing(inputs, sampling):
    preset, raw = inputs("tiny-extra-cropped")
    num_res = raw["aatype"].shape[0]
    plain = process_features(raw, preset, seed=4, sample_msa=sampling, mask_msa=sampling)
    padded = process_features(raw, preset, seed=4, num_res_padded=num_res + 9, sample_msa=sampling, mask_msa=sampling)
    assert padded["seq_mask"].shape[-1] == num_res + 9 and np.all(padded["seq_mask"][:, num_res:] == 0)
    for name, value in plain.items():
        grown = [axis for axis, (a, b) in enumerate(zip(value.shape, padded[name].shape)) if a != b]
        assert all(padded[name].shape[axis] == num_res + 9 for axis in grown), name
        back = padded[name][tuple(slice(0, n) for n in value.shape)]
        np.testing.assert_array_equal(back, value, err_msg=name)
        outside = np.ones(padded[name].shape, bool)
        outside[tuple(slice(0, n) for n in value.shape)] = False
        assert not np.any(padded[name][outside]), f"{name}: padding is not zero"


@pytest.mark.parametrize("empty_arrays", [False, True], ids=["no-template-keys", "zero-templates"])
def test_no_template_hits(inputs, empty_arrays):
    preset, _ = inputs("tiny-extra-cropped")
    raw = raw_features(23, 10, 0, seed=1)
    if empty_arrays:  # as the data pipeline writes a search without hits
        raw.update(
            template_aatype=np.zeros((0, 23, 22), np.float32),
            template_all_atom_positions=np.zeros((0, 23, 37, 3), np.float32),
            template_all_atom_masks=np.zeros((0, 23, 37), np.float32),
            template_sum_probs=np.zeros((0, 1), np.float32),
        )
    out = process_features(raw, preset, seed=0)
    assert out["template_mask"].shape == (2, 4) and not out["template_mask"].any()
    assert out["template_all_atom_positions"].shape == (2, 4, 23, 37, 3)
    assert out["template_aatype"].dtype == np.int32 and out["template_sum_probs"].shape == (2, 4, 1)


def test_bad_inputs_raise(inputs):
    preset, raw = inputs("tiny-extra-cropped")
    with pytest.raises(InputError, match="'msa'"):
        process_features({k: v for k, v in raw.items() if k != "msa"}, preset, seed=0)
    with pytest.raises(InputError, match="template_all_atom_masks"):
        process_features({k: v for k, v in raw.items() if k != "template_all_atom_masks"}, preset, seed=0)
    with pytest.raises(InputError, match="num_res_padded"):
        process_features(raw, preset, seed=0, num_res_padded=5)
    with pytest.raises(InputError, match="seed"):
        process_features(raw, preset, seed=-1)


def _random_params(preset, seed: int = 0) -> dict:
    """Seeded random parameters in our layout, scaled by fan-in like an initialiser, with non-trivial biases and
    layer norms. (Initialising the oracle's tiny model, as the network tests do, takes over a minute here.)"""
    rng = np.random.default_rng(seed)
    fan_in_axes = {"weights": (-2,), "feat_2d_weights": (-2,), "output_w": (-3, -2)}
    fan_in_axes.update({name: (-3,) for name in ("query_w", "key_w", "value_w", "gating_w")})
    params = {}
    for module, shapes in sorted(expected_param_shapes(preset).items()):
        params[module] = {}
        for name, shape in sorted(shapes.items()):
            noise = rng.standard_normal(shape)
            if name in fan_in_axes:
                value = noise / np.sqrt(np.prod([shape[axis] for axis in fan_in_axes[name]]))
            else:
                value = (1.0 if name == "scale" else 0.0) + 0.2 * noise
            params[module][name] = value.astype(np.float32)
    return params


def test_network_result_equals_oracle_features(inputs):
    """Our processed features and the oracle's (sampling and masking off on both sides) give one result through
    our runner with the same random tiny parameters."""
    preset, raw = inputs("tiny-extra-cropped")
    ours = process_features(raw, preset, seed=0, num_recycle=1, sample_msa=False, mask_msa=False)
    cfg = _oracle_cfg(preset, num_recycle=1)
    with oracle_row_orders(None):
        reference = processed_features(cfg, raw, seed=0)
    model = runner.Runner(preset, _random_params(preset))
    ours_result = model.run(network_inputs(ours, preset), num_recycle=1)
    reference_result = model.run(network_inputs(reference, preset), num_recycle=1)
    assert np.max(np.abs(ours_result.final_atom_positions - reference_result.final_atom_positions)) <= 1e-5
    assert np.max(np.abs(ours_result.plddt - reference_result.plddt)) <= 1e-4
    assert abs(ours_result.ptm - reference_result.ptm) <= 1e-6
    assert np.ptp(ours_result.final_atom_positions) > 1.0  # a real structure, not a degenerate one
