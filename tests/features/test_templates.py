"""Template features compared with the oracle's HmmsearchHitFeaturizer / HhsearchHitFeaturizer on real hmmsearch
and HHsearch output with the real mmCIF mirror of ../shared/data, plus hand-worked prefilter, mapping and failure
cases. The oracle is given AlphaFold2's prefilter and SEQRES table back (see tests/features/oracle_data.py)."""

from __future__ import annotations

import datetime
import sys
from dataclasses import replace

import numpy as np
import pytest

from protein.errors import InputError
from protein.features import templates
from protein.features.template_alignment import query_to_hit_mapping
from protein.io.hits import read_hhr
from protein.io.types import TemplateHit
from tests.features import oracle_data

pytest.importorskip("alphafold.data.templates")

NO_KALIGN = "/nonexistent/kalign"
FAR_FUTURE = "2100-01-01"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    return oracle_data.plain_mirror(tmp_path_factory.mktemp("mmcif"))


def _available(hits, mirror):
    """The hits whose entry is in the mirror (the oracle stops at the first missing file)."""
    return [hit for hit in hits if (mirror / f"{hit.name[:4].lower()}.cif").exists()]


def _oracle_templates(kind, mirror, query, hits, max_template_date=FAR_FUTURE, kalign=NO_KALIGN, **kwargs):
    with oracle_data.upstream_prefilter() as oracle, oracle_data.upstream_seqres_table():
        featurizer_class = oracle.HmmsearchHitFeaturizer if kind == "hmmsearch" else oracle.HhsearchHitFeaturizer
        featurizer = featurizer_class(
            mmcif_dir=str(mirror), max_template_date=max_template_date, max_hits=kwargs.get("max_hits", 20),
            kalign_binary_path=kalign, release_dates_path=None, obsolete_pdbs_path=None,
        )
        return featurizer.get_templates(query_sequence=query, hits=hits)


def _assert_features_equal(ours, oracle):
    assert set(ours) == set(oracle)
    for name, value in oracle.items():
        assert ours[name].dtype == value.dtype, name
        if value.dtype == np.object_:
            assert ours[name].tolist() == value.tolist(), name
        else:
            np.testing.assert_array_equal(ours[name], value, err_msg=name)


@pytest.mark.parametrize("target", ["2crb", "3zee", "4i6p", "4zey", "5kc1", "3u8v"])
def test_hmmsearch_hits_equal_oracle(target, mirror):
    query = oracle_data.query_sequence(target)
    oracle_hits = _available(oracle_data.oracle_hmmsearch_hits(target, query), mirror)
    oracle = _oracle_templates("hmmsearch", mirror, query, oracle_hits)
    our_hits = _available(oracle_data.our_hmmsearch_hits(target, query), mirror)
    ours = templates.TemplateFeaturizer(oracle_data.mmcif_dir(), FAR_FUTURE, searcher="hmmsearch").get_templates(
        query, our_hits)
    if target in ("2crb", "4i6p", "4zey", "5kc1"):  # the mirror holds a homologue that is not a duplicate
        assert len(ours.features["template_domain_names"]) > 0
    if oracle.features["template_sum_probs"].shape[0] == 1 and not oracle.features["template_sequence"][0]:
        # The oracle's hmmsearch featuriser returns one all-zero template when it finds none; we return none.
        assert ours.features["template_aatype"].shape == (0, len(query), 22)
        return
    _assert_features_equal(ours.features, oracle.features)


def test_hhsearch_hits_equal_oracle(mirror):
    from alphafold.data import parsers

    folder = oracle_data.require("msas/openfold/3u8v_A_short_query")  # 3U8V-like query, HHR against pdb70
    query = oracle_data.read_text(folder / "short.fasta").splitlines()[1].strip()
    oracle_hits = _available(parsers.parse_hhr(oracle_data.read_text(folder / "pdb70_hits.hhr.gz")), mirror)
    oracle = _oracle_templates("hhsearch", mirror, query, oracle_hits)
    our_hits = _available(read_hhr(folder / "pdb70_hits.hhr.gz"), mirror)
    ours = templates.TemplateFeaturizer(oracle_data.mmcif_dir(), FAR_FUTURE, searcher="hhsearch").get_templates(
        query, our_hits)
    assert len(ours.features["template_domain_names"]) >= 4
    _assert_features_equal(ours.features, oracle.features)


