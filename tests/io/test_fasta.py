"""FASTA: equal to AlphaFold2's `parsers.parse_fasta` on real files, hand-worked cases, bad input, lenient
streaming."""

from __future__ import annotations

import gzip
import io

import pytest

from protein.errors import InputError
from protein.io import RecordError, iter_fasta, parse_fasta, read_fasta
from protein.io.types import FastaRecord
from tests.io.data import read_text, shared_file, shared_glob

# Real FASTA files whose sequences are already upper case without '*': equal to the oracle as they are.
PLAIN_FASTA = [
    "seqdb/mmseqs2_examples_DB.fasta.gz",
    "seqdb/mmseqs2_examples_QUERY.fasta.gz",
    "seqdb/hmmer_tutorial/globins45.fa",
    "seqdb/hmmer_tutorial/HBB_HUMAN",
    "structures/classic/classic_seqs.fasta",
    "structures/pfam40_kortemme/domains_seq.fasta",
    "msas/openfold/3u8v_A_short_query/short.fasta",
    "msas/hhsuite_example/query.seq",
    *shared_glob("seqdb/af3_miniature/*.gz"),
]


@pytest.mark.parametrize("relative", PLAIN_FASTA)
def test_equals_oracle_on_real_files(relative):
    from alphafold.data import parsers

    path = shared_file(relative)
    sequences, descriptions = parsers.parse_fasta(read_text(path))
    records = read_fasta(path)
    assert [r.sequence for r in records] == sequences
    assert [r.description for r in records] == descriptions
    assert [r.id for r in records] == [d.split()[0] for d in descriptions]
    lines = read_text(path).splitlines()
    assert all(lines[r.line - 1].strip() == ">" + r.description for r in records)
    assert all(r.source == str(path) for r in records)


@pytest.mark.parametrize("relative, feature", [
    ("seqdb/pyhmmer_938293.PRJEB85.HG003687.faa.gz", "*"),  # Prodigal proteins, each ending in a stop '*'
    ("seqdb/pyfamsa_hemopexin.faa.gz", "lower case"),
])
def test_stop_codons_and_lower_case_of_real_files(relative, feature):
    """The oracle keeps '*' and lower case; ours drops the final '*' and upper-cases, nothing else differs."""
    from alphafold.data import parsers

    path = shared_file(relative)
    sequences, descriptions = parsers.parse_fasta(read_text(path))
    records = read_fasta(path)
    assert sum(s.endswith("*") or s != s.upper() for s in sequences) > 100, feature
    assert [r.sequence for r in records] == [s.upper().removesuffix("*") for s in sequences]
    assert [r.description for r in records] == descriptions


def test_windows_line_ends_blank_lines_and_whitespace():
    text = ">sp|P1|ONE  first protein\r\nMKT AYI\r\n\r\n  akq\tR  \r\n\r\n>two\r\nGG\r\n"
    assert parse_fasta(text, "x.fa") == [
        FastaRecord("sp|P1|ONE", "sp|P1|ONE  first protein", "MKTAYIAKQR", "x.fa", 1),
        FastaRecord("two", "two", "GG", "x.fa", 6),
    ]
    assert parse_fasta(text.replace("\r\n", "\r")) == parse_fasta(text.replace("\r\n", "\n"))


def test_header_is_read_as_the_oracle_reads_it():
    from alphafold.data import parsers

    text = "  >  query one  \nMKV\n>q2 a\tb\nLL\n"
    sequences, descriptions = parsers.parse_fasta(text)
    records = parse_fasta(text)
    assert [r.description for r in records] == descriptions == ["  query one", "q2 a\tb"]
    assert [r.id for r in records] == ["query", "q2"]
    assert [r.sequence for r in records] == sequences


def test_final_star_and_unusual_letters():
    records = parse_fasta(">a\nmkv*\n>b\nMKV\n*\n>c\nXBZUOJmkv\n")
    assert [r.sequence for r in records] == ["MKV", "MKV", "XBZUOJMKV"]


def test_gzip_detected_by_content(tmp_path):
    text = ">a desc\nMKV\nLL*\n>b\nGG\n"
    plain, packed, unnamed = tmp_path / "q.fa", tmp_path / "q.fa.gz", tmp_path / "q.data"
    plain.write_text(text)
    packed.write_bytes(gzip.compress(text.encode()))
    unnamed.write_bytes(gzip.compress(text.encode()))
    expected = [("a", "a desc", "MKVLL", 1), ("b", "b", "GG", 4)]
    for path in (plain, packed, unnamed):
        assert [(r.id, r.description, r.sequence, r.line) for r in read_fasta(path)] == expected
        assert read_fasta(str(path))[0].source == str(path)


