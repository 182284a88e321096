"""Feature files: the oracle's own raw features (sequence, MSA, templates) survive a save/load round trip with their
dtypes, nothing is pickled, writes are atomic, and bad files raise InputError naming the file."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from protein.errors import InputError
from protein.features.sequence import make_sequence_features
from protein.features.store import load_features, save_features
from protein.features.templates import empty_template_features
from tests.features import oracle_data

pipeline = pytest.importorskip("alphafold.data.pipeline")


@pytest.fixture(scope="module")
def oracle_features(tmp_path_factory):
    """features.pkl contents as the oracle makes them for 4I6P (one template, 3ZEE), before processing."""
    from alphafold.data import templates

    query = oracle_data.query_sequence("4i6p")
    features = dict(pipeline.make_sequence_features(query, "4I6P_A", len(query)))
    msas = oracle_data.oracle_msas("4i6p")
    features.update(pipeline.make_msa_features([msas["uniref90"], msas["bfd_uniclust"], msas["mgnify"]]))
    hits = [hit for hit in oracle_data.oracle_hmmsearch_hits("4i6p", query) if hit.name == "3zee_A"]
    mirror = oracle_data.plain_mirror(tmp_path_factory.mktemp("mmcif"), {"3zee"})
    featurizer = templates.HmmsearchHitFeaturizer(
        mmcif_dir=str(mirror), max_template_date="2100-01-01", max_hits=20, kalign_binary_path="/nonexistent",
        release_dates_path=None, obsolete_pdbs_path=None)
    features.update(featurizer.get_templates(query_sequence=query, hits=hits).features)
    assert features["template_domain_names"].tolist() == [b"3zee_A"]
    return features


def _assert_same(loaded, expected):
    assert list(loaded) == list(expected)
    for name, value in expected.items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape, name
        if value.dtype == np.object_:
            assert loaded[name].tolist() == value.tolist(), name
        else:
            np.testing.assert_array_equal(loaded[name], value, err_msg=name)


def test_oracle_features_round_trip_without_pickle(oracle_features, tmp_path):
    path = save_features(tmp_path / "out" / "features.npz", oracle_features)
    with zipfile.ZipFile(path) as archive, np.load(path, allow_pickle=False) as raw:
        assert sorted(archive.namelist()) == sorted(f"{name}.npy" for name in oracle_features)
        assert raw["sequence"].dtype.kind == "S" and raw["msa_species_identifiers"].dtype.kind == "S"
    _assert_same(load_features(path), oracle_features)
    assert [p.name for p in path.parent.iterdir()] == ["features.npz"]  # no temporary left behind


def test_empty_templates_and_unsuffixed_path_round_trip(tmp_path):
    features = empty_template_features(7)
    path = save_features(tmp_path / "features", features)
    assert path == tmp_path / "features"
    _assert_same(load_features(path), features)


def test_failed_save_keeps_the_old_file(tmp_path):
    path = save_features(tmp_path / "features.npz", {"seq_length": np.array([3, 3, 3], np.int32)})
    with pytest.raises(ValueError, match="'domain_name'"):
        save_features(path, {"domain_name": np.array(["not bytes"], dtype=np.object_)})
    assert load_features(path)["seq_length"].tolist() == [3, 3, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["features.npz"]


def test_bad_files_raise_input_error_naming_them(tmp_path):
    features = {**make_sequence_features("MKTAYIAKQRQISFVKSHFSRQ", "query"), **empty_template_features(22)}
    good = save_features(tmp_path / "good.npz", features)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "text.npz"
    text.write_text("not numpy at all\n")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, domain_name=np.array([b"x"], dtype=np.object_))
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    for path in (truncated, text, pickled, single, tmp_path / "missing.npz"):
        with pytest.raises(InputError, match=path.name):
            load_features(path)
