"""A3M and Stockholm MSAs: equal to AlphaFold2's `parsers.parse_a3m` / `parse_stockholm` (with
`truncate_stockholm_msa` for the hit caps) on real HHblits and jackhmmer output; hand-worked cases; bad input."""

from __future__ import annotations

import gzip
import inspect

import numpy as np
import pytest

from protein.errors import InputError
from protein.io import MAX_HITS, check_query, parse_a3m, parse_stockholm, read_a3m, read_fasta, read_stockholm
from tests.io.data import read_text, shared_file, shared_glob

A3M_FILES = [*shared_glob("msas/openfold/*/*.a3m.gz"), *shared_glob("msas/esm/*.a3m.gz"),
             "msas/hhsuite_example/query.a3m"]
JACKHMMER_FILES = shared_glob("msas/openfold/*/*_hits.sto.gz")


def assert_same_msa(ours, reference):
    assert list(ours.sequences) == list(reference.sequences)
    assert list(ours.descriptions) == list(reference.descriptions)
    assert ours.deletion_matrix.dtype == np.int32
    assert ours.deletion_matrix.shape == (len(reference.sequences), len(reference.sequences[0]))
    assert np.array_equal(ours.deletion_matrix, np.asarray(reference.deletion_matrix))


@pytest.mark.parametrize("relative", A3M_FILES)
def test_a3m_equals_oracle_on_hhblits_output(relative):
    from alphafold.data import parsers

    path = shared_file(relative)
    reference = parsers.parse_a3m(read_text(path))
    assert_same_msa(read_a3m(path), reference)
    assert_same_msa(parse_a3m(read_text(path), str(path)), reference)


@pytest.mark.parametrize("relative", JACKHMMER_FILES)
def test_stockholm_equals_oracle_on_jackhmmer_output(relative, tmp_path):
    from alphafold.data import parsers

    path = shared_file(relative)
    text = read_text(path)
    assert_same_msa(read_stockholm(path), parsers.parse_stockholm(text))
    plain = tmp_path / "hits.sto"  # the oracle truncates a file on disk, before parsing, as its pipeline does
    plain.write_text(text)
    for cap in (1, 2, 17, MAX_HITS["mgnify"], MAX_HITS["uniref90"]):
        reference = parsers.parse_stockholm(parsers.truncate_stockholm_msa(str(plain), cap))
        assert_same_msa(read_stockholm(path, max_sequences=cap), reference)
        assert_same_msa(parse_stockholm(text, max_sequences=cap), reference)


def test_hit_caps_are_alphafold_defaults():
    from alphafold.data import pipeline, pipeline_multimer

    defaults = inspect.signature(pipeline.DataPipeline.__init__).parameters
    assert MAX_HITS["uniref90"] == defaults["uniref_max_hits"].default == 10_000
    assert MAX_HITS["mgnify"] == defaults["mgnify_max_hits"].default == 501
    multimer = inspect.signature(pipeline_multimer.DataPipeline.__init__).parameters
    assert MAX_HITS["uniprot"] == multimer["max_uniprot_hits"].default


@pytest.mark.parametrize("folder", shared_glob("msas/openfold/*_A*"))
def test_query_rows_of_independent_tools_agree(folder):
    """HHblits' A3M and every jackhmmer Stockholm of one target start with the same query."""
    a3m = read_a3m(shared_file(f"{folder}/bfd_uniclust_hits.a3m.gz"))
    for relative in shared_glob(f"{folder}/*_hits.sto.gz"):
        read_stockholm(shared_file(relative), max_sequences=1, query_sequence=a3m.sequences[0])


def test_query_check_against_the_fasta():
    folder = "msas/openfold/3u8v_A_short_query"
    query = read_fasta(shared_file(f"{folder}/short.fasta"))[0].sequence
    read_a3m(shared_file(f"{folder}/bfd_uniclust_hits.a3m.gz"), query_sequence=query)
    read_stockholm(shared_file(f"{folder}/uniref90_hits.sto.gz"), query_sequence=query.lower())
    with pytest.raises(InputError, match=r"line 1: the first row is not the query.*position 3 \('A' where the query"):
        read_a3m(shared_file(f"{folder}/bfd_uniclust_hits.a3m.gz"), query_sequence="M" + query[2:] + "K")