@pytest.mark.parametrize("text, record, line, words", [
    ("", None, None, "no FASTA records"),
    ("\n  \n\r\n", None, None, "no FASTA records"),
    ("MKV\n>a\nMKV\n", None, 1, "text before the first '>'"),
    (">a\n>b\nMKV\n", "a", 1, "no sequence"),
    (">a\nMKV\n>b\n\n", "b", 3, "no sequence"),
    (">a\nMKV\n>b d\nMK1V\n", "b", 4, "'1' (column 3)"),
    (">a\nMK-V\n", "a", 2, "'-'"),
    (">a\nMK.V\n", "a", 2, "'.'"),
    (">a\nMK*V\n", "a", 2, "'*'"),
    (">a\nMKV*\nLL\n", "a", 2, "'*' inside the sequence"),
    (">a\nMKV\nLLé\n", "a", 3, "'é'"),
    (">\nMKV\n", None, 1, "no name"),
    (">  \nMKV\n", None, 1, "no name"),
])
def test_bad_input_names_source_record_and_line(text, record, line, words):
    with pytest.raises(InputError) as caught:
        parse_fasta(text, "batch.fa")
    message = str(caught.value)
    assert message.startswith("batch.fa") and words in message
    assert (f"record {record!r}" in message) == (record is not None)
    assert (f"line {line}:" in message) == (line is not None)


def test_bad_files(tmp_path):
    empty, broken, latin1 = tmp_path / "empty.fa", tmp_path / "broken.fa.gz", tmp_path / "latin1.fa"
    empty.write_text("")
    packed = gzip.compress(b">a\n" + b"MKV\n" * 10_000)
    broken.write_bytes(packed[: len(packed) // 2])
    latin1.write_bytes(">a caf\xe9\nMKV\n".encode("latin-1"))
    for path, words in [(empty, "no FASTA records"), (broken, "gzip"), (latin1, "UTF-8"),
                        (tmp_path / "missing.fa", "cannot read")]:
        with pytest.raises(InputError, match=words) as caught:
            read_fasta(path)
        assert str(path) in str(caught.value)


def test_lenient_reading_reports_bad_records_and_goes_on():
    text = "junk\n>a\nMKV\n>b\nMK1\n>c\n>d x\nGG*\n>\nLL\n>e\nAA\n"
    items = list(iter_fasta(io.StringIO(text), "batch.fa"))
    assert [item.id for item in items if isinstance(item, FastaRecord)] == ["a", "d", "e"]
    errors = [item for item in items if isinstance(item, RecordError)]
    assert [(e.source, e.record_id, e.line) for e in errors] == [
        ("batch.fa", None, 1), ("batch.fa", "b", 5), ("batch.fa", "c", 6), ("batch.fa", None, 9)]
    assert str(errors[1]) == "batch.fa, record 'b', line 5: character '1' (column 3) is not an amino-acid letter"
    assert isinstance(errors[1].to_exception(), InputError)
    with pytest.raises(InputError, match="text before the first"):
        parse_fasta(text, "batch.fa")
    assert [type(item) for item in iter_fasta([])] == [RecordError]


def test_lenient_reading_streams():
    """Records come out while the input is read: never more than one record ahead (a file larger than memory)."""
    read = []

    def lines():
        for number in range(1_000_000):
            read.append(number)
            yield f">r{number}"
            yield "MKV" * 10

    stream = iter_fasta(lines(), "big.fa")
    first = [next(stream) for _ in range(3)]
    assert [r.id for r in first] == ["r0", "r1", "r2"] and [r.line for r in first] == [1, 3, 5]
    assert len(read) == 4  # the header after r2 ends r2
    stream.close()


def test_lenient_reading_of_a_path(tmp_path):
    path = tmp_path / "batch.fa.gz"
    path.write_bytes(gzip.compress(b">a\nMKV\n>b\n12\n>c\nLL\n"))
    items = list(iter_fasta(path))
    assert [type(i).__name__ for i in items] == ["FastaRecord", "RecordError", "FastaRecord"]
    assert items[1].source == str(path) and items[1].record_id == "b" and items[1].line == 4
