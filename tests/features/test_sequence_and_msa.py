"""Sequence and MSA features compared with the oracle's `make_sequence_features` / `make_msa_features` on the real
jackhmmer and HHblits alignments of ../shared/data, plus hand-worked and bad-input cases."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from protein.errors import InputError
from protein.features.msa import build_msa_features, make_msa_features, species_identifier
from protein.features.sequence import make_sequence_features
from protein.io.types import Msa
from tests.features import oracle_data

pipeline = pytest.importorskip("alphafold.data.pipeline")


def _assert_features_equal(ours, oracle):
    assert list(ours) == list(oracle)
    for name, value in oracle.items():
        assert ours[name].dtype == value.dtype, name
        assert ours[name].shape == value.shape, name
        if value.dtype == np.object_:
            assert ours[name].tolist() == value.tolist(), name
        else:
            np.testing.assert_array_equal(ours[name], value, err_msg=name)


def _deduplicated(oracle_features):
    """The oracle's MSA features (its de-duplication is commented out) reduced to AlphaFold2's rows."""
    from alphafold.common import residue_constants

    rows = ["".join(residue_constants.ID_TO_HHBLITS_AA[i] for i in row) for row in oracle_features["msa"]]
    keep = oracle_data.first_occurrences(rows)
    reduced = {name: oracle_features[name][keep] for name in ("deletion_matrix_int", "msa")}
    reduced["num_alignments"] = np.full_like(oracle_features["num_alignments"], len(keep))
    reduced["msa_species_identifiers"] = oracle_features["msa_species_identifiers"][keep]
    return reduced


@pytest.mark.parametrize("target", oracle_data.TARGETS)
def test_sequence_features_equal_oracle(target):
    query = oracle_data.query_sequence(target)
    description = f"{target.upper()}_A some protein"
    ours = make_sequence_features(query, description, len(query))
    _assert_features_equal(ours, pipeline.make_sequence_features(query, description, len(query)))


def test_rare_letters_read_as_x_and_reported(caplog):
    sequence = "MKUOBZJXAC"
    with caplog.at_level(logging.WARNING, logger="protein.features.sequence"):
        ours = make_sequence_features(sequence, "rare", None)
    _assert_features_equal(ours, pipeline.make_sequence_features(sequence, "rare", len(sequence)))
    assert ours["aatype"][2:8].argmax(-1).tolist() == [20] * 6
    assert "'rare'" in caplog.text and "U3, O4, B5, Z6, J7" in caplog.text
    assert make_sequence_features("mkac", "lower")["sequence"].tolist() == [b"MKAC"]


def test_sequence_errors_name_the_record():
    with pytest.raises(InputError, match="'empty'"):
        make_sequence_features("", "empty")
    with pytest.raises(InputError, match="'star'"):
        make_sequence_features("MK*A", "star")
    with pytest.raises(InputError, match="'short'.*num_res=5"):
        make_sequence_features("MKA", "short", 5)


@pytest.mark.parametrize("target", oracle_data.TARGETS)
def test_msa_features_equal_oracle(target):
    query = oracle_data.query_sequence(target)
    oracle_msas = oracle_data.oracle_msas(target)
    in_af2_order = [oracle_msas[name] for name in ("uniref90", "bfd_uniclust", "mgnify") if name in oracle_msas]
    expected = _deduplicated(pipeline.make_msa_features(in_af2_order))
    # Given in another order, the alignments are still merged as UniRef90, BFD, MGnify.
    our_msas = oracle_data.our_msas(target)
    shuffled = {name: our_msas[name] for name in reversed(list(our_msas))}
    ours = build_msa_features(query, shuffled)
    _assert_features_equal(ours, expected)
    assert ours["msa"].shape[0] < sum(len(msa) for msa in in_af2_order)  # the query row, at least, repeats


def test_species_identifiers_from_uniprot_equal_oracle():
    from alphafold.data import parsers

    from protein.io.alignments import read_stockholm

    path = oracle_data.alignment_dir("2crb") / "uniprot_hits.sto.gz"
    expected = _deduplicated(pipeline.make_msa_features([parsers.parse_stockholm(oracle_data.read_text(path))]))
    ours = make_msa_features([read_stockholm(path)])
    _assert_features_equal(ours, expected)
    assert len({s for s in ours["msa_species_identifiers"].tolist() if s}) > 10


def test_species_identifier_hand_worked():
    assert species_identifier("tr|A0A146SKV9|A0A146SKV9_FUNHE/12-80 some protein") == "FUNHE"
    assert species_identifier("sp|P0C2L1|A3X1_LOXLA") == "LOXLA"
    assert species_identifier("tr|P0C2L1_1|A3X1_LOXLA_123") == "LOXLA"  # isoform and small-BFD suffixes
    assert species_identifier("UniRef90_Q9H5Z4/4-78") == ""
    assert species_identifier("tr|A0A1|A0A1_HUMAN") == ""  # accession too short
    assert species_identifier("") == ""


def test_duplicates_dropped_across_alignments_keeping_the_first():
    first = Msa(["ACD-", "AC-E", "ACD-"], [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 2, 0]], ["q", "tr|Q12345|X_HUMAN", "d"])
    second = Msa(["ACD-", "AC-E", "WC-E"], [[0] * 4, [0, 0, 0, 5], [1, 0, 0, 0]], ["q", "again", "sp|P12345|Y_MOUSE"])
    features = make_msa_features([first, second])
    assert features["msa"].tolist() == [[0, 1, 2, 21], [0, 1, 21, 3], [18, 1, 21, 3]]
    assert features["deletion_matrix_int"].tolist() == [[0, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]]
    assert features["num_alignments"].tolist() == [3] * 4
    assert features["msa_species_identifiers"].tolist() == [b"", b"HUMAN", b"MOUSE"]


def test_msa_errors():
    query = Msa(["ACDE"], [[0, 0, 0, 0]], ["q"])
    with pytest.raises(InputError, match="no MSA"):
        make_msa_features([])
    with pytest.raises(InputError, match="MSA 1 is empty"):
        make_msa_features([query, Msa([], [], [])])
    with pytest.raises(InputError, match="MSA 0 row 1 .*'short'.* 3 columns"):
        make_msa_features([Msa(["ACDE", "ACD"], [[0] * 4, [0] * 3], ["q", "short"])])
    with pytest.raises(InputError, match="row 1 has '.' at column 2"):
        make_msa_features([Msa(["ACDE", "A.DE"], [[0] * 4] * 2, ["q", "dot"])])
    with pytest.raises(InputError, match="unknown MSA database"):
        build_msa_features("ACDE", {"uniref100": query})
    with pytest.raises(InputError, match="mgnify alignment's first row is not the query"):
        build_msa_features("ACDF", {"mgnify": query})


def test_no_alignment_is_single_sequence_mode():
    features = build_msa_features("ACDE", {})
    assert features["msa"].tolist() == [[0, 1, 2, 3]]
    assert features["deletion_matrix_int"].tolist() == [[0, 0, 0, 0]]
    assert features["msa_species_identifiers"].tolist() == [b""]
