"""Search results stored by what produced them, so a query searched once is never searched again.

A result is keyed by the query sequence, the database's fingerprint and the search settings:

    cache = SearchCache("/shared/search_cache")
    key = cache.key(sequence, database_fingerprint(database.files), {"tool": "jackhmmer", "n_iter": 1, "e": 1e-4})
    alignment = cache.get(key)                 # Path, or None
    if alignment is None:
        alignment = cache.put(key, run_search(...), produced_by={...})

The fingerprint is the size and modification time (ns) of each file of the database, not a hash of its content:
reading a 100 GB database to hash it would cost more than most searches, and a rebuilt or replaced database
gets a new modification time. Files are named by their base name only, so the same database mounted at different
paths on different machines shares results.

Layout: `root/<key[:2]>/<key>.<ext>` (the result, with the produced file's extension) and `<key>.meta.json` (what
produced it, the result's file name and size). Both are written atomically (temp + rename) and the sidecar last,
so an entry exists only once its result is whole; concurrent writers of one key each rename a whole file into
place and the last one wins. Readers never see a part.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import platformdirs

from protein.atomic import atomic_output as _atomic_output
from protein.errors import InputError, SearchError

logger = logging.getLogger(__name__)

CACHE_DIR_ENV = "PROTEIN_SEARCH_CACHE"
KEY_VERSION = 1  # bump when the meaning of a key's inputs changes, so old entries are no longer found
_SIDECAR_SUFFIX = ".meta.json"
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


def default_cache_dir() -> Path:
    """`$PROTEIN_SEARCH_CACHE` if set, else the user cache folder of the platform + "/search"."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    return Path(platformdirs.user_cache_dir("protein-platform")) / "search"


def database_fingerprint(paths: Iterable[str | os.PathLike]) -> str:
    """sha256 (hex) of the base name, size and modification time (ns) of each file, in the given order.

    Pass a database's `files` (`protein.search.databases.Database.files`), or only its index files when the data
    files are too many to stat. A folder counts by its own size and time, which change when entries are added.

    Raises:
      SearchError: if a file is missing (the database cannot be searched either).
    """
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError as error:
            raise SearchError(f"{path}: cannot fingerprint the database file ({error.strerror or error})") from error
        digest.update(f"{Path(path).name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class SearchCache:
    """Search results on disk, keyed by `SearchCache.key` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"SearchCache({str(self.root)!r})"

    @staticmethod
    def key(query_sequence: str, database_fingerprint: str, settings: Mapping[str, Any]) -> str:
        """sha256 (hex) of the canonical JSON of the query, the database fingerprint and the settings.

        The query is upper-cased and stripped of whitespace (the search tools read it so). Settings are sorted by
        key at every level, so their order does not matter; values are JSON values (paths become strings).

        Raises:
          InputError: if a setting cannot be written as JSON.
        """
        document = {
            "version": KEY_VERSION,
            "query": "".join(query_sequence.split()).upper(),
            "database": database_fingerprint,
            "settings": dict(settings),
        }
        try:
            canonical = json.dumps(
                document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=_jsonable
            )
        except (TypeError, ValueError) as error:
            raise InputError(f"search settings cannot key the cache: {error}") from error
        return hashlib.sha256(canonical.encode()).hexdigest()

    def get(self, key: str) -> Path | None:
        """The stored result of `key`, or None when there is none (or its file is not the size that was stored)."""
        sidecar = self._folder(key) / f"{key}{_SIDECAR_SUFFIX}"
        try:
            meta = json.loads(sidecar.read_text())
            result = sidecar.parent / meta["file"]
            size = result.stat().st_size
        except FileNotFoundError:
            logger.debug("search cache miss %s", key)
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("search cache entry %s is unreadable (%s); treated as absent", sidecar, error)
            return None
        if size != meta.get("size"):
            logger.warning("search cache entry %s: %s is %d bytes, %s stored; treated as absent",
                           key, result, size, meta.get("size"))
            return None
        logger.debug("search cache hit %s: %s", key, result)
        return result

    def put(self, key: str, produced_file: str | os.PathLike, produced_by: Mapping[str, Any] | None = None) -> Path:
        """Copies `produced_file` into the cache under `key` and returns the stored path.

        `produced_by` (JSON values: the tool, its version, the query id, the database name ...) goes into the
        sidecar for people reading the cache; it is not part of the key.

        Raises:
          SearchError: if `produced_file` cannot be read or the cache folder cannot be written.
        """
        _check_key(key)
        source = Path(produced_file)
        folder = self._folder(key)
        result = folder / f"{key}{_extension(source)}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(source, "rb") as reader, _atomic_output(result) as writer:
                shutil.copyfileobj(reader, writer)
                size = writer.tell()
            meta = {
                "key": key,
                "file": result.name,
                "size": size,
                "source": str(source),
                "stored": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "produced_by": dict(produced_by or {}),
            }
            with _atomic_output(folder / f"{key}{_SIDECAR_SUFFIX}") as writer:
                writer.write(json.dumps(meta, indent=1, sort_keys=True, default=_jsonable).encode() + b"\n")
        except OSError as error:
            raise SearchError(f"cannot store {source} in the search cache at {result} ({error})") from error
        logger.debug("search cache stored %s (%d bytes) as %s", source, size, result)
        return result

    def _folder(self, key: str) -> Path:
        return self.root / key[:2]


def _check_key(key: str) -> None:
    if len(key) != 64 or any(character not in "0123456789abcdef" for character in key):
        raise InputError(f"not a search cache key (64 lowercase hex digits): {key!r}")


def _extension(path: Path) -> str:
    """'.sto', '.a3m', or two suffixes for a compressed file ('.sto.gz')."""
    suffixes = path.suffixes
    if len(suffixes) >= 2 and suffixes[-1] in _COMPRESSION_SUFFIXES:
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


def _jsonable(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{value!r} ({type(value).__name__}) is not a JSON value")


