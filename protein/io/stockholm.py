"""Stockholm: the alignment rows of a jackhmmer or hmmsearch `-A` file, read line by line.

The format (https://en.wikipedia.org/wiki/Stockholm_format; HMMER User's Guide): a '# STOCKHOLM 1.0' header,
markup lines starting with '#' ('#=GF' file, '#=GS' sequence, '#=GR' residue, '#=GC' column annotation), sequence
lines '<name> <aligned row>', and '//' at the end. Long alignments are interleaved: blocks separated by blank
lines, each holding the next stretch of every row. Rows hold letters (lower case: residues in insert columns)
and the gap symbols '-' and '.' ('.' in insert columns).

`read_rows` keeps only what the caller needs: at most `max_sequences` rows (the first ones, by first
appearance, as AlphaFold2's `truncate_stockholm_msa` keeps them) and '#=GS <name> DE' descriptions only when
asked, so a jackhmmer file of a million hits is read in one pass holding only the rows it keeps.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from protein.io.sources import input_error

_ROW = re.compile(r"[A-Za-z.\-]+")


@dataclasses.dataclass(frozen=True)
class StockholmRows:
    """Aligned rows in file order: `names[i]`, `rows[i]` (all the same length), `lines[i]` (the 1-based line of
    the row's first appearance), and `descriptions` ('#=GS <name> DE <text>'; empty unless asked for)."""

    names: list[str]
    rows: list[str]
    lines: list[int]
    descriptions: dict[str, str]


def read_rows(
    lines: Iterable[str], source: str, max_sequences: int | None = None, descriptions: bool = False
) -> StockholmRows:
    """Reads one Stockholm alignment.

    Args:
      lines: the file's lines (see `protein.io.sources`).
      source: file name for errors.
      max_sequences: keep only the first this many sequences (None: all). Later rows are not checked.
      descriptions: collect the '#=GS <name> DE' texts of the rows kept.

    Returns:
      The rows; none when the input has no non-blank line at all (hmmsearch writes nothing when nothing hits).

    Raises:
      InputError: no '# STOCKHOLM' header, a sequence line that is not '<name> <row>', a character that is not a
        letter, '-' or '.', rows of unequal length (as a name given twice makes), text after '//', no '//'.
    """
    if max_sequences is not None and max_sequences < 1:
        raise ValueError(f"max_sequences must be at least 1, got {max_sequences}")
    chunks: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    texts: dict[str, str] = {}
    started = ended = False
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if not started:
            if not line.startswith("# STOCKHOLM"):
                raise input_error(f"not a Stockholm file: the first line is not '# STOCKHOLM 1.0' but "
                                  f"{line[:40]!r}", source, line=number)
            started = True
            continue
        if ended:
            raise input_error("text after the '//' that ends the alignment (one alignment per file)", source,
                              line=number)
        if line.startswith("//"):
            ended = True
        elif line.startswith("#"):
            if descriptions and line.startswith("#=GS"):
                fields = line.split(maxsplit=3)
                if len(fields) >= 3 and fields[2] == "DE":
                    texts[fields[1]] = fields[3] if len(fields) == 4 else ""
        else:
            fields = line.split()
            name = fields[0]
            if name not in chunks:
                if max_sequences is not None and len(chunks) >= max_sequences:
                    continue
                chunks[name] = []
                first_line[name] = number
            if len(fields) != 2:
                raise input_error(f"a sequence line must be '<name> <aligned sequence>', found {len(fields)} "
                                  "fields", source, name, number)
            if not _ROW.fullmatch(fields[1]):
                bad = next(char for char in fields[1] if not _ROW.fullmatch(char))
                raise input_error(f"character {bad!r} in the aligned sequence is not a letter, '-' or '.'",
                                  source, name, number)
            chunks[name].append(fields[1])
    if started and not ended:
        raise input_error("no '//' at the end of the alignment (truncated file?)", source)
    rows = ["".join(parts) for parts in chunks.values()]
    names = list(chunks)
    for name, row in zip(names, rows):
        if len(row) != len(rows[0]):
            raise input_error(f"the aligned sequence has {len(row)} columns, the first ({names[0]!r}) "
                              f"{len(rows[0])}", source, name, first_line[name])
    kept = {name: texts[name] for name in names if name in texts}
    return StockholmRows(names, rows, [first_line[name] for name in names], kept)
