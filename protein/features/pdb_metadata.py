"""PDB entry metadata that the template featuriser can read instead of opening mmCIF files: release dates
(`<pdb_id>: YYYY-MM-DD` per line, AlphaFold2's format) and the PDB's list of obsolete entries (`obsolete.dat`,
lines `OBSLTE    31-JUL-94 116L     216L`: date, removed entry, replacements if any)."""

from __future__ import annotations

import datetime
from pathlib import Path

from protein.errors import InputError


def read_release_dates(path: str | Path) -> dict[str, datetime.date]:
    """PDB id (as written, normally lower case) -> release date."""
    path = Path(path)
    dates = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise InputError(f"release dates file {path} could not be read: {error}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        pdb_id, _, date = line.partition(":")
        try:
            dates[pdb_id.strip()] = datetime.date.fromisoformat(date.strip()[:10])
        except ValueError as error:
            raise InputError(f"{path} line {number}: expected '<pdb_id>: YYYY-MM-DD', got {line!r}") from error
    return dates


def read_obsolete(path: str | Path) -> dict[str, str | None]:
    """Obsolete PDB id -> its first replacement, or None when it was removed without one (ids lower case)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise InputError(f"obsolete entries file {path} could not be read: {error}") from error
    obsolete: dict[str, str | None] = {}
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or fields[0] != "OBSLTE":
            continue
        if len(fields) < 3 or len(fields[2]) != 4:
            raise InputError(f"{path} line {number}: expected 'OBSLTE <date> <pdb_id> [replacements]', got {line!r}")
        obsolete[fields[2].lower()] = fields[3].lower() if len(fields) > 3 else None
    return obsolete
