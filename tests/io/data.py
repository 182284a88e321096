"""Real tool output from the shared data folder (`<repo>/../shared/data` or `$PROTEIN_SHARED/data`), as in
tests/model/inputs.py (mirrored here so that the io tests do not import the model stack), and oracle helpers."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest


def shared_data() -> Path | None:
    default = Path(__file__).parents[3] / "shared"
    data = Path(os.environ.get("PROTEIN_SHARED", default)) / "data"
    return data if data.is_dir() else None


def shared_file(relative: str) -> Path:
    """The path of a shared data file; skips the test (with the reason) when the folder or file is absent."""
    data = shared_data()
    if data is None:
        pytest.skip("shared data folder absent (../shared/data or $PROTEIN_SHARED/data)")
    path = data / relative
    if not path.exists():
        pytest.skip(f"shared data file absent: {relative}")
    return path


def shared_glob(pattern: str) -> list:
    """Relative paths under the shared data folder matching `pattern`, for parametrising; when the folder is
    absent, one parameter that skips with the reason."""
    data = shared_data()
    if data is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason="shared data folder absent"))]
    return sorted(str(path.relative_to(data)) for path in data.glob(pattern))


def read_text(path: Path) -> str:
    """The whole text of a (maybe gzip) file, for the oracle."""
    with (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)) as handle:
        return handle.read()