def test_a3m_hand_worked():
    text = "#comment line of some tools\r\n>q query\r\nAC-D\r\n>h1 first hit\r\naAbb\r\nC-.D\r\n>\r\n-cC.DDd\r\n"
    msa = parse_a3m(text, query_sequence="ac-d")
    assert msa.sequences == ["AC-D", "AC-D", "-CDD"]
    assert msa.descriptions == ["q query", "h1 first hit", ""]
    assert msa.deletion_matrix.tolist() == [[0, 0, 0, 0], [1, 2, 0, 0], [0, 1, 0, 0]]


def test_a3m_rows_in_several_batches():
    from alphafold.data import parsers

    rng = np.random.default_rng(0)
    insertions = ["", "", "", "a", "cd", "yyy"]
    rows = [">q\nACDEFGHIKL"]
    for i, (gaps, inserted) in enumerate(zip(rng.random((5000, 10)) < 0.3, rng.integers(0, 6, (5000, 11)))):
        columns = ["-" if gap else c for gap, c in zip(gaps, "ACDEFGHIKL")] + [""]
        rows.append(f">h{i}\n" + "".join(insertions[k] + c for k, c in zip(inserted, columns)))
    text = "\n".join(rows) + "\n"
    assert_same_msa(parse_a3m(text), parsers.parse_a3m(text))


def test_stockholm_hand_worked_interleaved():
    from alphafold.data import parsers

    text = ("# STOCKHOLM 1.0\n#=GF ID x\n#=GS h1/1-6 DE some hit\n\n"
            "q      AC--\nh1/1-6 ACKL\nh2/3-5 A-K-\n#=GC RF xx..\n\n"
            "q      DE\nh1/1-6 DE\nh2/3-5 D-\n//\n")
    msa = parse_stockholm(text, "x.sto")
    assert msa.sequences == ["ACDE", "ACDE", "A-D-"]
    assert msa.descriptions == ["q", "h1/1-6", "h2/3-5"]
    assert msa.deletion_matrix.tolist() == [[0, 0, 0, 0], [0, 0, 2, 0], [0, 0, 1, 0]]
    assert_same_msa(msa, parsers.parse_stockholm(text))
    assert parse_stockholm(text, max_sequences=2).sequences == ["ACDE", "ACDE"]
    assert parse_stockholm(text.replace("\n", "\r\n")).sequences == msa.sequences


def test_stockholm_dot_gaps_and_insertions():
    """HMMER's insert columns: '.' gaps and lower-case residues. A '.' in the query is a gap: the column goes and
    the residues there are deletions (the oracle would keep such a column)."""
    text = "# STOCKHOLM 1.0\nq  AC..DE\nh  ACkkD-\ng  -c..de\n//\n"
    msa = parse_stockholm(text)
    assert msa.sequences == ["ACDE", "ACD-", "-CDE"]
    assert msa.deletion_matrix.tolist() == [[0, 0, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0]]


def test_stockholm_pfam_seed_with_dot_gaps():
    """globins4.sto (HMMER tutorial; '.' gaps, interleaved): its first row read without gaps is HBB_HUMAN."""
    msa = read_stockholm(shared_file("seqdb/hmmer_tutorial/globins4.sto"))
    assert msa.sequences[0] == read_fasta(shared_file("seqdb/hmmer_tutorial/HBB_HUMAN"))[0].sequence
    assert msa.descriptions == ["HBB_HUMAN", "HBA_HUMAN", "MYG_PHYCA", "GLB5_PETMA"]
    assert all(len(row) == 146 and set(row) <= set("ACDEFGHIKLMNPQRSTVWY-") for row in msa.sequences)


def test_streams_a_large_file_with_a_cap(tmp_path):
    """A 60,000-hit jackhmmer-like file read with the mgnify cap keeps 501 rows, equal to the oracle's."""
    from alphafold.data import parsers

    rng = np.random.default_rng(1)
    query = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 120))
    columns = query[:60] + "---" + query[60:]
    lines = ["# STOCKHOLM 1.0", "", f"query {columns}"]
    gapped = np.where(rng.random((60_000, 60)) < 0.8, np.frombuffer(columns[:60].encode(), np.uint8), ord("-"))
    for i, start in enumerate(gapped.astype(np.uint8)):
        lines.append(f"hit{i}/1-99 {start.tobytes().decode()}KLM{columns[63:]}")
    path = tmp_path / "mgnify_hits.sto.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n//\n").encode(), compresslevel=1))
    msa = read_stockholm(path, max_sequences=MAX_HITS["mgnify"])
    assert len(msa) == 501 and msa.deletion_matrix[1:, 60].tolist() == [3] * 500
    plain = tmp_path / "mgnify_hits.sto"
    plain.write_text("\n".join(lines[:600]) + "\n//\n")
    assert_same_msa(msa, parsers.parse_stockholm(parsers.truncate_stockholm_msa(str(plain), 501)))


