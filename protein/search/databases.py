"""The sequence databases of a search preset, read from a small TOML file, and a check that they are all there.

A database configuration names databases under one root folder (AlphaFold2's `--data_dir`) and groups them into
presets (`full_dbs`, `reduced_dbs`, `colabfold`, `demo`); `data/databases.example.toml` documents the format and
`data/demo_databases.toml` points at the demo database that ships with the project:

    root = "/data/alphafold"              # relative to the TOML file; ~ and $VARIABLES are expanded

    [databases.uniref90]
    tool = "jackhmmer"                    # the program that searches it; sets the layout on disk
    path = "uniref90/uniref90.fasta"      # relative to root: the FASTA file, the HH-suite/MMseqs2 prefix or a folder

    [databases.bfd]
    tool = "hhblits"
    path = "bfd/bfd_metaclust_clu_complete_id30_c90_final_seq.sorted_opt"   # + _a3m.ffdata, _a3m.ffindex, ...

    [presets]
    full_dbs = ["uniref90", "mgnify", "bfd", "uniref30", "pdb_seqres", "pdb_mmcif"]

The tool sets the layout (`TOOLS`): a FASTA file (jackhmmer, phmmer, hmmsearch), a prefix plus suffixes (HH-suite's
ffindex pairs for hhblits/hhsearch, an MMseqs2 database with its index for mmseqs) or a folder of mmCIF files
(`mmcif`). `suffixes` overrides a prefix layout's file list, `extra_files` adds files that must exist (the
obsolete-entries list beside the mmCIF folder) and `role` overrides the tool's role (`msa`, `templates`,
`structures`). A misspelled key, an unknown tool or a preset naming an undefined database fails when the file is
loaded, with the file and key in the message.

`check(config, preset)` looks at every file of every database (of the preset, or all) and returns every problem it
finds, never only the first: a missing or unreadable file, an empty one, a folder where a file should be, a FASTA
file whose first record is not FASTA, an ffindex/MMseqs2 index whose first line is not `name<TAB>offset<TAB>length`,
an MMseqs2 `.dbtype` that is not 4 bytes, an mmCIF folder without `.cif` files.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
import os
import re
import tomllib
import types
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from protein.errors import InputError

logger = logging.getLogger(__name__)

ROLES = ("msa", "templates", "structures")
"""What a database is for: MSA search, template search (hits to the query), template structures (mmCIF)."""

FORMATS = ("fasta", "hhsuite", "mmseqs", "mmcif_folder")

HHSUITE_SUFFIXES = ("_a3m.ffdata", "_a3m.ffindex", "_cs219.ffdata", "_cs219.ffindex", "_hhm.ffdata", "_hhm.ffindex")
"""The files of an HH-suite database beside its prefix (AlphaFold2's BFD and UniRef30 layout)."""

MMSEQS_SUFFIXES = (
    "", ".dbtype", ".index",  # the profiles (or sequences) searched
    "_h", "_h.dbtype", "_h.index",  # headers
    "_seq", "_seq.dbtype", "_seq.index",  # member sequences, for expandaln
    "_aln", "_aln.dbtype", "_aln.index",  # cluster alignments, for expandaln
    ".idx", ".idx.dbtype", ".idx.index",  # `mmseqs createindex`, as ColabFold's setup_databases.sh builds it
)
"""The files of an MMseqs2 database as `colabfold_search` reads it (ColabFold's setup_databases.sh layout)."""


@dataclasses.dataclass(frozen=True)
class ToolLayout:
    """How the databases of one tool lie on disk and what they are for by default."""

    format: str
    role: str
    suffixes: tuple[str, ...] = ()


TOOLS: Mapping[str, ToolLayout] = types.MappingProxyType({
    "jackhmmer": ToolLayout("fasta", "msa"),
    "phmmer": ToolLayout("fasta", "msa"),
    "hmmsearch": ToolLayout("fasta", "templates"),
    "hhblits": ToolLayout("hhsuite", "msa", HHSUITE_SUFFIXES),
    "hhsearch": ToolLayout("hhsuite", "templates", HHSUITE_SUFFIXES),
    "mmseqs": ToolLayout("mmseqs", "msa", MMSEQS_SUFFIXES),
    "mmcif": ToolLayout("mmcif_folder", "structures"),  # read directly, not searched
})

_PREFIX_FORMATS = ("hhsuite", "mmseqs")
_TOP_KEYS = ("root", "databases", "presets")
_DATABASE_KEYS = ("tool", "path", "suffixes", "extra_files", "role", "description")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_PROBE_BYTES = 4096  # enough for the first record of every AlphaFold2 database
_FASTA_RESIDUES = re.compile(r"[A-Za-z*]+")
_MMSEQS_DBTYPE_BYTES = 4  # one int32
_MMCIF_SUFFIXES = (".cif", ".cif.gz")


@dataclasses.dataclass(frozen=True)
class Database:
    """One database: its name, the tool that searches it, and where its files are.

    `path` is absolute: the FASTA file, the prefix of an HH-suite or MMseqs2 database, or the mmCIF folder.
    """

    name: str
    tool: str
    path: Path
    role: str
    suffixes: tuple[str, ...] = ()
    extra_files: tuple[Path, ...] = ()
    description: str = ""

    @property
    def format(self) -> str:
        return TOOLS[self.tool].format

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file (or, for `mmcif`, the folder) that must exist: prefix + each suffix for prefix layouts."""
        if self.format in _PREFIX_FORMATS:
            main = tuple(Path(f"{self.path}{suffix}") for suffix in self.suffixes)
        else:
            main = (self.path,)
        return main + self.extra_files


@dataclasses.dataclass(frozen=True)
class DatabaseConfig:
    """The databases of a configuration file by name, and its presets (each a list of database names)."""

    source: Path | None
    root: Path
    databases: Mapping[str, Database]
    presets: Mapping[str, tuple[str, ...]]

    def preset(self, name: str) -> list[Database]:
        """The databases of preset `name`, in the file's order. Raises InputError naming the known presets."""
        if name not in self.presets:
            known = ", ".join(self.presets) or "none"
            raise InputError(f"{self.source or '<config>'}: no preset {name!r} (presets: {known})")
        return [self.databases[database] for database in self.presets[name]]

    def database(self, name: str) -> Database:
        if name not in self.databases:
            known = ", ".join(self.databases) or "none"
            raise InputError(f"{self.source or '<config>'}: no database {name!r} (databases: {known})")
        return self.databases[name]


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a database: the database (None for the configuration as a whole), file and what."""

    database: str | None
    path: Path
    message: str

    def __str__(self) -> str:
        prefix = f"{self.database}: " if self.database is not None else ""
        return f"{prefix}{self.path}: {self.message}"


# -- loading ------------------------------------------------------------------------------------------------


def load_config(path: str | os.PathLike, root: str | os.PathLike | None = None) -> DatabaseConfig:
    """Reads a database configuration (TOML). `root` replaces the file's `root` (as AlphaFold2's `--data_dir`).

    A relative root is relative to the file's folder; `~` and `$VARIABLE`s in it are expanded.

    Raises:
      InputError: the file is missing, not TOML, or has an unknown key, a value of the wrong type, an unknown tool
        or role, or a preset that names an undefined database; the message names the file and the key.
    """
    source = Path(path)
    try:
        with open(source, "rb") as handle:
            table = tomllib.load(handle)
    except OSError as error:
        raise InputError(f"{source}: cannot read the database configuration ({error.strerror or error})") from error
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{source}: not valid TOML ({error})") from error
    return _parse(table, source, root)


def _parse(table: Mapping[str, Any], source: Path, root_override: str | os.PathLike | None) -> DatabaseConfig:
    _check_keys(table, _TOP_KEYS, source, "the top level")
    if root_override is not None:
        root = Path(root_override).expanduser().absolute()
    elif "root" in table:
        root = _root(_typed(table, "root", str, source, "root"), source)
    else:
        raise InputError(f"{source}: no 'root' (the folder the database paths are relative to)")
    root = (source.parent / root).absolute()  # absolute: the config may travel to workers with another cwd

    entries = _typed(table, "databases", dict, source, "databases", default={})
    databases = {name: _database(name, entry, root, source) for name, entry in entries.items()}

    presets: dict[str, tuple[str, ...]] = {}
    for name, members in _typed(table, "presets", dict, source, "presets", default={}).items():
        key = f"presets.{name}"
        if not isinstance(members, list) or not all(isinstance(member, str) for member in members):
            raise InputError(f"{source}: {key} must be a list of database names")
        undefined = [member for member in members if member not in databases]
        if undefined:
            raise InputError(f"{source}: {key} names undefined databases: {', '.join(undefined)}")
        repeated = sorted({member for member in members if members.count(member) > 1})
        if repeated:
            raise InputError(f"{source}: {key} names a database twice: {', '.join(repeated)}")
        presets[name] = tuple(members)
    return DatabaseConfig(source, root, types.MappingProxyType(databases), types.MappingProxyType(presets))


def _root(text: str, source: Path) -> Path:
    expanded = os.path.expandvars(text)
    unset = re.findall(r"\$\{?(\w+)", expanded)
    if unset:
        raise InputError(f"{source}: root {text!r} names environment variables that are not set: {', '.join(unset)}")
    return Path(expanded).expanduser()


def _database(name: str, entry: Any, root: Path, source: Path) -> Database:
    key = f"databases.{name}"
    if not _NAME.fullmatch(name):
        raise InputError(f"{source}: {key}: a database name is letters, digits, '_', '.' and '-'")
    if not isinstance(entry, dict):
        raise InputError(f"{source}: {key} must be a table")
    _check_keys(entry, _DATABASE_KEYS, source, key)
    tool = _typed(entry, "tool", str, source, f"{key}.tool")
    if tool not in TOOLS:
        raise InputError(f"{source}: {key}.tool: unknown tool {tool!r} (tools: {', '.join(TOOLS)})")
    layout = TOOLS[tool]
    role = _typed(entry, "role", str, source, f"{key}.role", default=layout.role)
    if role not in ROLES:
        raise InputError(f"{source}: {key}.role: unknown role {role!r} (roles: {', '.join(ROLES)})")
    suffixes = _strings(entry, "suffixes", source, key, default=layout.suffixes)
    if "suffixes" in entry and layout.format not in _PREFIX_FORMATS:
        raise InputError(f"{source}: {key}.suffixes: only for prefix databases (hhblits, hhsearch, mmseqs)")
    if layout.format in _PREFIX_FORMATS and not suffixes:
        raise InputError(f"{source}: {key}.suffixes: a prefix database needs at least one suffix")
    return Database(
        name=name,
        tool=tool,
        path=root / _typed(entry, "path", str, source, f"{key}.path"),
        role=role,
        suffixes=suffixes,
        extra_files=tuple(root / extra for extra in _strings(entry, "extra_files", source, key, default=())),
        description=_typed(entry, "description", str, source, f"{key}.description", default=""),
    )


_REQUIRED = object()


def _typed(table: Mapping[str, Any], name: str, kind: type, source: Path, key: str, default: Any = _REQUIRED) -> Any:
    if name not in table:
        if default is _REQUIRED:
            raise InputError(f"{source}: {key} is missing")
        return default
    value = table[name]
    if not isinstance(value, kind):
        raise InputError(f"{source}: {key} must be a {_KIND_NAMES[kind]}, not {type(value).__name__}")
    return value


_KIND_NAMES = {str: "string", dict: "table", list: "list"}


def _strings(table: Mapping[str, Any], name: str, source: Path, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    values = _typed(table, name, list, source, f"{key}.{name}", default=list(default))
    if not all(isinstance(value, str) for value in values):
        raise InputError(f"{source}: {key}.{name} must be a list of strings")
    return tuple(values)


def _check_keys(table: Mapping[str, Any], known: Sequence[str], source: Path, where: str) -> None:
    unknown = [key for key in table if key not in known]
    if unknown:
        raise InputError(
            f"{source}: unknown key(s) in {where}: {', '.join(map(repr, unknown))} (known: {', '.join(known)})"
        )


# -- checking -----------------------------------------------------------------------------------------------


def check(config: DatabaseConfig, preset: str | None = None) -> list[Problem]:
    """Every problem with the databases of `preset` (default: every database of the configuration).

    Looks at each file of each database and does not stop at the first problem: a missing root folder is one
    problem and each of its missing files one more. Reads only the first few KB of any file.

    Raises:
      InputError: if `preset` is not a preset of the configuration.
    """
    databases = config.preset(preset) if preset is not None else list(config.databases.values())
    problems: list[Problem] = []
    if not config.root.is_dir():
        problems.append(Problem(None, config.root, "root folder does not exist"))
    for database in databases:
        problems.extend(check_database(database))
    logger.debug("checked %d databases: %d problems", len(databases), len(problems))
    return problems


def check_database(database: Database) -> list[Problem]:
    """Every problem with the files of one database (see `check`)."""
    problems = []
    for path in database.files:
        is_folder = database.format == "mmcif_folder" and path == database.path
        message = _folder_problem(path) if is_folder else _file_problem(path, database)
        if message is not None:
            problems.append(Problem(database.name, path, message))
    return problems


def _folder_problem(path: Path) -> str | None:
    if not path.exists():
        return _missing(path)
    if not path.is_dir():
        return "not a folder (expected the folder of mmCIF files)"
    try:
        with os.scandir(path) as entries:
            if not any(entry.name.endswith(_MMCIF_SUFFIXES) for entry in entries):
                return "no .cif files in the folder"
    except OSError as error:
        return f"unreadable folder ({error.strerror or error})"
    return None


def _file_problem(path: Path, database: Database) -> str | None:
    if not path.exists():
        return _missing(path)
    if path.is_dir():
        return "a folder, expected a file"
    try:
        with open(path, "rb") as handle:
            head = handle.read(_PROBE_BYTES)
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    if not head:
        return "empty file"
    name = path.name
    if database.format == "fasta" and path == database.path:
        return _fasta_problem(path, head)
    if name.endswith((".ffindex", ".index")):
        return _index_problem(head)
    if name.endswith(".dbtype") and path.stat().st_size != _MMSEQS_DBTYPE_BYTES:
        return f"an MMseqs2 .dbtype file is {_MMSEQS_DBTYPE_BYTES} bytes, this one {path.stat().st_size}"
    return None


def _missing(path: Path) -> str:
    if path.is_symlink():
        return f"missing (broken symbolic link to {os.readlink(path)})"
    return "missing"


def _fasta_problem(path: Path, head: bytes) -> str | None:
    """Whether the first bytes of a FASTA database start a FASTA record: a '>' header, then residue letters."""
    full = len(head) == _PROBE_BYTES
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as handle:
                head = handle.read(_PROBE_BYTES)
        except (OSError, EOFError, zlib.error) as error:
            return f"corrupt gzip file ({error})"
        full = len(head) == _PROBE_BYTES
    if b"\0" in head:
        return "binary data, not FASTA"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        if not full:
            return "not text (not UTF-8), not FASTA"
        text = head.decode("utf-8", errors="ignore")  # the probe may end inside a character
    lines = [line.strip() for line in text.splitlines()]
    if full:
        lines = lines[:-1]  # the last line may be cut by the probe
    lines = [line for line in lines if line]
    if not lines:
        return None if full else "no FASTA record"
    if not lines[0].startswith(">"):
        return f"not FASTA: the first line is not a '>' header: {_excerpt(lines[0])}"
    if not lines[0][1:].strip():
        return "not FASTA: the first record's header is empty"
    sequence = []
    for line in lines[1:]:
        if line.startswith(">"):
            break
        sequence.append(line)
    if not sequence and (len(lines) > 1 or not full):
        return f"not FASTA: the first record ({_excerpt(lines[0])}) has no sequence"
    for line in sequence:
        if not _FASTA_RESIDUES.fullmatch(line):
            return f"not FASTA: the first record's sequence has characters that are not residues: {_excerpt(line)}"
    return None


def _index_problem(head: bytes) -> str | None:
    """An ffindex / MMseqs2 index: lines of `name<TAB>offset<TAB>length`."""
    first = head.split(b"\n", 1)[0]
    fields = first.split(b"\t")
    if len(fields) != 3 or not fields[1].isdigit() or not fields[2].strip().isdigit():
        return f"not an index: the first line is not name<TAB>offset<TAB>length: {_excerpt(repr(first)[2:-1])}"
    return None


def _excerpt(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")

