"""The official AlphaFold2 parameter files: where they live, fetching them, and loading them with a strict check
against the layout the network expects.

The files are numpy `.npz` archives (`params_model_{1..5}[_ptm].npz`, ~370 MB each) whose keys are
`"<module path>//<parameter name>"`, e.g.
`alphafold/alphafold_iteration/evoformer/evoformer_iteration/msa_row_attention_with_pair_bias//query_w`; the
layers of a stack (the 48 Evoformer blocks) are one tensor with a leading layer axis. They are read as plain
arrays (never unpickled) and loaded unchanged into Haiku's nested layout, module path -> name -> array.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath

import numpy as np
import platformdirs

from protein.atomic import atomic_output as _atomic_output
from protein.errors import ParamsError

logger = logging.getLogger(__name__)

Params = dict[str, dict[str, np.ndarray]]
Layout = Mapping[str, Mapping[str, tuple[int, ...]]]

DEFAULT_URL = "https://storage.googleapis.com/alphafold/alphafold_params_2022-12-06.tar"
PARAMS_DIR_ENV = "PROTEIN_PARAMS_DIR"
PARAMS_URL_ENV = "PROTEIN_PARAMS_URL"
# Members of the official archive that are unpacked: the monomer models (the archive also holds the multimer
# models, params_model_N_multimer_v3.npz, which this platform does not run); the license travels with them.
PARAMS_MEMBER_PATTERN = "params_model_*.npz"
MONOMER_FILE = re.compile(r"params_model_[1-5](_ptm)?\.npz")
LICENSE_MEMBER = "LICENSE"

_KEY_SEPARATOR = "//"
# Offending tensors listed per kind of problem in an error message; the rest are counted.
_MAX_LISTED = 10
_CHUNK_BYTES = 1 << 20
# Seconds to wait before each new attempt after an interrupted transfer (the first is at once).
_RETRY_DELAYS = (0.0, 1.0, 5.0, 15.0)


# -- where the files are ------------------------------------------------------------------------------------


def params_filename(preset: str) -> str:
    """The official file name of a preset's parameters: "model_1_ptm" -> "params_model_1_ptm.npz"."""
    return f"params_{preset}.npz"


def default_params_dir() -> Path:
    """`$PROTEIN_PARAMS_DIR` if set, else the user cache folder of the platform + "/params"."""
    if os.environ.get(PARAMS_DIR_ENV):
        return Path(os.environ[PARAMS_DIR_ENV]).expanduser()
    return Path(platformdirs.user_cache_dir("protein-platform")) / "params"


def find_params(preset: str, params_dir: str | os.PathLike | None = None) -> Path:
    """The parameter file of `preset` in `params_dir` (default: `default_params_dir()`).

    Raises ParamsError saying where it looked and how to get the file when it is not there.
    """
    folder = Path(params_dir).expanduser() if params_dir is not None else default_params_dir()
    path = folder / params_filename(preset)
    if path.is_file():
        return path
    raise ParamsError(
        f"no parameters for preset {preset!r}: {path} does not exist. Fetch the official AlphaFold2 "
        f"parameters with `protein params download` (into {default_params_dir()}, or `--dest DIR`), or point "
        f"to a folder that holds {params_filename(preset)} with --params-dir DIR or ${PARAMS_DIR_ENV}."
    )


# -- loading and saving -------------------------------------------------------------------------------------


def load_params(path: str | os.PathLike, preset: str, expected: Layout | None = None) -> Params:
    """Reads a parameter file into Haiku's layout (module path -> parameter name -> float32 array), checked
    strictly against the layout of `preset`.

    `expected` (module path -> name -> shape) defaults to `network.expected_param_shapes` of the preset. Every
    tensor's shape and dtype is read from its header and checked before any data is read; then tensors are
    read one at a time, so at most one tensor exists twice in memory (while it is converted to float32).

    Raises ParamsError naming the file when it is missing, not an npz, truncated or corrupt, holds a pickled
    object or a non-float tensor, or when tensors are missing, unexpected or of the wrong shape (each listed).
    """
    path = Path(path)
    with _open_npz(path) as archive:
        headers = _read_headers(archive, path)
        if expected is None:
            # Tracing the network for its shapes takes seconds: only once the file itself is known to be sound.
            from protein.model import network
            from protein.model.config import preset_config

            expected = network.expected_param_shapes(preset_config(preset))
        check_layout({key: shape for key, (shape, _) in headers.items()}, expected, path, preset)
        params: Params = {}
        for key, member in _members(archive, path).items():
            module, name = _split_key(key, path)
            params.setdefault(module, {})[name] = _read_tensor(archive, member, key, path)
    logger.info("loaded %d tensors (%d parameters) from %s", len(headers), count_parameters(params), path)
    return params