def test_date_cutoff_and_max_hits_equal_oracle(mirror):
    query = oracle_data.query_sequence("2crb")
    oracle_hits = _available(oracle_data.oracle_hmmsearch_hits("2crb", query), mirror)
    our_hits = _available(oracle_data.our_hmmsearch_hits("2crb", query), mirror)
    for date, max_hits in (("2016-10-01", 20), (FAR_FUTURE, 2)):  # 5KC1 was released 2016-10-05, 4ZEY 2015
        oracle = _oracle_templates("hmmsearch", mirror, query, oracle_hits, max_template_date=date,
                                   max_hits=max_hits)
        ours = templates.TemplateFeaturizer(oracle_data.mmcif_dir(), date, max_hits=max_hits).get_templates(
            query, our_hits)
        _assert_features_equal(ours.features, oracle.features)
    strict = templates.TemplateFeaturizer(oracle_data.mmcif_dir(), "2016-10-01", strict_error_check=True)
    errors = strict.get_templates(query, our_hits).errors
    assert any("2crb_A" in error and "subsequence of the query" in error for error in errors)
    assert any("5kc1" in error and "max template date" in error for error in errors)
    early = templates.TemplateFeaturizer(oracle_data.mmcif_dir(), "2015-01-01").get_templates(query, our_hits)
    assert all(not name.startswith((b"5kc1", b"4zey")) for name in early.features["template_domain_names"])


def test_repeated_template_kept_by_hhsearch_only_as_oracle(mirror):
    query = oracle_data.query_sequence("2crb")
    hit = next(h for h in oracle_data.oracle_hmmsearch_hits("2crb", query) if h.name == "4zey_A")
    twice = [replace(hit, sum_probs=5.0), replace(hit, index=hit.index + 1, sum_probs=3.0)]
    for searcher, expected in (("hmmsearch", 1), ("hhsearch", 2)):
        oracle = _oracle_templates(searcher, mirror, query, twice)
        ours = templates.TemplateFeaturizer(oracle_data.mmcif_dir(), FAR_FUTURE, searcher=searcher).get_templates(
            query, [oracle_data.to_hit(h) for h in twice])
        assert len(ours.features["template_domain_names"]) == expected
        _assert_features_equal(ours.features, oracle.features)


_KALIGN_STAND_IN = f"""#!{sys.executable}
# Stand-in for Kalign 2: a global pairwise alignment with Kalign's command line (-i IN -o OUT -format fasta).
import datetime
import sys
from dataclasses import replace
from Bio import Align
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
names, seqs = [], []
for line in open(args["-i"]):
    line = line.strip()
    if line.startswith(">"):
        names.append(line[1:]); seqs.append("")
    elif line:
        seqs[-1] += line
aligner = Align.PairwiseAligner(mode="global", match_score=2, mismatch_score=-1, open_gap_score=-4,
                                extend_gap_score=-1)
alignment = aligner.align(seqs[0], seqs[1])[0]
with open(args["-o"], "w") as out:
    for name, row in zip(names, (alignment[0], alignment[1])):
        out.write(">" + name + "\\n" + row + "\\n")
"""


def _mutated_hit(hit, position):
    """The hit with one residue of its sequence changed, so that it must be realigned to the SEQRES."""
    sequence = list(hit.hit_sequence)
    residues = [i for i, char in enumerate(sequence) if char.isalpha()]
    index = residues[position]
    sequence[index] = "W" if sequence[index] != "W" else "Y"
    return replace(hit, hit_sequence="".join(sequence))


def test_realignment_with_kalign_equals_oracle_and_missing_kalign_warns(mirror, tmp_path):
    kalign = tmp_path / "kalign"
    kalign.write_text(_KALIGN_STAND_IN)
    kalign.chmod(0o755)
    query = oracle_data.query_sequence("2crb")
    hits = [hit for hit in oracle_data.oracle_hmmsearch_hits("2crb", query) if hit.name == "4zey_A"]
    oracle_hits = [_mutated_hit(hits[0], 20)]
    oracle = _oracle_templates("hmmsearch", mirror, query, oracle_hits, kalign=str(kalign))
    assert oracle.features["template_domain_names"].tolist() == [b"4zey_A"]
    ours = templates.TemplateFeaturizer(oracle_data.mmcif_dir(), FAR_FUTURE, kalign_binary=str(kalign)).get_templates(
        query, [oracle_data.to_hit(hit) for hit in oracle_hits])
    _assert_features_equal(ours.features, oracle.features)
    assert len(ours.warnings) == 1 and "realigned" in ours.warnings[0]

    without = templates.TemplateFeaturizer(oracle_data.mmcif_dir(), FAR_FUTURE, kalign_binary=NO_KALIGN)
    result = without.get_templates(query, [oracle_data.to_hit(hit) for hit in oracle_hits])
    assert result.features["template_aatype"].shape == (0, len(query), 22)
    assert len(result.warnings) == 1 and "4zey_A" in result.warnings[0] and "kalign" in result.warnings[0]


def test_missing_and_unreadable_mmcif_are_warnings_not_failures(tmp_path):
    query = oracle_data.query_sequence("2crb")
    hits = oracle_data.our_hmmsearch_hits("2crb", query)[:40]
    (tmp_path / "4zey.cif").write_text("data_4ZEY\nloop_\n_atom_site.id\n_atom_site.x\n1\n")  # broken loop
    result = templates.TemplateFeaturizer(tmp_path, FAR_FUTURE).get_templates(query, hits)
    assert result.features["template_all_atom_positions"].shape == (0, len(query), 37, 3)
    assert result.errors == ()
    assert any("4zey" in warning and "4zey.cif" in warning for warning in result.warnings)
    assert any("2fo7" in warning and "no mmCIF file" in warning for warning in result.warnings)
    strict = templates.TemplateFeaturizer(tmp_path, FAR_FUTURE, strict_error_check=True).get_templates(query, hits)
    assert any("4zey.cif" in error for error in strict.errors)
    assert any("2fo7" in warning and "no mmCIF file" in warning for warning in strict.warnings)


