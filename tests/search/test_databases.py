"""Database configuration: the example's presets name AlphaFold2's and ColabFold's files; `check` names every
missing, unreadable or malformed file of a database tree built in tmp_path; bad configurations fail on load."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from protein.errors import InputError
from protein.search import databases
from protein.search.databases import Problem, check, load_config

DATA = Path(__file__).parents[2] / "data"
EXAMPLE = DATA / "databases.example.toml"


def _build(config: databases.DatabaseConfig, names=None) -> None:
    """Every file of the named databases (default: all), each with content that passes the check."""
    for database in (config.databases[name] for name in names) if names else config.databases.values():
        for path in database.files:
            if database.format == "mmcif_folder" and path == database.path:
                path.mkdir(parents=True, exist_ok=True)
                (path / "1ubq.cif").write_text("data_1UBQ\n")
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if database.format == "fasta" and path == database.path:
                path.write_text(">tr|A0A000|A0A000_HUMAN some protein\nMKVLAT\nGGHE\n>second\nMMM\n")
            elif path.name.endswith((".ffindex", ".index")):
                path.write_text("entry_1\t0\t120\nentry_2\t120\t80\n")
            elif path.name.endswith(".dbtype"):
                path.write_bytes(b"\x00\x00\x00\x00")
            else:
                path.write_bytes(b"some data\n")


@pytest.fixture
def example(tmp_path) -> databases.DatabaseConfig:
    """The example configuration with its root in tmp_path and every file present."""
    config = load_config(EXAMPLE, root=tmp_path / "af2_data")
    _build(config)
    return config


def test_example_presets_name_alphafold2_and_colabfold_files():
    config = load_config(EXAMPLE)
    assert config.root == Path("/data/alphafold")
    assert [d.name for d in config.preset("full_dbs")] == [
        "uniref90", "mgnify", "bfd", "uniref30", "pdb_seqres", "pdb_mmcif"]
    assert [d.name for d in config.preset("reduced_dbs")] == [
        "uniref90", "mgnify", "small_bfd", "pdb_seqres", "pdb_mmcif"]
    assert [d.tool for d in config.preset("colabfold")] == ["mmseqs", "mmseqs"]

    bfd = config.database("bfd")
    assert (bfd.tool, bfd.format, bfd.role) == ("hhblits", "hhsuite", "msa")
    prefix = "/data/alphafold/bfd/bfd_metaclust_clu_complete_id30_c90_final_seq.sorted_opt"
    assert [str(p) for p in bfd.files] == [
        prefix + s for s in ("_a3m.ffdata", "_a3m.ffindex", "_cs219.ffdata", "_cs219.ffindex", "_hhm.ffdata",
                             "_hhm.ffindex")]
    assert [p.name for p in config.database("uniref30").files][:2] == [
        "UniRef30_2021_03_a3m.ffdata", "UniRef30_2021_03_a3m.ffindex"]
    assert config.database("uniref90").files == (Path("/data/alphafold/uniref90/uniref90.fasta"),)
    assert config.database("mgnify").files == (Path("/data/alphafold/mgnify/mgy_clusters_2022_05.fa"),)
    assert config.database("small_bfd").files == (
        Path("/data/alphafold/small_bfd/bfd-first_non_consensus_sequences.fasta"),)
    seqres = config.database("pdb_seqres")
    assert (seqres.tool, seqres.role, seqres.files) == (
        "hmmsearch", "templates", (Path("/data/alphafold/pdb_seqres/pdb_seqres.txt"),))
    mmcif = config.database("pdb_mmcif")
    assert mmcif.role == "structures"
    assert mmcif.files == (
        Path("/data/alphafold/pdb_mmcif/mmcif_files"), Path("/data/alphafold/pdb_mmcif/obsolete.dat"))
    envdb = {p.name for p in config.database("colabfold_envdb").files}
    assert {"colabfold_envdb_202108_db", "colabfold_envdb_202108_db.dbtype", "colabfold_envdb_202108_db.index",
            "colabfold_envdb_202108_db.idx", "colabfold_envdb_202108_db_h", "colabfold_envdb_202108_db_seq",
            "colabfold_envdb_202108_db_aln"} <= envdb


def test_complete_tree_has_no_problems(example):
    assert check(example) == []
    for preset in example.presets:
        assert check(example, preset) == []


def test_every_problem_is_named(example):
    root = example.root
    bfd_prefix = "bfd/bfd_metaclust_clu_complete_id30_c90_final_seq.sorted_opt"
    (root / f"{bfd_prefix}_a3m.ffdata").unlink()
    (root / f"{bfd_prefix}_hhm.ffindex").unlink()
    (root / f"{bfd_prefix}_cs219.ffindex").write_text("not an index line\n")
    (root / "uniref30/UniRef30_2021_03_hhm.ffdata").write_bytes(b"")
    (root / "uniref90/uniref90.fasta").write_text("MKVLA\n>late header\nMKV\n")
    (root / "mgnify/mgy_clusters_2022_05.fa").unlink()
    (root / "mgnify/mgy_clusters_2022_05.fa").symlink_to(root / "mgnify/elsewhere.fa")
    (root / "pdb_mmcif/mmcif_files/1ubq.cif").unlink()
    (root / "pdb_mmcif/obsolete.dat").unlink()
    (root / "pdb_mmcif/obsolete.dat").mkdir()
    (root / "colabfold/uniref30_2302_db.dbtype").write_bytes(b"\x00" * 7)

    problems = check(example)

    found = {(p.database, p.path.relative_to(root).as_posix(), p.message) for p in problems}
    assert found == {
        ("bfd", f"{bfd_prefix}_a3m.ffdata", "missing"),
        ("bfd", f"{bfd_prefix}_hhm.ffindex", "missing"),
        ("bfd", f"{bfd_prefix}_cs219.ffindex",
         "not an index: the first line is not name<TAB>offset<TAB>length: 'not an index line'"),
        ("uniref30", "uniref30/UniRef30_2021_03_hhm.ffdata", "empty file"),
        ("uniref90", "uniref90/uniref90.fasta", "not FASTA: the first line is not a '>' header: 'MKVLA'"),
        ("mgnify", "mgnify/mgy_clusters_2022_05.fa", f"missing (broken symbolic link to {root}/mgnify/elsewhere.fa)"),
        ("pdb_mmcif", "pdb_mmcif/mmcif_files", "no .cif files in the folder"),
        ("pdb_mmcif", "pdb_mmcif/obsolete.dat", "a folder, expected a file"),
        ("colabfold_uniref30", "colabfold/uniref30_2302_db.dbtype",
         "an MMseqs2 .dbtype file is 4 bytes, this one 7"),
    }
    assert len(problems) == len(found)
    # a preset sees only its own databases' problems
    assert {p.database for p in check(example, "reduced_dbs")} == {"uniref90", "mgnify", "pdb_mmcif"}
    assert {p.database for p in check(example, "colabfold")} == {"colabfold_uniref30"}


def test_missing_root_names_root_and_every_file(tmp_path):
    config = load_config(EXAMPLE, root=tmp_path / "nowhere")
    problems = check(config, "full_dbs")
    assert problems[0] == Problem(None, tmp_path / "nowhere", "root folder does not exist")
    # uniref90, mgnify, pdb_seqres: 1 file each; bfd, uniref30: 6 each; pdb_mmcif: folder + obsolete.dat
    assert len(problems) == 1 + 3 + 12 + 2
    assert all(p.message == "missing" for p in problems[1:])
    assert str(problems[1]) == f"uniref90: {tmp_path}/nowhere/uniref90/uniref90.fasta: missing"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_named(example):
    path = example.root / "pdb_seqres/pdb_seqres.txt"
    path.chmod(0)
    try:
        assert [(p.database, p.message) for p in check(example)] == [("pdb_seqres", "unreadable (Permission denied)")]
    finally:
        path.chmod(0o644)


def test_unreadable_file_is_named_simulated(example, monkeypatch):
    """As above, for a run as root: the file's open fails as a mode of 000 makes it fail for other users."""
    unreadable = example.root / "pdb_seqres/pdb_seqres.txt"

    def open_denied(path, *args, **kwargs):
        if Path(path) == unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(databases, "open", open_denied, raising=False)
    assert [(p.database, p.message) for p in check(example)] == [("pdb_seqres", "unreadable (Permission denied)")]