def check_layout(
    shapes: Mapping[tuple[str, str], tuple[int, ...]], expected: Layout, path: str | os.PathLike, preset: str
) -> None:
    """Raises ParamsError listing every missing, unexpected and mis-shaped tensor of `shapes`
    ((module, name) -> shape) against `expected` (module -> name -> shape); returns None when they agree."""
    wanted = {(module, name): tuple(shape) for module, names in expected.items() for name, shape in names.items()}
    found = {key: tuple(shape) for key, shape in shapes.items()}
    missing = [f"{_join(key)} {wanted[key]}" for key in sorted(set(wanted) - set(found))]
    unexpected = [f"{_join(key)} {found[key]}" for key in sorted(set(found) - set(wanted))]
    misshaped = [
        f"{_join(key)}: file {found[key]}, expected {wanted[key]}"
        for key in sorted(set(found) & set(wanted))
        if found[key] != wanted[key]
    ]
    if not (missing or unexpected or misshaped):
        return
    lines = [
        f"{path} does not match the parameter layout of preset {preset!r}: {len(missing)} missing, "
        f"{len(unexpected)} unexpected and {len(misshaped)} mis-shaped tensors"
    ]
    for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshaped)):
        lines += [f"  {title}: {item}" for item in items[:_MAX_LISTED]]
        if len(items) > _MAX_LISTED:
            lines.append(f"  ... and {len(items) - _MAX_LISTED} more {title}")
    if any("predicted_aligned_error_head" in item for item in missing + unexpected):
        lines.append("  (the *_ptm presets need the params_model_N_ptm.npz files, the others params_model_N.npz)")
    raise ParamsError("\n".join(lines))


def save_params(path: str | os.PathLike, params: Mapping[str, Mapping[str, np.ndarray]]) -> Path:
    """Writes `params` (module path -> name -> array) as an npz in the official layout, atomically (a temporary
    file in the same folder renamed over `path`). Arrays are written as float32."""
    path = Path(path)
    flat = {}
    for module, names in params.items():
        for name, value in names.items():
            flat[_join((module, name))] = np.asarray(value, dtype=np.float32)
    with _atomic_output(path) as handle:
        np.savez(handle, **flat)
    logger.info("wrote %d tensors to %s", len(flat), path)
    return path


def count_parameters(params: Mapping[str, Mapping[str, np.ndarray]]) -> int:
    """Number of scalar parameters in a nested parameter dict."""
    return int(sum(np.size(value) for names in params.values() for value in names.values()))


def _join(key: tuple[str, str]) -> str:
    return f"{key[0]}{_KEY_SEPARATOR}{key[1]}"


def _split_key(key: str, path: Path) -> tuple[str, str]:
    module, separator, name = key.rpartition(_KEY_SEPARATOR)
    if not separator or not module or not name:
        raise ParamsError(f"{path}: tensor {key!r} is not named '<module path>//<parameter name>'")
    return module, name


@contextlib.contextmanager
def _open_npz(path: Path) -> Iterator[zipfile.ZipFile]:
    if not path.is_file():
        raise ParamsError(f"parameter file {path} does not exist or is not a file")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        with open(path, "rb") as handle:
            is_zip = handle.read(4) == b"PK\x03\x04"
        if is_zip:
            raise ParamsError(
                f"{path} is truncated or corrupt (its zip directory is missing or damaged: {error}); "
                "download it again"
            ) from error
        raise ParamsError(f"{path} is not an npz file (numpy's zip archive of .npy tensors)") from error
    except OSError as error:
        raise ParamsError(f"cannot read parameter file {path}: {error}") from error
    with archive:
        yield archive


def _members(archive: zipfile.ZipFile, path: Path) -> dict[str, zipfile.ZipInfo]:
    """Tensor name -> zip member, in file order."""
    members = {}
    for info in archive.infolist():
        if info.is_dir():
            continue
        if not info.filename.endswith(".npy"):
            raise ParamsError(f"{path}: member {info.filename!r} is not a .npy tensor; not a parameter npz")
        members[info.filename[: -len(".npy")]] = info
    if not members:
        raise ParamsError(f"{path} holds no tensors")
    return members


