"""Template hits: HHsearch/HHblits `.hhr` results and hmmsearch alignments against pdb_seqres, as AlphaFold2's
template featurizers read them (`TemplateHit`: the aligned query and hit strings and, per aligned column, the
0-based query and hit residue indices, -1 at a gap).

HHR (HH-suite User Guide, "Output"): a summary table, then one paragraph per hit:

    No 1
    >1HF9_B ATPASE INHIBITOR ...
    Probab=7.51  E-value=3.8e+02  Score=16.19  Aligned_cols=22  Identities=23%  ...  Sum_probs=13.1  ...
    Q query             7 AEHHHKAAEHHEQAAKHHHAAA   28 (73)
    T 1HF9_B           10 ISHHAKEIERLQKEIERHKQSI   31 (41)

with 'Q'/'T' lines '<name> <first residue> <aligned residues> <last residue> (<length>)' in blocks, beside
'Q ss_pred', 'T ss_dssp', 'Q Consensus' ... annotation lines, which are skipped. Older HH-suite versions write no
'Template_Neff' in the summary; it is not needed.

hmmsearch (AlphaFold2's `HmmsearchHitFeaturizer` input): the Stockholm alignment of the hits, each row named
'<pdb_id>_<chain>/<start>-<end>' and described by '#=GS <name> DE [subseq from] mol:protein length:<n> <text>'.
As AlphaFold2 reads it: '.' is dropped, rows whose description lacks 'mol:protein' are skipped (but numbered),
the query is the whole query sequence with indices 0..n-1, the hit string is the row upper-cased (insertions
included), its indices count from <start> and skip the insertions (lower case), and `aligned_cols` counts the
upper-case residues.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from protein.io.fasta import RecordError, fasta_blocks
from protein.io.sources import file_lines, input_error, text_lines
from protein.io.stockholm import read_rows
from protein.io.types import TemplateHit

_ANNOTATION_ROWS = ("ss_pred", "ss_conf", "ss_dssp", "Consensus")
_ALIGNMENT_LINE = re.compile(r"[QT] (?P<name>.*?)\s+(?P<first>\d+) (?P<residues>\S+)\s+(?P<last>\d+) \(\d+\)\s*")
_ALIGNED_RESIDUES = re.compile(r"[A-Z\-]+")
_SUMMARY_FIELD = re.compile(r"(\w+)=(\S+)")
_PDB_HIT_NAME = re.compile(r"(?P<pdb_id>[a-z0-9]+)_(?P<chain>\w+)/(?P<start>\d+)-(?P<end>\d+)")


def parse_hhr(text: str, source: str = "<string>") -> list[TemplateHit]:
    """The hits of an HHsearch/HHblits `.hhr` result, in file order (none if it lists none).

    Raises:
      InputError: a hit paragraph without its '>' name line or summary line (or without 'Aligned_cols' and
        'Sum_probs' there), a Q/T line that is not '<name> <first> <residues> <last> (<length>)', residues
        other than upper-case letters and '-', a Q line whose residue count disagrees with its first and last
        residue numbers, or T residues not matching the Q residues of their block.
    """
    return _hhr(text_lines(text), source)


def read_hhr(path: str | os.PathLike) -> list[TemplateHit]:
    """The hits of an `.hhr` file, plain or gzip (see `parse_hhr`)."""
    return _hhr(file_lines(path), os.fspath(path))


def parse_hmmsearch_sto(query_sequence: str, sto_text: str, source: str = "<string>") -> list[TemplateHit]:
    """The template hits of an hmmsearch Stockholm alignment against pdb_seqres (see the module docstring).
    Empty text (hmmsearch writes nothing when nothing hits) gives no hits.

    Raises:
      InputError: malformed Stockholm, or a protein hit whose name is not '<pdb_id>_<chain>/<start>-<end>'.
    """
    return _hmmsearch_sto(query_sequence, text_lines(sto_text), source)


def read_hmmsearch_sto(query_sequence: str, path: str | os.PathLike) -> list[TemplateHit]:
    """The template hits of an hmmsearch Stockholm file, plain or gzip (see `parse_hmmsearch_sto`)."""
    return _hmmsearch_sto(query_sequence, file_lines(path), os.fspath(path))


def parse_hmmsearch_a3m(
    query_sequence: str, a3m_text: str, source: str = "<string>", skip_first: bool = True
) -> list[TemplateHit]:
    """The template hits of hmmsearch results written as A3M ('><name> <description>' then the row), e.g. by
    `esl-reformat a3m`; `skip_first` skips a first record that is the query. Otherwise as `parse_hmmsearch_sto`.
    """
    rows = []
    for block in fasta_blocks(text_lines(a3m_text), source, comments=True):
        if isinstance(block, RecordError):
            raise block.to_exception()
        row = "".join(line.strip() for _, line in block.sequence_lines).replace(".", "")
        rows.append((block.header, row, block.line))
    return _pdb_hits(query_sequence, rows[1:] if skip_first else rows, source)


def _hmmsearch_sto(query_sequence: str, lines: Iterable[str], source: str) -> list[TemplateHit]:
    alignment = read_rows(lines, source, descriptions=True)
    rows = [
        (f"{name} {alignment.descriptions.get(name, '')}".strip(), row.replace(".", ""), line)
        for name, row, line in zip(alignment.names, alignment.rows, alignment.lines)
    ]
    return _pdb_hits(query_sequence, rows, source)


def _pdb_hits(query_sequence: str, rows: list[tuple[str, str, int]], source: str) -> list[TemplateHit]:
    """Hits from (description, A3M-style row, line) of pdb_seqres chains, numbered from 1 in file order."""
    indices_query = _residue_indices(query_sequence, 0)
    hits = []
    for index, (description, row, line) in enumerate(rows, start=1):
        if "mol:protein" not in description:
            continue  # DNA/RNA chains of pdb_seqres
        name = description.split()[0]
        match = _PDB_HIT_NAME.match(name)
        if not match:
            raise input_error("a pdb_seqres hit must be named '<pdb_id>_<chain>/<start>-<end>' (pdb id in lower "
                              "case)", source, name, line)
        hits.append(TemplateHit(
            index=index,
            name=f"{match['pdb_id']}_{match['chain']}",
            aligned_cols=sum(residue.isupper() for residue in row),
            sum_probs=None,
            query=query_sequence,
            hit_sequence=row.upper(),
            indices_query=indices_query,
            indices_hit=_residue_indices(row, int(match["start"]) - 1),
        ))
    return hits


def _residue_indices(row: str, start: int) -> list[int]:
    """Per aligned column, the 0-based residue index (counting from `start`), -1 at '-'; lower-case residues
    (insertions) are counted but have no column."""
    indices, residue = [], start
    for symbol in row:
        if symbol == "-":
            indices.append(-1)
            continue
        if not symbol.islower():
            indices.append(residue)
        residue += 1
    return indices


def _hhr(lines: Iterable[str], source: str) -> list[TemplateHit]:
    hits, paragraph = [], None
    for number, line in enumerate(lines, start=1):
        if line.startswith("No "):
            if paragraph:
                hits.append(_hhr_hit(paragraph, source))
            paragraph = []
        if paragraph is not None:
            paragraph.append((number, line))
    if paragraph:
        hits.append(_hhr_hit(paragraph, source))
    return hits


def _hhr_hit(paragraph: list[tuple[int, str]], source: str) -> TemplateHit:
    """One 'No <n>' paragraph of an .hhr file."""
    (first_line, no_line), rest = paragraph[0], paragraph[1:]
    try:
        index = int(no_line.split()[1])
    except (IndexError, ValueError):
        raise input_error(f"expected 'No <hit number>', found {no_line!r}", source, line=first_line) from None
    if len(rest) < 2 or not rest[0][1].startswith(">") or not rest[1][1].startswith("Probab="):
        raise input_error("a hit paragraph must start 'No <n>', '><name>', 'Probab=... Sum_probs=...'", source,
                          f"No {index}", first_line)
    name, (summary_line, summary) = rest[0][1][1:], rest[1]
    fields = dict(_SUMMARY_FIELD.findall(summary))
    try:
        aligned_cols, sum_probs = int(float(fields["Aligned_cols"])), float(fields["Sum_probs"])
    except (KeyError, ValueError):
        raise input_error("the summary line lacks a numeric Aligned_cols or Sum_probs", source, name,
                          summary_line) from None

    query, hit_sequence, indices_query, indices_hit = [], [], [], []
    block_width = None  # the number of aligned columns of the current Q line
    for number, line in rest[2:]:
        if not line.startswith(("Q ", "T ")):
            continue
        words = line.split()
        if len(words) > 1 and words[1] in _ANNOTATION_ROWS:
            continue
        match = _ALIGNMENT_LINE.fullmatch(line)
        if not match:
            raise input_error(f"expected '{line[0]} <name> <first> <residues> <last> (<length>)'", source, name,
                              number)
        residues, first = match["residues"], int(match["first"]) - 1
        if not _ALIGNED_RESIDUES.fullmatch(residues):
            raise input_error("aligned residues must be upper-case letters or '-'", source, name, number)
        if line.startswith("Q "):
            block_width = int(match["last"]) - first + residues.count("-")
            if block_width != len(residues):
                raise input_error(f"{len(residues)} aligned columns, but residues {first + 1} to {match['last']} "
                                  f"with {residues.count('-')} gaps make {block_width}", source, name, number)
            query.append(residues)
            indices_query += _residue_indices(residues, first)
        else:
            if block_width is None:
                raise input_error("a T line before any Q line", source, name, number)
            if block_width != len(residues):
                raise input_error(f"{len(residues)} template columns for {block_width} query columns in this block",
                                  source, name, number)
            hit_sequence.append(residues)
            indices_hit += _residue_indices(residues, first)
    if not query or len(indices_query) != len(indices_hit):
        raise input_error("the hit has no complete Q/T alignment", source, name, first_line)
    return TemplateHit(
        index=index,
        name=name,
        aligned_cols=aligned_cols,
        sum_probs=sum_probs,
        query="".join(query),
        hit_sequence="".join(hit_sequence),
        indices_query=indices_query,
        indices_hit=indices_hit,
    )