@pytest.mark.parametrize(
    "content, problem",
    [
        (b">a desc\nMKV\n>b\nAAA\n", None),
        (b"\n\n>a\nmkv*\n", None),  # blank lines first, lower case and a stop are residues
        (b">a " + b"x" * 5000 + b"\nMKV\n", None),  # a header longer than the probe
        (b">a\n" + b"MKVLA" * 1000 + b"\n", None),  # a sequence longer than the probe
        (b">a\n" + b"MKVLATTTGG\n" * 500, None),
        (b">\nMKV\n", "not FASTA: the first record's header is empty"),
        (b">a\n>b\nMKV\n", "not FASTA: the first record ('>a') has no sequence"),
        (b">only a header\n", "not FASTA: the first record ('>only a header') has no sequence"),
        (b">a\nMK1V\n", "not FASTA: the first record's sequence has characters that are not residues: 'MK1V'"),
        (b"# STOCKHOLM 1.0\n", "not FASTA: the first line is not a '>' header: '# STOCKHOLM 1.0'"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary data, not FASTA"),
        (b">a\n\xff\xfeMKV\n", "not text (not UTF-8), not FASTA"),
        (b"\n\n", "no FASTA record"),
    ],
)
def test_fasta_first_record(tmp_path, content, problem):
    config = _fasta_config(tmp_path, "db.fasta")
    (tmp_path / "db.fasta").write_bytes(content)
    assert [p.message for p in check(config)] == ([problem] if problem else [])


def test_gzip_fasta_is_read_through(tmp_path):
    config = _fasta_config(tmp_path, "db.fasta.gz")
    (tmp_path / "db.fasta.gz").write_bytes(gzip.compress(b">a\nMKV\n"))
    assert check(config) == []
    (tmp_path / "db.fasta.gz").write_bytes(gzip.compress(b"not fasta\n"))
    assert [p.message for p in check(config)] == ["not FASTA: the first line is not a '>' header: 'not fasta'"]
    (tmp_path / "db.fasta.gz").write_bytes(gzip.compress(b">a\nMKV\n")[:20])  # truncated
    assert [p.message for p in check(config)][0].startswith("corrupt gzip file")


def _fasta_config(folder: Path, name: str) -> databases.DatabaseConfig:
    path = folder / "dbs.toml"
    path.write_text(f'root = "."\n[databases.seqs]\ntool = "jackhmmer"\npath = "{name}"\n')
    return load_config(path)


def test_root_is_relative_to_the_file_and_expands_variables(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf/dbs.toml"
    path.write_text('root = "../dbs"\n[databases.u]\ntool = "jackhmmer"\npath = "u.fasta"\n')
    assert load_config(path).database("u").path == tmp_path / "conf/../dbs/u.fasta"
    monkeypatch.chdir(tmp_path)
    assert load_config(path, root="elsewhere").database("u").path == tmp_path / "elsewhere/u.fasta"

    monkeypatch.setenv("DEMO_DATA_DIR", str(tmp_path / "from_env"))
    path.write_text('root = "${DEMO_DATA_DIR}/af2"\n[databases.u]\ntool = "jackhmmer"\npath = "u.fasta"\n')
    assert load_config(path).database("u").path == tmp_path / "from_env/af2/u.fasta"
    monkeypatch.delenv("DEMO_DATA_DIR")
    with pytest.raises(InputError, match=r"dbs.toml: root .* not set: DEMO_DATA_DIR"):
        load_config(path)


def test_suffixes_role_and_extra_files_override_the_tool(tmp_path):
    path = tmp_path / "dbs.toml"
    path.write_text(
        'root = "/dbs"\n'
        '[databases.pdb100]\ntool = "mmseqs"\npath = "pdb100_230517"\nrole = "templates"\n'
        'suffixes = ["", ".dbtype", ".index"]\nextra_files = ["pdb100_230517.fasta"]\n'
    )
    database = load_config(path).database("pdb100")
    assert database.role == "templates"
    assert [str(p) for p in database.files] == [
        "/dbs/pdb100_230517", "/dbs/pdb100_230517.dbtype", "/dbs/pdb100_230517.index", "/dbs/pdb100_230517.fasta"]


@pytest.mark.parametrize(
    "text, message",
    [
        ('root = "/d"\n[databases.u]\ntool = "jackhmmer"\npth = "u.fasta"\n',
         r"unknown key\(s\) in databases.u: 'pth'"),
        ('root = "/d"\n[databases.u]\ntool = "jackhmmer"\n', r"databases.u.path is missing"),
        ('root = "/d"\n[databases.u]\ntool = "blast"\npath = "u"\n', r"databases.u.tool: unknown tool 'blast'"),
        ('root = "/d"\n[databases.u]\ntool = "jackhmmer"\npath = 3\n', r"databases.u.path must be a string, not int"),
        ('root = "/d"\n[databases.u]\ntool = "jackhmmer"\npath = "u"\nrole = "msas"\n', r"unknown role 'msas'"),
        ('root = "/d"\n[databases.u]\ntool = "jackhmmer"\npath = "u"\nsuffixes = [".x"]\n',
         r"databases.u.suffixes: only for prefix databases"),
        ('root = "/d"\n[databases.u]\ntool = "jackhmmer"\npath = "u"\n[presets]\nfull = ["u", "bfd"]\n',
         r"presets.full names undefined databases: bfd"),
        ('root = "/d"\n[databases.u]\ntool = "jackhmmer"\npath = "u"\n[presets]\nfull = "u"\n',
         r"presets.full must be a list of database names"),
        ('root = "/d"\ndatabase = {}\n', r"unknown key\(s\) in the top level: 'database'"),
        ('[databases.u]\ntool = "jackhmmer"\npath = "u"\n', r"no 'root'"),
        ('root = "/d"\n[databases.u\n', r"not valid TOML"),
    ],
)
def test_bad_configuration_fails_on_load_naming_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_missing_file_and_unknown_preset(tmp_path):
    with pytest.raises(InputError, match=r"absent.toml: cannot read the database configuration"):
        load_config(tmp_path / "absent.toml")
    config = load_config(EXAMPLE)
    with pytest.raises(InputError, match=r"no preset 'full' \(presets: full_dbs, reduced_dbs, colabfold\)"):
        check(config, "full")


def test_configuration_is_frozen():
    config = load_config(EXAMPLE)
    with pytest.raises(TypeError):
        config.databases["x"] = config.database("bfd")
    with pytest.raises(AttributeError):
        config.database("bfd").path = Path("/x")


def test_demo_configuration_is_complete():
    config = load_config(DATA / "demo_databases.toml")
    assert [d.name for d in config.preset("demo")] == ["uniref90", "mgnify"]
    assert config.database("uniref90").path == DATA / "demo_db/demo_uniref.fasta"
    assert check(config, "demo") == []
