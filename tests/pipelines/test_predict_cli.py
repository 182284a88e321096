"""`protein predict` end to end with random weights and the tiny preset: every output file written and read back
by Biopython, gemmi, json and matplotlib; bad records reported while the others go on; a rerun skips finished
records; `--no-plots` writes no PNG."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import gemmi
import numpy as np
import pytest
from Bio.PDB import PDBParser
from matplotlib.image import imread

from pipelines.cli import main
from protein import predictor as predict_lib
from protein import viz
from protein.features.store import load_features
from protein.prediction import RANDOM_PARAMS_WARNING, Prediction, rank, safe_name
from tests.io.data import shared_file

ESM = "msas/esm/hhblits_uniclust_2017_10_{}_1_A.a3m.gz"
PDB_IDS = ("1a3a", "1xcr", "5ahw")


@pytest.fixture(scope="module")
def three_proteins(tmp_path_factory):
    """A FASTA of three real proteins (ids with characters unsafe for file names) and their HHblits A3M files."""
    folder = tmp_path_factory.mktemp("inputs")
    records, msas = [], []
    for pdb_id in PDB_IDS:
        source = shared_file(ESM.format(pdb_id))
        text = gzip.decompress(source.read_bytes()).decode()
        query = text.split("\n")[1].strip()
        record_id = f"{pdb_id}/A" if pdb_id != "1xcr" else "../1xcr A"
        records.append(f">{record_id} protein {pdb_id}\n{query[:60]}\n{query[60:]}\n")
        msas.append(shutil.copy(source, folder / f"{pdb_id}.a3m.gz"))
    fasta = folder / "three.fasta"
    fasta.write_text("".join(records))
    return fasta, msas


@pytest.fixture(scope="module")
def predicted(three_proteins, tmp_path_factory):
    fasta, msas = three_proteins
    out = tmp_path_factory.mktemp("out")
    argv = [str(fasta), "-o", str(out), "--models", "tiny", "--random-params", "7", "--num-recycle", "1"]
    for msa in msas:
        argv += ["--msa", str(msa)]
    status = main(["predict", *argv])
    return out, argv, status


def test_every_output_is_written_and_readable(predicted, three_proteins):
    out, _, status = predicted
    assert status == 0
    fasta, _ = three_proteins
    ids = [line[1:].split()[0] for line in fasta.read_text().splitlines() if line.startswith(">")]
    assert sorted(p.name for p in out.iterdir()) == sorted(safe_name(i) for i in ids)
    for record_id in ids:
        folder = out / safe_name(record_id)
        names = {p.name for p in folder.iterdir()}
        expected = {
            "ranked_0.pdb", "ranked_0.cif", "unrelaxed_tiny.pdb", "unrelaxed_tiny.cif", "ranking_debug.json",
            "confidence_tiny.json", "pae_tiny.json", "features.npz", "timings.json", "result.json",
            "plddt.png", "pae.png", "coverage.png",
        }
        assert expected <= names, expected - names
        assert not [n for n in names if n.endswith(".tmp")]

        result = json.loads((folder / "result.json").read_text())
        assert result["target_id"] == record_id  # the original id, not the sanitised folder name
        num_res = len(result["sequence"])
        assert result["warning"] == RANDOM_PARAMS_WARNING

        structure = PDBParser(QUIET=True).get_structure("x", folder / "ranked_0.pdb")
        residues = list(structure.get_residues())
        assert len(residues) == num_res and residues[0].id[1] == 1
        remarks = (folder / "ranked_0.pdb").read_text()
        assert "RANDOM WEIGHTS" in remarks

        cif = gemmi.cif.read(str(folder / "ranked_0.cif"))
        block = cif.sole_block()
        local = block.find_values("_ma_qa_metric_local.metric_value")
        assert len(local) == num_res
        model = gemmi.read_structure(str(folder / "ranked_0.cif"))
        assert model[0].count_atom_sites() > 4 * num_res
        b_factors = [atom.b_iso for residue in model[0][0] for atom in residue]
        assert 0.0 <= min(b_factors) and max(b_factors) <= 100.0

        confidence = json.loads((folder / "confidence_tiny.json").read_text())
        assert confidence["residueNumber"] == list(range(1, num_res + 1))
        pae = json.loads((folder / "pae_tiny.json").read_text())
        assert np.asarray(pae[0]["predicted_aligned_error"]).shape == (num_res, num_res)
        ranking = json.loads((folder / "ranking_debug.json").read_text())
        assert ranking["order"] == ["tiny"] and ranking["ranked_by"] == "plddt"
        timings = json.loads((folder / "timings.json").read_text())
        assert timings["features"] >= 0 and "iterations_tiny" in timings

        features = load_features(folder / "features.npz")
        assert features["msa"].shape[1] == num_res and features["msa"].shape[0] > 100  # the A3M was used


def test_a_rerun_skips_finished_records(predicted, capsys):
    out, argv, _ = predicted
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert main(["predict", *argv]) == 0
    assert capsys.readouterr().out.count("already done") == 3
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_bad_records_are_reported_and_the_rest_goes_on(tmp_path, capsys):
    fasta = tmp_path / "mixed.fasta"
    fasta.write_text(">good\nMKTAYIAKQRQISFVKSHFSRQLEE\n>digits\nMKT4AY\n>empty\n>good\nMKV\n>odd\nMKTUOBZJAY\n")
    status = main(["predict", str(fasta), "-o", str(tmp_path / "out"), "--models", "tiny", "--random-params", "0",
                   "--num-recycle", "0"])
    captured = capsys.readouterr()
    assert status == 1
    assert "record 'digits', line 4" in captured.err and "'4'" in captured.err
    assert "record 'empty'" in captured.err and "no sequence" in captured.err
    assert "record 'good': duplicate record id" in captured.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good", "odd"]
    result = json.loads((tmp_path / "out/odd/result.json").read_text())
    # U, O, B, Z, J are read as unknown (X), as AlphaFold2's query aatype does, and the result says so.
    assert any("5 residue letters read as unknown (X): U4, O5, B6, Z7, J8" in note for note in result["notes"])
    assert "2 of 5 records predicted" in captured.out


def test_an_empty_fasta_is_an_error(tmp_path, capsys):
    fasta = tmp_path / "empty.fasta"
    fasta.write_text("\n")
    assert main(["predict", str(fasta), "-o", str(tmp_path / "out"), "--models", "tiny", "--random-params", "0"]) == 1
    assert "empty.fasta" in capsys.readouterr().err


def test_a_bad_alignment_in_the_msa_dir_fails_only_its_record(tmp_path, capsys):
    fasta = tmp_path / "two.fasta"
    fasta.write_text(">a\nMKTAYIAKQR\n>b\nGSHMLEDPVD\n")
    (tmp_path / "msas/a").mkdir(parents=True)
    (tmp_path / "msas/a/bfd_hits.a3m").write_text(">not_the_query\nMKTAYIAKQL\n")
    (tmp_path / "msas/b.a3m").write_text(">b\nGSHMLEDPVD\n>hit\nGSHM-EDPVE\n")
    status = main(["predict", str(fasta), "-o", str(tmp_path / "out"), "--msa-dir", str(tmp_path / "msas"),
                   "--models", "tiny", "--random-params", "0", "--num-recycle", "0"])
    captured = capsys.readouterr()
    assert status == 1 and "record 'a'" in captured.err and "bfd_hits.a3m" in captured.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b"]
    assert "1 of 2 records predicted" in captured.out


def test_an_alignment_of_no_input_sequence_is_an_error(tmp_path, capsys):
    fasta = tmp_path / "one.fasta"
    fasta.write_text(">a\nMKTAYIAKQR\n")
    a3m = tmp_path / "other.a3m"
    a3m.write_text(">other\nGGGGGGGGGG\n>hit\nGGGGAGGGGG\n")
    status = main(["predict", str(fasta), "-o", str(tmp_path / "out"), "--msa", str(a3m), "--models", "tiny",
                   "--random-params", "0"])
    assert status == 1
    assert "other.a3m: its query" in capsys.readouterr().err


def test_the_confidence_plots_are_written_with_axes_and_labels(tmp_path, monkeypatch):
    figures = {}
    save_figure = viz.save_figure

    def keep(path, figure):
        figures[path.name] = figure
        return save_figure(path, figure)

    monkeypatch.setattr(viz, "save_figure", keep)
    fasta = Path(__file__).parents[2] / "data" / "ubiquitin.fasta"
    status = main(["predict", str(fasta), "-o", str(tmp_path), "--models", "tiny", "--random-params", "0",
                   "--num-recycle", "0"])
    assert status == 0
    folder = tmp_path / "ubiquitin"
    assert sorted(figures) == ["coverage.png", "pae.png", "plddt.png"]
    result = json.loads((folder / "result.json").read_text())
    num_res = len(result["sequence"])
    # result.json is written last: after the plots.
    assert all((folder / name).stat().st_mtime_ns <= (folder / "result.json").stat().st_mtime_ns for name in figures)

    (plddt_axes,) = figures["plddt.png"].axes
    assert (plddt_axes.get_xlabel(), plddt_axes.get_ylabel()) == ("Residue", "pLDDT")
    (line,) = plddt_axes.lines
    confidence = json.loads((folder / "confidence_tiny.json").read_text())
    np.testing.assert_allclose(line.get_ydata(), confidence["confidenceScore"], atol=0.01)
    pae_axes = next(axes for axes in figures["pae.png"].axes if axes.images)
    assert (pae_axes.get_xlabel(), pae_axes.get_ylabel()) == ("Scored residue", "Aligned residue")
    pae = json.loads((folder / "pae_tiny.json").read_text())[0]["predicted_aligned_error"]
    np.testing.assert_allclose(pae_axes.images[0].get_array(), pae, atol=0.051)
    coverage_axes = next(axes for axes in figures["coverage.png"].axes if axes.images)
    assert (coverage_axes.get_xlabel(), coverage_axes.get_ylabel()) == ("Positions", "Sequences")
    assert coverage_axes.images[0].get_array().shape == (1, num_res)  # single-sequence mode: the query alone

    for name, figure in figures.items():
        image = imread(folder / name)
        width, height = figure.get_size_inches() * figure.dpi
        assert image.shape[:2] == (round(height), round(width))
        assert len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > 10  # not one flat colour


def test_no_plots_writes_no_png(tmp_path, monkeypatch):
    def predict(self, target, *args):  # no network: a flat prediction, so that only the writing is tested
        num_res = len(target.sequence)
        prediction = Prediction(target.id, "tiny", target.sequence, np.zeros((num_res, 37, 3)),
                                np.ones((num_res, 37)), np.full(num_res, 50.0), random_params=True)
        features, notes = predict_lib.raw_features(target)
        return rank([prediction]), features, {}, notes

    monkeypatch.setattr(predict_lib.Predictor, "predict", predict)
    fasta = tmp_path / "one.fasta"
    fasta.write_text(">a\nMKTAYIAKQR\n")
    assert main(["predict", str(fasta), "-o", str(tmp_path / "out"), "--models", "tiny", "--random-params", "0",
                 "--no-plots"]) == 0
    names = {path.name for path in (tmp_path / "out" / "a").iterdir()}
    assert "result.json" in names and not [name for name in names if name.endswith(".png")]


def test_compile_cache_lets_a_later_run_load_the_compiled_program(tmp_path):
    """--compile-cache: the first run keeps its compiled program there, and a second process loads it (JAX logs
    the persistent cache hit) instead of compiling again; the results are the same."""
    import subprocess
    import sys

    fasta = tmp_path / "one.fasta"
    fasta.write_text(">p\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ\n")
    cache = tmp_path / "xla"
    runs = []
    for name in ("first", "second"):
        command = [sys.executable, "-m", "pipelines.cli", "-v", "predict", str(fasta), "-o", str(tmp_path / name),
                   "--models", "tiny", "--random-params", "0", "--num-recycle", "0", "--no-plots",
                   "--compile-cache", str(cache)]
        runs.append(subprocess.run(command, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
                                   timeout=300))
        assert runs[-1].returncode == 0, runs[-1].stderr[-3000:]
        assert any(cache.iterdir())
    assert "Persistent compilation cache hit" not in runs[0].stderr
    assert "Persistent compilation cache hit" in runs[1].stderr
    first, second = (json.loads((tmp_path / name / "p" / "result.json").read_text()) for name in ("first", "second"))
    assert first["models"][0]["mean_plddt"] == second["models"][0]["mean_plddt"]