def _hit(name, query_part, hit_part, aligned_cols, query_start=0, hit_start=0, sum_probs=None):
    def indices(row, start):
        out, counter = [], start
        for char in row:
            out.append(-1 if char == "-" else counter)
            counter += char != "-"
        return out

    return TemplateHit(index=1, name=name, aligned_cols=aligned_cols, sum_probs=sum_probs, query=query_part,
                       hit_sequence=hit_part, indices_query=indices(query_part, query_start),
                       indices_hit=indices(hit_part, hit_start))


def test_prefilter_hand_worked_cases():
    query = "ACDEFGHIKLMNPQRSTVWY"  # 20 residues
    cutoff = datetime.date(2020, 1, 1)
    check = templates.prefilter_failure
    assert check(_hit("1abc_A", query[:2], "AC", 2), query, None, cutoff)[0] == "align_ratio"  # 2/20 = 0.1
    assert check(_hit("1abc_A", query, query, 20), query, None, cutoff)[0] == "duplicate"  # ratio 1.0
    assert check(_hit("1abc_A", query[:19], query[:19], 19), query, None, cutoff) is None  # 0.95, not > 0.95
    assert check(_hit("1abc_A", query[:9], "WWWWWWWWW", 9), query, None, cutoff)[0] == "length"
    assert check(_hit("1abc_A", query[:12], "W" * 12, 12), query, datetime.date(2021, 1, 1), cutoff)[0] == "date"
    assert check(_hit("1abc_A", query[:12], "W" * 12, 12), query, cutoff, cutoff) is None


def test_query_to_hit_mapping_hand_worked():
    # A stretch of the query (AYIAKQ, residues 3..8) aligned to hit residues 10..15 (GWLPRS) with a gap on each
    # side: I (query 5) and L (hit 12) have no partner; hit indices count from the first hit residue.
    query = "MKTAYIAKQRQ"
    hit = _hit("1abc_A", "AYI-AKQ", "GW-LPRS", 5, query_start=0, hit_start=10)
    assert query_to_hit_mapping(hit, query) == {3: 0, 4: 1, 6: 3, 7: 4, 8: 5}


def test_release_dates_and_obsolete_files(tmp_path):
    query = oracle_data.query_sequence("2crb")
    hit = next(h for h in oracle_data.oracle_hmmsearch_hits("2crb", query) if h.name == "4zey_A")
    renamed = replace(oracle_data.to_hit(hit), name="9old_A")
    removed = replace(oracle_data.to_hit(hit), name="9gon_A")
    obsolete = tmp_path / "obsolete.dat"
    obsolete.write_text(" LIST OF OBSOLETE COORDINATE ENTRIES AND SUCCESSORS\n"
                        "OBSLTE    31-JUL-94 9OLD     4ZEY\nOBSLTE    06-NOV-19 9GON\n")
    dates = tmp_path / "release_dates.txt"
    dates.write_text("4zey: 2015-08-12\n2crb: 2005-11-23\n")
    featurizer = templates.TemplateFeaturizer(oracle_data.mmcif_dir(), FAR_FUTURE, obsolete_pdbs_path=obsolete)
    result = featurizer.get_templates(query, [removed, renamed])
    assert result.features["template_domain_names"].tolist() == [b"4zey_A"]
    assert len(result.warnings) == 1 and "9gon" in result.warnings[0]
    # A release-dates file rejects the hit before its mmCIF is opened (the folder here has none).
    empty_dir = tmp_path / "mirror"
    empty_dir.mkdir()
    early = templates.TemplateFeaturizer(empty_dir, "2010-01-01", release_dates_path=dates)
    assert early.get_templates(query, [oracle_data.to_hit(hit)]).warnings == ()
    dates.write_text("4zey 2015-08-12\n")
    with pytest.raises(InputError, match="release_dates.txt line 1"):
        templates.TemplateFeaturizer(empty_dir, FAR_FUTURE, release_dates_path=dates)


def test_no_hits_gives_zero_templates_and_bad_arguments_fail(tmp_path):
    features = templates.TemplateFeaturizer(tmp_path, FAR_FUTURE).get_templates("ACDEFGHIKL", []).features
    assert features["template_aatype"].shape == (0, 10, 22) and features["template_aatype"].dtype == np.float32
    assert features["template_sum_probs"].shape == (0, 1)
    assert features["template_domain_names"].dtype == np.object_
    with pytest.raises(InputError, match="not YYYY-MM-DD"):
        templates.TemplateFeaturizer(tmp_path, "01/02/2020")
    with pytest.raises(InputError, match="does not exist"):
        templates.TemplateFeaturizer(tmp_path / "absent", FAR_FUTURE)
