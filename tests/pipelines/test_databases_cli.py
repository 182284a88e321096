"""`protein databases check`: exit 0 and a listing when every file is there, 1 and every problem when not."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main

DATA = Path(__file__).parents[2] / "data"


@pytest.fixture
def config(tmp_path) -> Path:
    """Three FASTA databases under tmp_path/dbs, of which two make preset `small`; all present."""
    (tmp_path / "dbs").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / f"dbs/{name}.fasta").write_text(f">{name}1\nMKV\n")
    path = tmp_path / "dbs.toml"
    path.write_text(
        'root = "dbs"\n'
        '[databases.a]\ntool = "jackhmmer"\npath = "a.fasta"\n'
        '[databases.b]\ntool = "jackhmmer"\npath = "b.fasta"\n'
        '[databases.c]\ntool = "hmmsearch"\npath = "c.fasta"\n'
        '[presets]\nsmall = ["a", "c"]\n'
    )
    return path


def test_all_present(config, capsys):
    assert main(["databases", "check", str(config), "--preset", "small"]) == 0
    out, err = capsys.readouterr()
    root = config.parent / "dbs"
    assert out.splitlines() == [
        f"OK {config} (preset small, root {root}): 2 databases",
        f"  a (jackhmmer, msa): {root}/a.fasta",
        f"  c (hmmsearch, templates): {root}/c.fasta",
    ]
    assert err == ""


def test_every_problem_is_listed(config, capsys):
    root = config.parent / "dbs"
    (root / "a.fasta").unlink()
    (root / "b.fasta").write_text("garbage\n")
    (root / "c.fasta").write_text("")
    assert main(["databases", "check", str(config)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"error: a: {root}/a.fasta: missing",
        f"error: b: {root}/b.fasta: not FASTA: the first line is not a '>' header: 'garbage'",
        f"error: c: {root}/c.fasta: empty file",
        f"{config} (all databases, root {root}): 3 problems in 3 of 3 databases",
    ]
    # the preset leaves b out
    assert main(["databases", "check", str(config), "--preset", "small"]) == 1
    assert "2 problems in 2 of 2 databases" in capsys.readouterr().err


def test_root_option_replaces_the_file_root(config, tmp_path, capsys):
    assert main(["databases", "check", str(config), "--root", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert f"error: {tmp_path}/empty: root folder does not exist" in err.splitlines()
    assert f"error: a: {tmp_path}/empty/a.fasta: missing" in err.splitlines()


def test_unknown_preset_ends_with_status_1(config, capsys):
    assert main(["databases", "check", str(config), "--preset", "full_dbs"]) == 1
    assert capsys.readouterr().err == f"error: {config}: no preset 'full_dbs' (presets: small)\n"


def test_misspelled_key_ends_with_status_1(config, capsys):
    config.write_text('root = "dbs"\n[databases.a]\ntool = "jackhmmer"\npaht = "a.fasta"\n')
    assert main(["databases", "check", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {config}: unknown key(s) in databases.a: 'paht'")


def test_demo_databases_check(capsys):
    assert main(["databases", "check", str(DATA / "demo_databases.toml"), "--preset", "demo"]) == 0
    assert capsys.readouterr().out.startswith(f"OK {DATA / 'demo_databases.toml'} (preset demo, ")
