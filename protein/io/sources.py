"""Where the parsers read from (files, plain or gzip, and in-memory text) and how their errors say where they are.

Every parser of `protein.io` reads lines one at a time, so a file is never held whole in memory unless the
format needs it. Errors name the file (or "<string>"), the record and the 1-based line: `where()` writes that
prefix the same way for all formats.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator

from protein.errors import InputError

_GZIP_MAGIC = b"\x1f\x8b"


def where(source: str, record: str | None = None, line: int | None = None) -> str:
    """'file, record 'id', line 12': the location prefix of every parse error."""
    parts = [source]
    if record is not None:
        parts.append(f"record {record!r}")
    if line:
        parts.append(f"line {line}")
    return ", ".join(parts)


def input_error(message: str, source: str, record: str | None = None, line: int | None = None) -> InputError:
    return InputError(f"{where(source, record, line)}: {message}")


def text_lines(text: str) -> Iterator[str]:
    """The lines of `text` without their line ends; '\\r\\n' and '\\r' count as line ends."""
    for line in io.StringIO(text, newline=None):
        yield line.rstrip("\n")


def file_lines(path: str | os.PathLike) -> Iterator[str]:
    """The lines of a text file, gzip-compressed or not (told by its first bytes, not its name, so pipes work
    too), without line ends. Lazy: the file is opened on the first `next()` and closed when the iterator ends
    or is closed.

    Raises:
      InputError: if the file is missing or unreadable, not UTF-8, or a truncated/corrupt gzip stream.
    """
    source = os.fspath(path)
    try:
        raw = open(source, "rb")
    except OSError as error:
        raise input_error(f"cannot read the file ({error.strerror or error})", source) from error
    number = 0
    with raw:
        try:
            binary = gzip.GzipFile(fileobj=raw, mode="rb") if raw.peek(2)[:2] == _GZIP_MAGIC else raw
            for number, line in enumerate(io.TextIOWrapper(binary, encoding="utf-8", newline=None), start=1):
                yield line.rstrip("\n")
        except UnicodeDecodeError as error:
            raise input_error(f"not UTF-8 text after line {number} ({error.reason})", source) from error
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise input_error(f"corrupt or truncated gzip data after line {number} ({error})", source) from error
        except OSError as error:
            raise input_error(f"cannot read the file after line {number} ({error.strerror or error})",
                              source) from error
