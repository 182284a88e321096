"""The external programs: a missing binary or database file, a crash and a timeout each give a clear SearchError
(and no output file, and no hang); HHblits and MMseqs2 run on a small real database built here (skipped when
HH-suite or MMseqs2 is not installed) and write A3M that the parsers read, query first."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from pathlib import Path

import pytest

from protein.errors import SearchError
from protein.io import read_a3m, read_fasta
from protein.search import (
    HhblitsBinary, HhblitsConfig, JackhmmerBinary, JackhmmerConfig, MmseqsBinary, MmseqsConfig,
)
from protein.search.databases import HHSUITE_SUFFIXES, Database
from protein.search.tools import find_binary
from tests.io.data import shared_file
from tests.search import seqdb


def _fake(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-tool"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def globins():
    return shared_file(seqdb.GLOBINS)


@pytest.fixture
def hbb():
    return read_fasta(shared_file(seqdb.HBB_HUMAN))[0]


def test_a_missing_binary_names_its_package(globins, hbb, tmp_path):
    with pytest.raises(SearchError, match=r"'/nonexistent/jackhmmer' not found .*'hmmer'"):
        JackhmmerBinary(binary="/nonexistent/jackhmmer").search(hbb, globins, tmp_path / "out.sto")
    with pytest.raises(SearchError, match=r"'/nonexistent/hhblits' not found .*'hhsuite'"):
        HhblitsBinary(binary="/nonexistent/hhblits").search(hbb, _hhsuite_files(tmp_path), tmp_path / "out.a3m")
    with pytest.raises(SearchError, match=r"'/nonexistent/mmseqs' not found .*'mmseqs2'"):
        MmseqsBinary(binary="/nonexistent/mmseqs").search(hbb, _mmseqs_files(tmp_path), tmp_path / "out.a3m")


def _hhsuite_files(tmp_path: Path) -> Path:
    prefix = tmp_path / "bfd"
    for suffix in HHSUITE_SUFFIXES:
        Path(f"{prefix}{suffix}").write_text("x")
    return prefix


def _mmseqs_files(tmp_path: Path) -> Path:
    prefix = tmp_path / "uniref"
    for suffix in ("", ".dbtype", ".index", "_h", "_h.dbtype", "_h.index"):
        Path(f"{prefix}{suffix}").write_text("x")
    return prefix


def test_missing_database_files_are_all_named(hbb, tmp_path):
    prefix = _hhsuite_files(tmp_path)
    Path(f"{prefix}_cs219.ffindex").unlink()
    Path(f"{prefix}_hhm.ffdata").unlink()
    with pytest.raises(SearchError, match=rf"database 'bfd': missing file\(s\): {prefix}_cs219.ffindex, "
                                          rf"{prefix}_hhm.ffdata"):
        HhblitsBinary(binary=_fake(tmp_path, "exit 0\n")).search(hbb, prefix, tmp_path / "out.a3m")
    _hhsuite_files(tmp_path)
    configured = Database(name="uniref30", tool="hhblits", path=tmp_path / "uniref30", role="msa",
                          suffixes=HHSUITE_SUFFIXES)
    with pytest.raises(SearchError, match=r"database 'uniref30': missing file\(s\): .*uniref30_a3m.ffdata"):
        HhblitsBinary(binary=_fake(tmp_path, "exit 0\n")).search(hbb, [prefix, configured], tmp_path / "out.a3m")


def test_a_crashing_binary_is_reported_with_its_stderr(globins, hbb, tmp_path):
    crash = _fake(tmp_path, 'echo "Fatal exception (source file p7_pipeline.c)" >&2\nkill -ABRT $$\n')
    with pytest.raises(SearchError, match=r"(?s)fake-tool .* was killed by signal 6 \(SIGABRT\); stderr ends: "
                                          r"Fatal exception"):
        JackhmmerBinary(binary=crash).search(hbb, globins, tmp_path / "out.sto")
    assert not (tmp_path / "out.sto").exists()


def test_a_binary_that_hangs_is_killed_at_the_timeout(globins, hbb, tmp_path):
    config = dataclasses.replace(JackhmmerConfig(), timeout_s=1.0)
    start = time.perf_counter()
    with pytest.raises(SearchError, match=r"fake-tool .* did not finish in 1 s and was killed"):
        JackhmmerBinary(config, binary=_fake(tmp_path, "sleep 300\n")).search(hbb, globins, tmp_path / "out.sto")
    assert time.perf_counter() - start < 10
    assert not (tmp_path / "out.sto").exists()


def test_a_binary_that_writes_nothing_is_reported(globins, hbb, tmp_path):
    with pytest.raises(SearchError, match=r"fake-tool exited normally but wrote no hits.sto"):
        JackhmmerBinary(binary=_fake(tmp_path, "exit 0\n")).search(hbb, globins, tmp_path / "out.sto")


@pytest.mark.skipif(find_binary("mmseqs") is None, reason="MMseqs2 not installed (Debian package 'mmseqs2')")
def test_mmseqs_writes_an_a3m_with_the_query_first(globins, hbb, tmp_path):
    database = tmp_path / "globins"
    subprocess.run(["mmseqs", "createdb", str(globins), str(database), "-v", "1"], check=True, capture_output=True)
    result = MmseqsBinary(MmseqsConfig(iterations=1, cpus=1)).search(hbb, database, tmp_path / "out.a3m")
    msa = read_a3m(result.path, query_sequence=hbb.sequence)
    assert result.format == "a3m" and result.num_hits == len(msa) - 1 >= 40  # nearly all 45 globins
    assert any(description.startswith("HBB_MANSP") for description in msa.descriptions)


def _cstranslate() -> str | None:
    """HH-suite's cstranslate (Debian's wrapper on PATH looks in the wrong folder; its CPU builds work)."""
    for candidate in ("cstranslate", *(f"/usr/libexec/hhsuite/cstranslate-{arch}" for arch in ("sse4.1", "plain"))):
        path = find_binary(candidate)
        if path and subprocess.run([path, "-h"], capture_output=True).returncode in (0, 1):
            return path
    return None


@pytest.fixture
def hhsuite_globins(globins, tmp_path) -> Database:
    """An HH-suite database of the 45 globins (one single-sequence A3M each), built as hhsuitedb.py builds one but
    without the HMM file, which hhblits does not read (and which takes hhmake 3 s to make)."""
    if find_binary("hhblits") is None or find_binary("ffindex_build") is None:
        pytest.skip("HH-suite not installed (Debian package 'hhsuite')")
    cstranslate = _cstranslate()
    if cstranslate is None:
        pytest.skip("HH-suite's cstranslate does not run here")
    folder = tmp_path / "a3m"
    folder.mkdir()
    for number, record in enumerate(read_fasta(globins)):
        (folder / f"{number:03d}").write_text(f">{record.description}\n{record.sequence}\n")
    prefix = tmp_path / "globins"
    data = Path("/usr/share/hhsuite/data")
    for command in (
        ["ffindex_build", "-s", f"{prefix}_a3m.ffdata", f"{prefix}_a3m.ffindex", str(folder)],
        [cstranslate, "-f", "-x", "0.3", "-c", "4", "-I", "a3m", "-b", "-i", f"{prefix}_a3m",
         "-o", f"{prefix}_cs219", "-A", str(data / "cs219.lib"), "-D", str(data / "context_data.lib")],
    ):
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            pytest.skip(f"could not build an HH-suite database here: {command[0]}: {completed.stderr[-300:]}")
    return Database(name="globins", tool="hhblits", path=prefix, role="msa", suffixes=HHSUITE_SUFFIXES[:4])


def test_hhblits_writes_an_a3m_with_the_query_first(hhsuite_globins, hbb, tmp_path):
    config = HhblitsConfig(iterations=2, cpus=1)
    result = HhblitsBinary(config).search(hbb, hhsuite_globins, tmp_path / "bfd_uniref_hits.a3m")
    msa = read_a3m(result.path, query_sequence=hbb.sequence)
    assert result.format == "a3m" and result.num_hits == len(msa) - 1 >= 30
    globin_ids = {record.id for record in read_fasta(shared_file(seqdb.GLOBINS))}
    assert {description.split()[0] for description in msa.descriptions[1:]} <= globin_ids
    # Two databases in one run, as AlphaFold2 searches BFD and UniRef30: every hit of each, once per database.
    both = HhblitsBinary(config).search(hbb, [hhsuite_globins, hhsuite_globins], tmp_path / "both.a3m")
    assert both.num_hits >= result.num_hits
