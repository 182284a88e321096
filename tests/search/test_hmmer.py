"""The in-process HMMER backends against HMMER's own programs (Debian `hmmer`, 3.3.2 here; pyhmmer bundles 3.4) on
the same query and database: the same hits, E-values and scores within the binaries' printed rounding, and the
same alignments as AlphaFold2 reads them; plus the bad inputs: missing or corrupt database, no hits, row cap."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from protein.errors import InputError, SearchError
from protein.io import read_fasta, read_hmmsearch_sto, read_stockholm
from protein.search import (
    JACKHMMER_PRESETS, HmmsearchBinary, HmmsearchConfig, JackhmmerBinary, PyhmmerHmmsearch, PyhmmerJackhmmer,
)
from protein.search.databases import Database
from protein.search.tools import find_binary
from tests.io.data import shared_file
from tests.search import seqdb

JACKHMMER = dataclasses.replace(JACKHMMER_PRESETS["uniref90"], cpus=2)
needs_hmmer = pytest.mark.skipif(find_binary("jackhmmer") is None or find_binary("hmmsearch") is None,
                                 reason="HMMER binaries not installed (Debian package 'hmmer')")
NO_HITS = "WPQEHGTRNMKLAWYCVDSWPQRHGTYNMCLAWDCVESWPQRH"  # made up: no homolog in any database here


def assert_same_hits(ours, binary):
    """Same targets in the same order; E-values and scores equal to the binary's printed precision (tblout:
    '%9.2g' and '%6.1f', so within 5 % and 0.05 bits)."""
    assert [hit.name for hit in ours] == [hit.name for hit in binary]
    for mine, theirs in zip(ours, binary):
        assert mine.evalue == pytest.approx(theirs.evalue, rel=0.05, abs=0), mine.name
        assert abs(mine.score - theirs.score) <= 0.05 + 1e-6, mine.name


def assert_same_msa(path_a, path_b):
    a, b = read_stockholm(path_a), read_stockholm(path_b)
    assert list(a.descriptions) == list(b.descriptions)
    assert list(a.sequences) == list(b.sequences)
    assert (a.deletion_matrix == b.deletion_matrix).all()


@needs_hmmer
@pytest.mark.parametrize("rounds", [1, 3])
def test_pyhmmer_jackhmmer_equals_the_jackhmmer_binary(db400, tmp_path, rounds):
    config = dataclasses.replace(JACKHMMER, iterations=rounds)
    for number, (query_id, (first_round, last_round)) in enumerate(seqdb.ITERATING_QUERIES.items()):
        query = seqdb.uniprot_query(query_id)
        ours = PyhmmerJackhmmer(config).search(query, db400, tmp_path / f"ours{number}.sto")
        binary = JackhmmerBinary(config).search(query, db400, tmp_path / f"binary{number}.sto")
        assert ours.num_hits == binary.num_hits == (first_round if rounds == 1 else last_round), query_id
        assert_same_hits(ours.hits, binary.hits)
        assert_same_msa(ours.path, binary.path)
        assert read_stockholm(ours.path).sequences[0] == query.sequence
        assert ours.warnings == binary.warnings == ()
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("jackhmmer")]


@needs_hmmer
def test_the_globins_of_the_hmmer_tutorial(tmp_path):
    database, hbb = shared_file(seqdb.GLOBINS), read_fasta(shared_file(seqdb.HBB_HUMAN))[0]
    ours = PyhmmerJackhmmer(JACKHMMER).search(hbb, database, tmp_path / "ours.sto")
    binary = JackhmmerBinary(JACKHMMER).search(hbb, database, tmp_path / "binary.sto")
    assert ours.num_hits == binary.num_hits == 45  # every globin
    assert_same_hits(ours.hits, binary.hits)
    assert_same_msa(ours.path, binary.path)


@needs_hmmer
def test_max_hits_keeps_the_first_rows_as_alphafold2_cuts_them(db400, tmp_path):
    config = dataclasses.replace(JACKHMMER, iterations=3, max_hits=5)
    query = seqdb.uniprot_query("tr|Q6KEA5|Q6KEA5_HUMAN")
    ours = PyhmmerJackhmmer(config).search(query, db400, tmp_path / "ours.sto")
    binary = JackhmmerBinary(config).search(query, db400, tmp_path / "binary.sto")
    assert ours.num_hits == 14 and len(read_stockholm(ours.path)) == 5  # 16 rows: the query, 15 domains
    assert ours.warnings == binary.warnings == ("tr|Q6KEA5|Q6KEA5_HUMAN: kept the first 5 of 16 alignment rows",)
    assert_same_msa(ours.path, binary.path)
    whole = PyhmmerJackhmmer(dataclasses.replace(config, max_hits=None)).search(query, db400, tmp_path / "all.sto")
    assert list(read_stockholm(whole.path).descriptions[:5]) == list(read_stockholm(ours.path).descriptions)


@pytest.mark.parametrize("backend", [PyhmmerJackhmmer, JackhmmerBinary])
def test_a_query_with_no_hits_gives_the_query_alone_and_a_warning(db400, tmp_path, backend):
    if backend is JackhmmerBinary and find_binary("jackhmmer") is None:
        pytest.skip("HMMER binaries not installed (Debian package 'hmmer')")
    result = backend(JACKHMMER).search(NO_HITS, db400, tmp_path / "hits.sto")
    assert result.num_hits == 0 and result.hits == ()
    assert result.warnings == ("query: no hits in db400.fasta; the alignment holds the query alone (a "
                               "single-sequence MSA)",)
    msa = read_stockholm(result.path, query_sequence=NO_HITS)
    assert len(msa) == 1


@pytest.mark.parametrize("backend", [PyhmmerJackhmmer, JackhmmerBinary])
def test_a_missing_database_is_named(tmp_path, backend):
    absent = tmp_path / "uniref90.fasta"
    with pytest.raises(SearchError, match=rf"database 'uniref90.fasta': missing file\(s\): {absent}"):
        backend(JACKHMMER).search(NO_HITS, absent, tmp_path / "hits.sto")
    configured = Database(name="uniref90", tool="jackhmmer", path=absent, role="msa")
    with pytest.raises(SearchError, match=rf"database 'uniref90': missing file\(s\): {absent}"):
        backend(JACKHMMER).search(NO_HITS, configured, tmp_path / "hits.sto")
    assert not (tmp_path / "hits.sto").exists()


def test_a_corrupt_database_names_the_record(db400, tmp_path):
    corrupt = tmp_path / "corrupt.fasta"
    corrupt.write_text(db400.read_text().replace("\nM", "\nM1", 1))
    with pytest.raises(InputError, match=r"corrupt.fasta, record 'tr\|W0FSK4\|W0FSK4_9FLAV', line 2 .*character '1'"):
        PyhmmerJackhmmer(JACKHMMER).search(NO_HITS, corrupt, tmp_path / "hits.sto")
    if find_binary("jackhmmer") is not None:
        with pytest.raises(SearchError, match=r"(?s)jackhmmer .* exited with code 1; stderr ends: .*Line 2: "
                                              r"illegal character 1"):
            JackhmmerBinary(JACKHMMER).search(NO_HITS, corrupt, tmp_path / "hits.sto")
    assert not (tmp_path / "hits.sto").exists()


def test_a_database_object_from_the_configuration(db400, tmp_path):
    database = Database(name="uniref90", tool="jackhmmer", path=db400, role="msa")
    result = PyhmmerJackhmmer(JACKHMMER).search(NO_HITS, database, tmp_path / "hits.sto")
    assert "no hits in uniref90" in result.warnings[0]


@needs_hmmer
def test_pyhmmer_template_search_equals_hmmbuild_and_hmmsearch(pdb_seqres, tmp_path):
    # AlphaFold2's template search on OpenFold's real UniRef90 alignment of 2crb_A against 1,000 PDB chains.
    uniref90 = shared_file("msas/openfold/2crb_A/uniref90_hits.sto.gz")
    query_sequence = read_stockholm(uniref90).sequences[0]
    ours = PyhmmerHmmsearch(HmmsearchConfig(cpus=2)).search(uniref90, pdb_seqres, tmp_path / "ours.sto")
    binary = HmmsearchBinary(HmmsearchConfig(cpus=2)).search(uniref90, pdb_seqres, tmp_path / "binary.sto")
    assert len(ours.hits) > 50 and ours.num_hits == binary.num_hits > 0
    assert_same_hits(ours.hits, binary.hits)
    assert read_hmmsearch_sto(query_sequence, ours.path) == read_hmmsearch_sto(query_sequence, binary.path)


@pytest.mark.parametrize("backend", [PyhmmerHmmsearch, HmmsearchBinary])
def test_template_search_with_no_hits_writes_an_empty_file(tmp_path, backend):
    if backend is HmmsearchBinary and find_binary("hmmsearch") is None:
        pytest.skip("HMMER binaries not installed (Debian package 'hmmer')")
    database = tmp_path / "seqres.txt"
    database.write_text(f">1abc_A mol:protein length:{len(NO_HITS)}  MADE UP\n{NO_HITS}\n")
    hbb = read_fasta(shared_file(seqdb.HBB_HUMAN))[0]  # its jackhmmer alignment against the globins as query
    globins = PyhmmerJackhmmer(JACKHMMER).search(hbb, shared_file(seqdb.GLOBINS), tmp_path / "uniref90_hits.sto")
    config = HmmsearchConfig(cpus=1, thresholds=dataclasses.replace(HmmsearchConfig().thresholds, E=1e-3,
                                                                    incE=1e-3))
    result = backend(config).search(globins.path, database, tmp_path / "hits.sto")
    assert result.num_hits == 0 and result.warnings == ("uniref90_hits.sto: no template hits in seqres.txt",)
    assert result.path.read_text() == "" and read_hmmsearch_sto("M", result.path) == []


def test_a_template_query_without_reference_annotation_is_refused(tmp_path, db400):
    alignment = tmp_path / "plain.sto"
    alignment.write_text("# STOCKHOLM 1.0\nq MKV\nh MRV\n//\n")
    with pytest.raises(InputError, match=r"plain.sto: no '#=GC RF' line"):
        PyhmmerHmmsearch(HmmsearchConfig(cpus=1)).search(alignment, db400, tmp_path / "hits.sto")
