"""pLDDT, PAE and pTM against the oracle (`alphafold.common.confidence`) on random logits; the JSON files
against hand-worked documents."""

import json

import numpy as np
import pytest

from protein import confidence

NUM_RES = 23
PAE_BREAKS = np.linspace(0.0, 31.0, 63)  # the released models' `PredictedAlignedErrorHead` breaks


def _oracle():
    return pytest.importorskip("alphafold.common.confidence")


def _logits(*shape, seed=0, scale=3.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def test_plddt_matches_oracle():
    logits = _logits(NUM_RES, 50)
    ours = confidence.plddt(logits)
    reference = _oracle().compute_plddt(logits)
    assert ours.shape == (NUM_RES,)
    np.testing.assert_allclose(ours, reference, rtol=1e-6)
    assert np.all((ours > 0) & (ours < 100))


def test_plddt_hand_worked():
    # All mass on the top bin of 50: its centre is 0.99; uniform logits give the mean 0.5.
    logits = np.full((2, 50), -1e4, np.float32)
    logits[0, -1] = 0.0
    logits[1] = 0.0
    np.testing.assert_allclose(confidence.plddt(logits), [99.0, 50.0], rtol=1e-9)


def test_predicted_aligned_error_matches_oracle():
    logits = _logits(NUM_RES, NUM_RES, 64, seed=1)
    pae, max_pae = confidence.predicted_aligned_error(logits, PAE_BREAKS)
    reference = _oracle().compute_predicted_aligned_error(logits, PAE_BREAKS)
    assert pae.shape == (NUM_RES, NUM_RES)
    np.testing.assert_allclose(pae, reference["predicted_aligned_error"], rtol=1e-6)
    assert max_pae == pytest.approx(float(reference["max_predicted_aligned_error"]))
    assert max_pae == pytest.approx(31.75)


def test_predicted_tm_score_matches_oracle():
    logits = _logits(NUM_RES, NUM_RES, 64, seed=2)
    ours = confidence.predicted_tm_score(logits, PAE_BREAKS)
    reference = float(_oracle().predicted_tm_score(logits, PAE_BREAKS))
    assert 0.0 < ours < 1.0
    assert ours == pytest.approx(reference, rel=1e-6)


@pytest.mark.parametrize("num_real", [5, 17, 21])
def test_predicted_tm_score_ignores_padding(num_real):
    """Padded residues (weight 0) leave the score as if the chain had only its real residues; the d0 clip at
    19 residues is exercised by the short chains."""
    logits = _logits(NUM_RES, NUM_RES, 64, seed=3)
    weights = np.zeros(NUM_RES, np.float32)
    weights[:num_real] = 1.0
    ours = confidence.predicted_tm_score(logits, PAE_BREAKS, residue_weights=weights)
    reference = float(_oracle().predicted_tm_score(logits, PAE_BREAKS, residue_weights=weights))
    assert ours == pytest.approx(reference, rel=1e-6)
    unpadded = confidence.predicted_tm_score(logits[:num_real, :num_real], PAE_BREAKS)
    assert ours == pytest.approx(unpadded, rel=1e-6)
    # Garbage in the padding changes nothing.
    noisy = logits.copy()
    noisy[num_real:] = _logits(NUM_RES - num_real, NUM_RES, 64, seed=4, scale=10.0)
    noisy[:, num_real:] = 0.0
    assert confidence.predicted_tm_score(noisy, PAE_BREAKS, residue_weights=weights) == pytest.approx(ours, rel=1e-9)


def test_predicted_tm_score_fractional_weights_match_oracle():
    logits = _logits(NUM_RES, NUM_RES, 64, seed=5)
    weights = np.random.default_rng(6).random(NUM_RES)
    ours = confidence.predicted_tm_score(logits, PAE_BREAKS, residue_weights=weights)
    reference = float(_oracle().predicted_tm_score(logits, PAE_BREAKS, residue_weights=weights))
    assert ours == pytest.approx(reference, rel=1e-6)


def test_predicted_tm_score_hand_worked():
    # All mass in the first bin (centre 0.25 A) for every pair of 30 residues: d0 = 1.24 * 15^(1/3) - 1.8.
    num_res = 30
    logits = np.full((num_res, num_res, 64), -1e4, np.float32)
    logits[..., 0] = 0.0
    d0 = 1.24 * 15 ** (1 / 3) - 1.8
    expected = 1.0 / (1.0 + (0.25 / d0) ** 2)
    assert confidence.predicted_tm_score(logits, PAE_BREAKS) == pytest.approx(expected, rel=1e-6)


def test_predicted_tm_score_rejects_wrong_weight_shape():
    with pytest.raises(ValueError, match="residue_weights"):
        confidence.predicted_tm_score(_logits(4, 4, 64), PAE_BREAKS, residue_weights=np.ones(5))


def test_pae_json_hand_worked():
    # The AlphaFold notebook's own worked example.
    pae = np.array([[0.01, 13.12345], [20.0987, 0.0]])
    assert confidence.pae_json(pae, 31.75) == (
        '[{"predicted_aligned_error":[[0.0,13.1],[20.1,0.0]],"max_predicted_aligned_error":31.75}]'
    )
    assert confidence.pae_json(pae, 31.75, decimals=0) == (
        '[{"predicted_aligned_error":[[0,13],[20,0]],"max_predicted_aligned_error":31.75}]'
    )


def test_pae_json_of_predicted_pae_is_valid_json():
    pae, max_pae = confidence.predicted_aligned_error(_logits(4, 4, 64), PAE_BREAKS)
    document = json.loads(confidence.pae_json(pae, max_pae))
    assert len(document) == 1
    np.testing.assert_allclose(document[0]["predicted_aligned_error"], pae, atol=0.05 + 1e-9)
    assert document[0]["max_predicted_aligned_error"] == 31.75


def test_pae_json_rejects_non_square():
    with pytest.raises(ValueError, match="square"):
        confidence.pae_json(np.zeros((2, 3)), 31.75)


def test_confidence_json_hand_worked():
    plddt = np.array([49.999, 50.0, 69.994, 70.0, 89.996, 90.0, 100.0, 0.0])
    assert json.loads(confidence.confidence_json(plddt)) == {
        "residueNumber": [1, 2, 3, 4, 5, 6, 7, 8],
        "confidenceScore": [50.0, 50.0, 69.99, 70.0, 90.0, 90.0, 100.0, 0.0],
        "confidenceCategory": ["D", "L", "L", "M", "M", "H", "H", "D"],
    }
    assert " " not in confidence.confidence_json(plddt)


def test_confidence_json_rejects_out_of_range():
    with pytest.raises(ValueError, match="outside"):
        confidence.confidence_json(np.array([50.0, 100.5]))
