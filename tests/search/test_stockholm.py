"""Stockholm preparation equals AlphaFold2's (the oracle's parsers) on OpenFold's real jackhmmer output: the row
cap of `msas/*_hits.sto`, and the template-search query (cut, deduplicated, empty columns removed) that hmmbuild
reads; and the target count of an alignment whose rows are domains."""

from __future__ import annotations

import io

import pytest
from pyhmmer import easel

from protein.errors import InputError
from protein.io import MAX_HITS
from protein.search import stockholm
from tests.io.data import shared_file, shared_glob

JACKHMMER_FILES = shared_glob("msas/openfold/*/uniref90_hits.sto.gz") + shared_glob(
    "msas/openfold/*/mgnify_hits.sto.gz")


def _oracle_file(relative, tmp_path):
    """The oracle reads the file from disk, uncompressed."""
    plain = tmp_path / "hits.sto"
    plain.write_text(stockholm.read_text(shared_file(relative)))
    return plain


def _text_msa(text: str) -> easel.TextMSA:
    with easel.MSAFile(io.BytesIO(text.encode()), format="stockholm", alphabet=easel.Alphabet.amino()) as msas:
        return msas.read()


@pytest.mark.parametrize("relative", JACKHMMER_FILES)
def test_truncate_equals_alphafold2(relative, tmp_path):
    from alphafold.data import parsers

    plain = _oracle_file(relative, tmp_path)
    text = plain.read_text()
    for cap in (1, 2, 17, MAX_HITS["mgnify"], MAX_HITS["uniref90"]):
        assert stockholm.truncate(text, cap) == parsers.truncate_stockholm_msa(str(plain), cap)
    assert stockholm.truncate(text, None) == text


@pytest.mark.parametrize("relative", JACKHMMER_FILES)
def test_template_query_equals_alphafold2(relative, tmp_path):
    from alphafold.data import parsers

    plain = _oracle_file(relative, tmp_path)
    for cap in (3, MAX_HITS["uniref90"]):
        reference = _text_msa(parsers.remove_empty_columns_from_stockholm_msa(
            parsers.deduplicate_stockholm_msa(parsers.truncate_stockholm_msa(str(plain), cap))))
        ours = _text_msa(stockholm.template_query(plain.read_text(), cap, str(plain)))
        assert list(ours.names) == list(reference.names)
        assert list(ours.alignment) == list(reference.alignment)
        assert ours.reference == reference.reference


def test_template_query_drops_repeats_in_query_columns_and_empty_columns():
    text = ("# STOCKHOLM 1.0\n"
            "#=GS h1/1-3 DE [subseq from] first\n"
            "q      MK-V-\n"
            "h1/1-3 MRaVa\n"
            "h2/1-3 MRcV-\n"  # the same as h1 in the query's columns: dropped
            "h3/1-2 M--V-\n"
            "h4/1-3 MK-V-\n"  # the same as the query: dropped
            "#=GC RF xx.x.\n"
            "//\n")
    prepared = stockholm.template_query(text, None)
    assert prepared.splitlines() == [
        "# STOCKHOLM 1.0", "", "#=GS h1/1-3 DE [subseq from] first", "",
        "q       MK-V-", "h1/1-3  MRaVa", "h3/1-2  M--V-", "#=GC RF xx.x.", "//",
    ]
    assert stockholm.template_query(text.replace("h1/1-3 MRaVa", "h1/1-3 MR-Va"), None).splitlines()[4:8] == [
        "q       MKV-", "h1/1-3  MRVa", "h3/1-2  M-V-", "#=GC RF xxx."]  # the third column was '-' in every row


def test_template_query_refuses_what_hmmbuild_cannot_use():
    with pytest.raises(InputError, match="no '#=GC RF' line"):
        stockholm.template_query("# STOCKHOLM 1.0\nq MK\n//\n", None)
    with pytest.raises(InputError, match="the '#=GC RF' line has 3 columns, the sequences 2"):
        stockholm.template_query("# STOCKHOLM 1.0\nq MK\n#=GC RF xxx\n//\n", None)
    with pytest.raises(InputError, match="no sequences"):
        stockholm.template_query("# STOCKHOLM 1.0\n//\n", None)


def test_count_targets_counts_sequences_not_domains():
    names = ["query", "a/1-20", "a/40-60", "b/3-9", "query/1-50"]
    assert stockholm.count_targets(names) == 3  # a, b and the query itself found in the database
    assert stockholm.count_targets(names[1:], query_rows=0) == 3
    assert stockholm.count_targets(["query"]) == 0