@pytest.mark.parametrize("text, record, line, words", [
    ("", None, None, "no A3M records"),
    ("ACD\n>q\nACD\n", None, 1, "text before the first '>'"),
    (">q\nACD\n>h\n\n>i\nACD\n", "h", 3, "no sequence"),
    (">q\nACD\n>h\nA1D\n", "h", 4, "'1'"),
    (">q\nACD*\n", "q", 2, "'*'"),
    (">q\nACD\n>h x\nACDE\n", "h x", 3, "4 match columns"),
    (">q\nACD\n>h\nAcD\n", "h", 3, "2 match columns"),
])
def test_a3m_bad_input(text, record, line, words):
    with pytest.raises(InputError) as caught:
        parse_a3m(text, "bfd.a3m")
    message = str(caught.value)
    assert message.startswith("bfd.a3m") and words in message
    assert (f"record {record!r}" in message) == (record is not None)
    assert (f"line {line}:" in message) == (line is not None)


def test_first_row_must_be_the_query():
    text = "# comment\n>hit1 not the query\nMKVL\n>q\nMKIL\n"
    with pytest.raises(InputError) as caught:
        parse_a3m(text, "bfd.a3m", query_sequence="MKIL")
    assert str(caught.value).startswith("bfd.a3m, record 'hit1 not the query', line 2: the first row is not the "
                                        "query sequence: 4 columns for 4 query residues, first difference at "
                                        "position 3 ('V' where the query has 'I')")
    msa = parse_a3m(text)
    with pytest.raises(InputError, match=r"bfd.a3m, record 'hit1 not the query': .* 4 columns for 5 query"):
        check_query(msa, "MKVLA", "bfd.a3m")
    check_query(msa, "mkvl", "bfd.a3m")


STO = "# STOCKHOLM 1.0\nq  AC-D\nh  ACKD\n//\n"


@pytest.mark.parametrize("text, record, line, words", [
    ("", None, None, "no sequences"),
    ("# STOCKHOLM 1.0\n//\n", None, None, "no sequences"),
    (">q\nACD\n", None, 1, "not a Stockholm file"),
    (STO.replace("//\n", ""), None, None, "no '//'"),
    (STO + "# STOCKHOLM 1.0\n", None, 5, "text after the '//'"),
    (STO.replace("h  ACKD", "h  AC KD"), "h", 3, "found 3 fields"),
    (STO.replace("h  ACKD", "h"), "h", 3, "found 1 fields"),
    (STO.replace("h  ACKD", "h  AC*D"), "h", 3, "'*'"),
    (STO.replace("h  ACKD", "h  ACKDL"), "h", 3, "5 columns"),
    (STO.replace("h  ACKD", "h  ACKD\nh  ACKD"), "h", 3, "8 columns"),
    (STO.replace("h  ACKD", "h  AC\n\nq  D\n"), "h", 3, "2 columns"),
    (STO.replace("q  AC-D", "q  ----"), "q", 2, "no residue"),
])
def test_stockholm_bad_input(text, record, line, words):
    with pytest.raises(InputError) as caught:
        parse_stockholm(text, "uniref90_hits.sto")
    message = str(caught.value)
    assert message.startswith("uniref90_hits.sto") and words in message
    assert (f"record {record!r}" in message) == (record is not None)
    assert (f"line {line}:" in message) == (line is not None)


def test_stockholm_query_check_and_cap_validation():
    with pytest.raises(InputError, match=r"uniref90_hits.sto, record 'q', line 2: the first row is not the query"):
        parse_stockholm(STO, "uniref90_hits.sto", query_sequence="ACE")
    with pytest.raises(ValueError, match="max_sequences"):
        parse_stockholm(STO, max_sequences=0)
