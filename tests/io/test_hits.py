"""Template hits: HHR and hmmsearch output equal to AlphaFold2's `parsers.parse_hhr` and its hmmsearch reading
(`convert_stockholm_to_a3m(remove_first_row_gaps=False)` then `parse_hmmsearch_a3m(skip_first=False)`, as
`tools.hmmsearch.Hmmsearch.get_template_hits` does) on real output; hand-worked cases; bad input."""

from __future__ import annotations

import dataclasses
import re

import pytest

import protein.io.alignments
import protein.io.hits
from protein.errors import InputError
from protein.io import parse_hhr, parse_hmmsearch_a3m, parse_hmmsearch_sto, read_a3m, read_hhr, read_hmmsearch_sto
from protein.io.types import TemplateHit
from tests.io.data import read_text, shared_file, shared_glob


def assert_same_hits(ours, reference):
    assert len(ours) == len(reference)
    for hit, expected in zip(ours, reference):
        for field in dataclasses.fields(TemplateHit):
            value, expected_value = getattr(hit, field.name), getattr(expected, field.name)
            assert value == expected_value and type(value) is type(expected_value), (hit.index, field.name)


def with_template_neff(hhr: str) -> str:
    """HH-suite 2 writes no 'Template_Neff' in a hit's summary line, which the oracle's pattern requires; adding
    one changes no field of any hit."""
    return re.sub(r"^(Probab=.*)$", r"\1  Template_Neff=1.000", hhr, flags=re.M)


@pytest.mark.parametrize("relative", ["msas/openfold/3u8v_A_short_query/pdb70_hits.hhr.gz",
                                      "msas/hhsuite_example/query.hhr"])
def test_hhr_equals_oracle_on_hhsearch_and_hhblits_output(relative):
    from alphafold.data import parsers

    path = shared_file(relative)
    text = read_text(path)
    reference = parsers.parse_hhr(text if "Template_Neff" in text else with_template_neff(text))
    hits = read_hhr(path)
    assert len(hits) == len(re.findall(r"^No \d+", text, flags=re.M)) > 0
    assert_same_hits(hits, reference)
    assert_same_hits(parse_hhr(text.replace("\n", "\r\n"), str(path)), reference)


@pytest.mark.parametrize("relative", shared_glob("msas/openfold/*/hmm_output.sto.gz"))
def test_hmmsearch_equals_oracle_on_real_output(relative):
    from alphafold.data import parsers

    path = shared_file(relative)
    query = read_a3m(path.parent / "bfd_uniclust_hits.a3m.gz").sequences[0]
    a3m = parsers.convert_stockholm_to_a3m(read_text(path), remove_first_row_gaps=False)
    reference = parsers.parse_hmmsearch_a3m(query, a3m, skip_first=False)
    hits = read_hmmsearch_sto(query, path)
    assert len(hits) > 10
    assert_same_hits(hits, reference)
    assert_same_hits(parse_hmmsearch_sto(query, read_text(path)), reference)
    assert_same_hits(parse_hmmsearch_a3m(query, a3m, skip_first=False), reference)
    assert_same_hits(parse_hmmsearch_a3m(query, a3m), parsers.parse_hmmsearch_a3m(query, a3m))


HHR = """Query         q
Match_columns 10
No_of_seqs    1 out of 1

 No Hit                             Prob E-value P-value  Score    SS Cols Query HMM  Template HMM
  1 1ABC_A Some protein; X-RAY    99.5   1E-10   1E-15   50.0   0.0    7    2-9     11-20 (40)

No 1
>1ABC_A Some protein; X-RAY {Homo sapiens}
Probab=99.5  E-value=1e-10  Score=50  Aligned_cols=7  Identities=50%  Similarity=0.5  Sum_probs=6.5  Template_Neff=3

Q ss_pred             CCHHHH
Q q                 2 KV-LLA    6 (10)
Q Consensus         2 kv~lla    6 (10)
                      || |+|
T Consensus        11 KVALLA   16 (40)
T 1ABC_A           11 KVALLA   16 (40)
T ss_dssp             CCHHHH
Confidence            999999

Q q                 7 FG--H    9 (10)
Q Consensus         7 fg~~h    9 (10)
T Consensus        17 F-GGH   20 (40)
T 1ABC_A           17 F-GGH   20 (40)

Done!
"""


def test_hhr_hand_worked():
    from alphafold.data import parsers

    expected = TemplateHit(
        index=1, name="1ABC_A Some protein; X-RAY {Homo sapiens}", aligned_cols=7, sum_probs=6.5,
        query="KV-LLAFG--H", hit_sequence="KVALLAF-GGH",
        indices_query=[1, 2, -1, 3, 4, 5, 6, 7, -1, -1, 8],
        indices_hit=[10, 11, 12, 13, 14, 15, 16, -1, 17, 18, 19],
    )
    assert parse_hhr(HHR) == [expected]
    assert_same_hits([expected], parsers.parse_hhr(HHR))
    assert parse_hhr(HHR.replace("  Template_Neff=3", "")) == [expected]
    assert parse_hhr(HHR.split("No 1\n")[0]) == [] == parsers.parse_hhr(HHR.split("No 1\n")[0])