def _read_headers(archive: zipfile.ZipFile, path: Path) -> dict[tuple[str, str], tuple[tuple[int, ...], np.dtype]]:
    """(module, name) -> (shape, dtype) of every tensor, from the .npy headers alone."""
    headers = {}
    for key, info in _members(archive, path).items():
        try:
            with archive.open(info) as handle:
                version = np.lib.format.read_magic(handle)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
        except (ValueError, EOFError, OSError, zipfile.BadZipFile) as error:
            raise ParamsError(f"{path}: tensor {key!r} has a corrupt or truncated header ({error})") from error
        if dtype.hasobject:
            raise ParamsError(
                f"{path}: tensor {key!r} holds pickled Python objects (dtype {dtype}); parameter files hold only "
                "float arrays, and pickles are never loaded"
            )
        if dtype.kind != "f":
            raise ParamsError(f"{path}: tensor {key!r} has dtype {dtype}; parameters must be floating point")
        headers[_split_key(key, path)] = (tuple(shape), dtype)
    return headers


def _read_tensor(archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, path: Path) -> np.ndarray:
    try:
        with archive.open(info) as handle:
            array = np.lib.format.read_array(handle, allow_pickle=False)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as error:
        raise ParamsError(f"{path}: cannot read tensor {key!r}; the file is truncated or corrupt ({error})") from error
    return array.astype(np.float32, copy=False)


# -- download -----------------------------------------------------------------------------------------------


def download(
    dest: str | os.PathLike | None = None,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 60,
) -> Path:
    """Fetches the official parameter archive and unpacks its `params_model_*.npz` files (and LICENSE) into
    `dest` (default `default_params_dir()`); returns `dest`.

    `url` defaults to `$PROTEIN_PARAMS_URL`, else DEFAULT_URL. The archive is written to
    `dest/<archive name>.partial`; an interrupted transfer is resumed with an HTTP Range request, within this
    call (a few attempts) and by the next call. With `sha256` the archive is verified (on a mismatch it is
    deleted and ParamsError raised). Members with absolute paths, `..` or links are refused. Each npz is
    written atomically; the archive is deleted once unpacked. `progress` reports through a tqdm bar on a
    terminal, else a log line per 10%.
    """
    dest = Path(dest).expanduser() if dest is not None else default_params_dir()
    url = url or os.environ.get(PARAMS_URL_ENV) or DEFAULT_URL
    dest.mkdir(parents=True, exist_ok=True)
    archive_name = PurePosixPath(urllib.parse.urlparse(url).path).name or "alphafold_params.tar"
    partial = dest / f"{archive_name}.partial"

    _fetch(url, partial, progress=progress, timeout=timeout)
    if sha256 is not None:
        actual = _sha256(partial)
        if actual.lower() != sha256.strip().lower():
            partial.unlink(missing_ok=True)
            raise ParamsError(
                f"checksum mismatch for {url}: sha256 {actual}, expected {sha256.strip().lower()}; "
                f"the download was deleted"
            )
        logger.info("sha256 of %s verified", url)
    unpacked = _unpack(partial, dest, url)
    partial.unlink()
    logger.info("unpacked %d parameter files into %s", len(unpacked), dest)
    return dest


def _fetch(url: str, partial: Path, progress: bool, timeout: float) -> None:
    """Downloads `url` to `partial`, resuming from the bytes already there; retries interrupted transfers."""
    last_error: Exception | None = None
    for attempt in range(len(_RETRY_DELAYS) + 1):
        if attempt:
            delay = _RETRY_DELAYS[attempt - 1]
            logger.warning("download of %s interrupted (%s); resuming in %.0f s", url, last_error, delay)
            time.sleep(delay)
        try:
            _fetch_once(url, partial, progress, timeout)
            return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise ParamsError(f"download of {url} failed: HTTP {error.code} {error.reason}") from error
            last_error = error
        except _TRANSIENT_ERRORS as error:
            last_error = error
    size = partial.stat().st_size if partial.exists() else 0
    raise ParamsError(
        f"download of {url} failed after {len(_RETRY_DELAYS) + 1} attempts ({last_error}); {size} bytes are kept in "
        f"{partial}: run the download again to resume"
    )


class _Interrupted(Exception):
    """The server closed the connection before sending the whole body."""


