"""Atomic file writes: readers see the old file or the whole new one, never a part (a killed job leaves no
half-written output). The bytes go to a temporary file in the same folder, are flushed to disk, and the
temporary file is renamed over the target (`os.replace`, atomic on POSIX and Windows)."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"
# mkstemp makes files only its owner can read; outputs, caches and parameter files are shared with other users
# and workers like any file written with open().
FILE_MODE = 0o644


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: int = FILE_MODE) -> Iterator[IO[bytes]]:
    """A binary file handle whose content replaces `path` only when the block ends without error; the parent
    folder is created when missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, content: str | bytes) -> Path:
    """Writes `content` (text is encoded as UTF-8) to `path` atomically; returns the path."""
    path = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    with atomic_output(path) as handle:
        handle.write(data)
    logger.debug("wrote %s (%d bytes)", path, len(data))
    return path