@pytest.mark.parametrize("old, new, record, line, words", [
    ("No 1\n", "No one\n", None, 8, "expected 'No <hit number>'"),
    (">1ABC_A Some", "1ABC_A Some", "No 1", 8, "must start"),
    ("Sum_probs=6.5", "Sum_probs=", ">", 10, "Sum_probs"),
    ("Aligned_cols=7", "Aligned_cols=seven", ">", 10, "Aligned_cols"),
    ("Q q                 2 KV-LLA    6 (10)", "Q q                 2 KV-LLA    x (10)", ">", 13, "expected 'Q <name>"),
    ("Q q                 2 KV-LLA    6 (10)", "Q q                 2 KV-LLA    7 (10)", ">", 13, "make 7"),
    ("Q q                 2 KV-LLA    6 (10)", "Q q                 2 kV-LLA    6 (10)", ">", 13, "upper-case"),
    ("T 1ABC_A           11 KVALLA   16 (40)", "T 1ABC_A           11 KVALL   15 (40)", ">", 17, "template columns"),
    ("Q q                 2 KV-LLA    6 (10)", "", ">", 17, "a T line before any Q line"),
    ("T 1ABC_A           17 F-GGH   20 (40)", "", ">", 8, "no complete Q/T alignment"),
])
def test_hhr_bad_input(old, new, record, line, words):
    assert old in HHR
    with pytest.raises(InputError) as caught:
        parse_hhr(HHR.replace(old, new), "pdb70_hits.hhr")
    message = str(caught.value)
    assert message.startswith("pdb70_hits.hhr") and words in message
    name = "1ABC_A Some protein; X-RAY {Homo sapiens}" if record == ">" else record
    assert (f"record {name!r}" in message) == (name is not None)
    assert f"line {line}:" in message


HMMSEARCH_STO = """# STOCKHOLM 1.0
#=GF ID query
#=GF AU hmmsearch (HMMER 3.3.2)

#=GS 1abc_A/3-8     DE [subseq from] mol:protein length:40  Some protein
#=GS 2dna_B/1-6     DE [subseq from] mol:na length:6  DNA
#=GS 3xyz_AB/10-15  DE [subseq from] mol:protein length:99  Other protein

1abc_A/3-8             AC.kD-E.F
#=GR 1abc_A/3-8     PP 99.9*9*.9
2dna_B/1-6             AC..GTA.C
3xyz_AB/10-15          -CmnD-E.F
#=GC PP_cons           99.9**9.9
#=GC RF                xx..xxx.x
//
"""


def test_hmmsearch_hand_worked():
    """Match columns are the query's; insert columns ('.', lower case) belong to the hit only; the DNA chain is
    skipped but keeps its number."""
    from alphafold.data import parsers

    hits = parse_hmmsearch_sto("ACDQEF", HMMSEARCH_STO, "pdb_hits.sto")
    assert hits == [
        TemplateHit(index=1, name="1abc_A", aligned_cols=5, sum_probs=None, query="ACDQEF",
                    hit_sequence="ACKD-EF", indices_query=[0, 1, 2, 3, 4, 5], indices_hit=[2, 3, 5, -1, 6, 7]),
        TemplateHit(index=3, name="3xyz_AB", aligned_cols=4, sum_probs=None, query="ACDQEF",
                    hit_sequence="-CMND-EF", indices_query=[0, 1, 2, 3, 4, 5], indices_hit=[-1, 9, 12, -1, 13, 14]),
    ]
    a3m = parsers.convert_stockholm_to_a3m(HMMSEARCH_STO, remove_first_row_gaps=False)
    assert_same_hits(hits, parsers.parse_hmmsearch_a3m("ACDQEF", a3m, skip_first=False))
    assert parse_hmmsearch_sto("ACDQEF", "") == [] == parsers.parse_hmmsearch_a3m(
        "ACDQEF", parsers.convert_stockholm_to_a3m("", remove_first_row_gaps=False), skip_first=False)


def test_hmmsearch_bad_input():
    with pytest.raises(InputError, match=r"pdb_hits.sto, record '1ABC_A/3-8', line 9: a pdb_seqres hit must be"):
        parse_hmmsearch_sto("ACDQEF", HMMSEARCH_STO.replace("1abc_A", "1ABC_A"), "pdb_hits.sto")
    with pytest.raises(InputError, match=r"pdb_hits.sto, record '3xyz_AB/10-15', line 12: character '\*'"):
        parse_hmmsearch_sto("ACDQEF", HMMSEARCH_STO.replace("-CmnD-E.F", "-CmnD-E*F"), "pdb_hits.sto")
    with pytest.raises(InputError, match=r"pdb_hits.sto: no '//'"):
        parse_hmmsearch_sto("ACDQEF", HMMSEARCH_STO.replace("//\n", ""), "pdb_hits.sto")


def test_hit_parsers_are_also_in_alignments():
    assert protein.io.alignments.parse_hhr is protein.io.hits.parse_hhr
    assert protein.io.alignments.parse_hmmsearch_sto is protein.io.hits.parse_hmmsearch_sto
