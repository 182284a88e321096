"""Kalign (Lassmann & Sonnhammer 2005), which AlphaFold2 uses to realign a template hit to the SEQRES of its mmCIF
entry when the two differ. Invoked as AlphaFold2 invokes Kalign 2: `kalign -i in.fasta -o out.fasta -format
fasta`, and its output read as A3M (lower-case letters dropped)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from protein.errors import SearchError
from protein.search.tools import find_binary, run_tool

KALIGN_TIMEOUT_S = 120.0
MIN_SEQUENCE_LENGTH = 6  # Kalign refuses shorter sequences.


def find_kalign(binary: str = "kalign") -> str | None:
    """The path of the Kalign executable (a path or a name looked up on PATH), or None if there is none."""
    return find_binary(binary)


def _read_fasta_rows(text: str) -> dict[str, str]:
    rows: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(">"):
            current = line[1:]
            rows[current] = []
        elif line and current is not None:
            rows[current].append(line)
    return {name: "".join(char for char in "".join(parts) if not char.islower()) for name, parts in rows.items()}


def align(sequences: Sequence[str], binary: str, timeout_s: float = KALIGN_TIMEOUT_S) -> list[str]:
    """Aligns sequences with Kalign; returns the aligned rows (upper case, '-' for gaps) in input order.

    Raises:
      ValueError: if a sequence is shorter than Kalign accepts (6 residues).
      SearchError: if Kalign fails, times out or writes an alignment that does not hold every input.
    """
    for sequence in sequences:
        if len(sequence) < MIN_SEQUENCE_LENGTH:
            raise ValueError(
                f"Kalign needs sequences of at least {MIN_SEQUENCE_LENGTH} residues; got {sequence!r}"
            )
    names = [f"sequence {i}" for i in range(1, len(sequences) + 1)]
    with tempfile.TemporaryDirectory(prefix="kalign-") as workdir:
        source, target = Path(workdir, "input.fasta"), Path(workdir, "output.fasta")
        source.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in zip(names, sequences)))
        run_tool([binary, "-i", str(source), "-o", str(target), "-format", "fasta"], timeout_s)
        try:
            rows = _read_fasta_rows(target.read_text())
        except OSError as error:
            raise SearchError(f"{binary} wrote no alignment to {target}: {error}") from error
    if sorted(rows) != sorted(names):
        raise SearchError(f"{binary} returned records {sorted(rows)}; expected {names}")
    return [rows[name] for name in names]
