"""Stockholm text as the search backends write it and as AlphaFold2 prepares it for the next tool.

- `truncate`: keep the first `max_sequences` sequences of a jackhmmer alignment, as AlphaFold2 cuts
  `uniref90_hits.sto` (10,000) and `mgnify_hits.sto` (501) before writing them to `msas/`. Only those sequences'
  rows and '#=GS' lines, the '#=GC RF' line, blank lines and the '# STOCKHOLM' / '//' tags are kept; other
  markup ('#=GF', '#=GR', other '#=GC') is dropped, as AlphaFold2's cut drops it. Without a limit the text is
  returned unchanged.
- `template_query`: the alignment a template search builds its profile from (AlphaFold2's pipeline.py): the
  UniRef90 alignment cut to `max_sequences`, then every sequence dropped that repeats an earlier one in the
  query's columns (insertions relative to the query ignored), then every column where all rows hold '-' removed
  (also from the RF line). Written as one block with the RF line, which `hmmbuild --hand` takes as match columns.
- `count_targets`: the distinct target sequences of an alignment (its rows are '<name>/<from>-<to>', one per
  aligned domain).

The sequence names of a Stockholm file are the first word of its sequence lines (every non-blank line that
does not start with '#' or '//'); an interleaved file repeats each name once per block.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from protein.io.sources import file_lines, input_error

_DOMAIN_SUFFIX = re.compile(r"/\d+-\d+$")


def read_text(path: str | os.PathLike) -> str:
    """The whole text of an alignment file, plain or gzip. Raises InputError if it is missing or unreadable."""
    return "".join(f"{line}\n" for line in file_lines(path))


def _is_sequence_line(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(("#", "//"))


def truncate(text: str, max_sequences: int | None) -> str:
    """The alignment with only its first `max_sequences` sequences (see the module docstring)."""
    if max_sequences is None:
        return text
    if max_sequences < 1:
        raise ValueError(f"max_sequences must be at least 1, got {max_sequences}")
    lines = text.splitlines(keepends=True)
    kept: set[str] = set()
    for line in lines:
        if _is_sequence_line(line):
            kept.add(line.split(maxsplit=1)[0])
            if len(kept) >= max_sequences:
                break
    return "".join(line for line in lines if _keep_line(line, kept))


def _keep_line(line: str, names: set[str]) -> bool:
    stripped = line.strip()
    if not stripped or stripped == "//" or line.startswith(("# STOCKHOLM", "#=GC RF")):
        return True
    if line.startswith("#=GS"):
        fields = line.split(maxsplit=2)
        return len(fields) > 1 and fields[1] in names
    if line.startswith("#"):
        return False
    return line.split(maxsplit=1)[0] in names


def template_query(text: str, max_sequences: int | None, source: str = "<string>") -> str:
    """The alignment a template profile is built from (see the module docstring).

    Raises:
      InputError: no sequence, rows of unequal length, no '#=GC RF' line, or an RF line of another length.
    """
    text = truncate(text, max_sequences)
    rows: dict[str, list[str]] = {}
    descriptions: dict[str, str] = {}
    reference: list[str] = []
    for line in text.splitlines():
        if line.startswith("#=GC RF"):
            reference.append(line.split()[2] if len(line.split()) > 2 else "")
        elif line.startswith("#=GS"):
            fields = line.split(maxsplit=2)
            if len(fields) == 3:
                descriptions[fields[1]] = fields[2]
        elif _is_sequence_line(line):
            fields = line.split()
            if len(fields) != 2:
                raise input_error("a sequence line must be '<name> <aligned sequence>'", source, fields[0])
            rows.setdefault(fields[0], []).append(fields[1])
    if not rows:
        raise input_error("no sequences in the alignment", source)
    aligned = {name: "".join(parts) for name, parts in rows.items()}
    width = len(next(iter(aligned.values())))
    for name, row in aligned.items():
        if len(row) != width:
            raise input_error(f"the aligned sequence has {len(row)} columns, the first {width}", source, name)
    rf = "".join(reference)
    if not rf:
        raise input_error("no '#=GC RF' line: the match columns of the profile are unknown", source)
    if len(rf) != width:
        raise input_error(f"the '#=GC RF' line has {len(rf)} columns, the sequences {width}", source)

    query_columns = [i for i, residue in enumerate(next(iter(aligned.values()))) if residue != "-"]
    seen: set[str] = set()
    unique: dict[str, str] = {}
    for name, row in aligned.items():
        in_query_columns = "".join(row[i] for i in query_columns)
        if in_query_columns not in seen:
            seen.add(in_query_columns)
            unique[name] = row
    kept_columns = [i for i in range(width) if any(row[i] != "-" for row in unique.values())]

    name_width = max(len(name) for name in [*unique, "#=GC RF"])
    out = ["# STOCKHOLM 1.0", ""]
    out += [f"#=GS {name} {descriptions[name]}" for name in unique if name in descriptions]
    out.append("")
    out += [f"{name:<{name_width}} {''.join(row[i] for i in kept_columns)}" for name, row in unique.items()]
    out.append(f"{'#=GC RF':<{name_width}} {''.join(rf[i] for i in kept_columns)}")
    out.append("//")
    return "\n".join(out) + "\n"


def sequence_names(text: str) -> list[str]:
    """The distinct sequence names of an alignment, in order of first appearance."""
    return list(dict.fromkeys(line.split(maxsplit=1)[0] for line in text.splitlines() if _is_sequence_line(line)))


def count_targets(names: Iterable[str], query_rows: int = 1) -> int:
    """The distinct target sequences among alignment row names ('<name>/<from>-<to>'), after `query_rows`."""
    return len({_DOMAIN_SUFFIX.sub("", name) for name in list(names)[query_rows:]})