# Failures after which the transfer is resumed: dropped or refused connections, timeouts, truncated bodies.
_TRANSIENT_ERRORS = (_Interrupted, urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


def _fetch_once(url: str, partial: Path, progress: bool, timeout: float) -> None:
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url)
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # Nothing left past `offset`: the previous transfer was complete unless the file has changed.
            total = _content_range_total(error.headers.get("Content-Range", ""))
            if total == offset:
                logger.info("%s already fully downloaded to %s", url, partial)
                return
            partial.unlink()
            raise _Interrupted(f"server refused to resume at byte {offset}; restarting") from error
        raise
    with response:
        status = getattr(response, "status", 200)
        length = response.headers.get("Content-Length")
        if offset and status == 206:
            start = _content_range_start(response.headers.get("Content-Range", ""))
            if start != offset:
                partial.unlink()
                raise _Interrupted(f"server resumed at byte {start}, not {offset}; restarting")
            mode = "ab"
            logger.info("resuming %s at byte %d", url, offset)
        else:
            if offset:
                logger.info("server ignored the Range request for %s; restarting from the beginning", url)
            offset, mode = 0, "wb"
        expected_total = offset + int(length) if length is not None else None
        received = offset
        with open(partial, mode) as handle, _Progress(url, expected_total, offset, progress) as bar:
            while chunk := response.read(_CHUNK_BYTES):
                handle.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if expected_total is not None and received < expected_total:
        raise _Interrupted(f"connection closed after {received} of {expected_total} bytes")


def _content_range_start(header: str) -> int | None:
    # "bytes 100-199/200"
    with contextlib.suppress(ValueError, IndexError):
        return int(header.split()[1].split("-")[0])
    return None


def _content_range_total(header: str) -> int | None:
    # "bytes */200"
    with contextlib.suppress(ValueError, IndexError):
        return int(header.rsplit("/", 1)[1])
    return None


class _Progress:
    """tqdm's bar on a terminal; otherwise (a batch worker, a job log, no tqdm) a log line at every 10% (or 100 MB
    if the size is unknown)."""

    def __init__(self, label: str, total: int | None, initial: int, enabled: bool):
        self.label, self.total, self.done = label, total, initial
        self.enabled = enabled
        self.bar = None
        self.next_report = self._step() * (initial // self._step() + 1)
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                name = label.rsplit("/", 1)[-1]
                self.bar = tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=name)

    def _step(self) -> int:
        return max(1, self.total // 10) if self.total else 100 * _CHUNK_BYTES

    def update(self, size: int) -> None:
        self.done += size
        if self.bar is not None:
            self.bar.update(size)
        elif self.enabled and self.done >= self.next_report:
            if self.total:
                percent = 100 * self.done // self.total
                logger.info("%s: %d%% (%d of %d bytes)", self.label, percent, self.done, self.total)
            else:
                logger.info("%s: %d bytes", self.label, self.done)
            self.next_report = self._step() * (self.done // self._step() + 1)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _unpack(archive_path: Path, dest: Path, url: str) -> list[Path]:
    """Extracts the parameter files and the license of the tar at `archive_path` into `dest`, each atomically;
    members outside `dest`, links and other members are skipped."""
    unpacked = []
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            for member in archive:
                name = _safe_member_name(member)
                if name is None:
                    continue
                source = archive.extractfile(member)
                if source is None:
                    continue
                target = dest / name
                with source, _atomic_output(target) as handle:
                    while chunk := source.read(_CHUNK_BYTES):
                        handle.write(chunk)
                if target.stat().st_size != member.size:
                    target.unlink()
                    archive_path.unlink()
                    raise ParamsError(f"{url}: member {member.name!r} is truncated in the archive")
                if name != LICENSE_MEMBER:
                    unpacked.append(target)
                logger.info("unpacked %s", target)
    except (tarfile.TarError, EOFError) as error:
        archive_path.unlink(missing_ok=True)
        raise ParamsError(f"{url} is not a readable tar archive ({error}); the download was deleted") from error
    if not unpacked:
        raise ParamsError(f"{url} holds no {PARAMS_MEMBER_PATTERN} files; is it the AlphaFold parameter archive?")
    return unpacked


def _safe_member_name(member: tarfile.TarInfo) -> str | None:
    """The file name to unpack `member` to, or None to skip it (logged when the member is unsafe)."""
    path = PurePosixPath(member.name)
    parts = [part for part in path.parts if part not in ("", ".")]
    wanted = MONOMER_FILE.fullmatch(path.name) is not None or path.name == LICENSE_MEMBER
    if path.is_absolute() or ".." in parts or len(parts) != 1:
        if wanted or path.name.endswith(".npz"):
            logger.warning("refusing archive member %r: its path leaves the destination folder", member.name)
        return None
    if not wanted:
        return None
    if not member.isfile():
        logger.warning("refusing archive member %r: not a regular file (link or device)", member.name)
        return None
    return parts[0]
