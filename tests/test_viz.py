"""Confidence plots and the 3D view on small hand-made predictions and MSAs: each figure's axes, labels and
data, the PNGs read back, the py3Dmol view and its text fallback, and `write_target(plots=True)`."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from matplotlib.image import imread

from protein import viz
from protein.errors import InputError
from protein.prediction import RESULT_FILE, Prediction, write_target
from protein.structure import residue_constants as rc

SEQUENCE = "MKTAYIAK"
# Bands by residue: 1-2 very high, 3-4 confident, 5 low, 6-7 very low, 8 very high.
PLDDT = np.array([95.0, 92.0, 80.0, 75.0, 60.0, 45.0, 30.0, 91.0])
BACKBONE = ("N", "CA", "C", "O")


def make_prediction(model_name: str = "model_1_ptm", with_pae: bool = True, shift: float = 0.0,
                    rank: int = 0) -> Prediction:
    """A straight backbone of 8 residues (3.8 A apart) with the pLDDT above and a made-up asymmetric PAE."""
    num_res = len(SEQUENCE)
    positions = np.zeros((num_res, 37, 3), np.float32)
    mask = np.zeros((num_res, 37), np.float32)
    for offset, atom in enumerate(BACKBONE):
        positions[:, rc.atom_order[atom], 0] = 3.8 * np.arange(num_res) + 0.5 * offset
        positions[:, rc.atom_order[atom], 1] = offset
        mask[:, rc.atom_order[atom]] = 1.0
    rows, columns = np.meshgrid(np.arange(num_res), np.arange(num_res), indexing="ij")
    pae = (np.abs(rows - columns) + 0.1 * rows).astype(np.float32) if with_pae else None
    return Prediction(
        target_id="toy", model_name=model_name, sequence=SEQUENCE, atom_positions=positions, atom_mask=mask,
        plddt=np.clip(PLDDT + shift, 0, 100), pae=pae, max_pae=31.75 if with_pae else None,
        ptm=0.5 if with_pae else None, rank=rank,
    )


def toy_features() -> dict[str, np.ndarray]:
    """A 3-row MSA of 4 columns (HHblits ids, gap 21): identities to the query 1, 0.5 and 0.75."""
    msa = np.array([[0, 1, 2, 3], [0, 1, 21, 21], [0, 1, 2, 9]], np.int32)
    return {"msa": msa, "deletion_matrix_int": np.zeros_like(msa)}


def test_plot_plddt_has_one_line_per_model_with_labels():
    predictions = [make_prediction("model_1_ptm"), make_prediction("model_2_ptm", shift=-20.0, rank=1)]
    figure = viz.plot_plddt(predictions)
    (axes,) = figure.axes
    assert axes.get_xlabel() == "Residue" and axes.get_ylabel() == "pLDDT"
    assert axes.get_ylim() == (0.0, 100.0)
    assert len(axes.lines) == 2
    np.testing.assert_array_equal(axes.lines[0].get_xdata(), np.arange(1, 9))
    np.testing.assert_allclose(axes.lines[0].get_ydata(), PLDDT)
    np.testing.assert_allclose(axes.lines[1].get_ydata(), np.clip(PLDDT - 20, 0, 100))
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["model_1_ptm", "model_2_ptm"]
    assert len(axes.patches) == 4  # the four confidence bands


def test_plot_plddt_takes_one_prediction_and_labels():
    figure = viz.plot_plddt(make_prediction(), labels=["seed 0"], bands=False)
    (axes,) = figure.axes
    assert len(axes.lines) == 1 and not axes.patches
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["seed 0"]
    with pytest.raises(InputError, match="2 labels given for 1 predictions"):
        viz.plot_plddt(make_prediction(), labels=["a", "b"])


def test_plot_pae_heatmap_is_the_pae():
    predictions = [make_prediction("model_1_ptm"), make_prediction("model_3_ptm", rank=1)]
    predictions[1].pae = predictions[1].pae.T.copy()
    figure = viz.plot_pae(predictions)
    panels = [axes for axes in figure.axes if axes.images]
    assert len(panels) == 2
    for axes, prediction in zip(panels, predictions):
        assert axes.get_xlabel() == "Scored residue" and axes.get_ylabel() == "Aligned residue"
        assert axes.get_title() == prediction.model_name
        np.testing.assert_array_equal(axes.images[0].get_array(), prediction.pae)
        # Row i (aligned residue i + 1) is drawn at y = i + 1, from the top.
        assert axes.images[0].get_extent() == [0.5, 8.5, 8.5, 0.5]
    colorbars = [axes for axes in figure.axes if axes.get_ylabel() == "Expected position error (Å)"]
    assert len(colorbars) == 1
    assert panels[0].images[0].get_clim() == (0.0, 31.75)


def test_plot_pae_skips_models_without_pae_and_refuses_when_none_has_one():
    figure = viz.plot_pae([make_prediction("model_1", with_pae=False), make_prediction("model_1_ptm", rank=1)])
    panels = [axes for axes in figure.axes if axes.images]
    assert [axes.get_title() for axes in panels] == ["model_1_ptm"]
    with pytest.raises(InputError, match=r"toy: no PAE to plot: .*model_1.*_ptm"):
        viz.plot_pae(make_prediction("model_1", with_pae=False))


def test_plot_msa_coverage_hand_worked():
    figure = viz.plot_msa_coverage(toy_features())
    axes = next(axes for axes in figure.axes if axes.images)
    assert axes.get_xlabel() == "Positions" and axes.get_ylabel() == "Sequences"
    assert axes.get_title() == "Sequence coverage"
    # Rows sorted by identity, lowest at the bottom (origin lower): the query is on top; gaps are NaN (white).
    expected = np.array([[0.5, 0.5, np.nan, np.nan], [0.75, 0.75, 0.75, 0.75], [1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(np.ma.filled(axes.images[0].get_array(), np.nan), expected)
    assert tuple(axes.images[0].cmap.get_bad()) == (1.0, 1.0, 1.0, 1.0)
    (coverage,) = axes.lines
    np.testing.assert_array_equal(coverage.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(coverage.get_ydata(), [3, 3, 2, 2])
    assert any(other.get_ylabel() == "Sequence identity to query" for other in figure.axes)


def test_plot_msa_coverage_needs_the_msa():
    with pytest.raises(InputError, match="no 'msa' among the features"):
        viz.plot_msa_coverage({"aatype": np.zeros((4, 21))})


def _assert_image(path, size):
    image = imread(path)
    assert image.shape[:2] == size and image.shape[2] in (3, 4)
    assert len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > 10  # not one flat colour


def test_save_plots_writes_png_images(tmp_path):
    predictions = [make_prediction("model_1_ptm"), make_prediction("model_2_ptm", shift=-20.0, rank=1)]
    written = viz.save_plots(tmp_path / "toy", predictions, toy_features())
    assert [path.name for path in written] == ["plddt.png", "pae.png", "coverage.png"]
    _assert_image(written[0], (500, 800))
    _assert_image(written[1], (350, 800))
    _assert_image(written[2], (500, 800))
    assert sorted(path.name for path in (tmp_path / "toy").iterdir()) == ["coverage.png", "pae.png", "plddt.png"]


def test_save_plots_without_pae_or_features_writes_the_plddt_plot_only(tmp_path):
    written = viz.save_plots(tmp_path, make_prediction("model_1", with_pae=False))
    assert [path.name for path in written] == ["plddt.png"]


def test_write_target_writes_plots_before_result_json(tmp_path, monkeypatch):
    save_plots = viz.save_plots
    seen = []

    def spy(folder, predictions, raw_features=None):
        seen.append((folder / RESULT_FILE).exists())
        return save_plots(folder, predictions, raw_features)

    monkeypatch.setattr(viz, "save_plots", spy)
    write_target(tmp_path / "plain", [make_prediction()], toy_features())
    assert seen == [] and not list((tmp_path / "plain").glob("*.png"))
    write_target(tmp_path / "plots", [make_prediction()], toy_features(), plots=True)
    assert seen == [False]
    assert {"plddt.png", "pae.png", "coverage.png", RESULT_FILE} <= {p.name for p in (tmp_path / "plots").iterdir()}
    assert json.loads((tmp_path / "plots" / RESULT_FILE).read_text())["target_id"] == "toy"


def test_plddt_stretches():
    assert viz.plddt_stretches(PLDDT) == [(1, 2, "H"), (3, 4, "M"), (5, 5, "L"), (6, 7, "D"), (8, 8, "H")]
    # A break in the numbering starts a new stretch.
    assert viz.plddt_stretches([95, 95, 95], [1, 2, 5]) == [(1, 2, "H"), (5, 5, "H")]


def test_view_3d_holds_the_pdb_and_the_plddt_colours():
    pytest.importorskip("py3Dmol")
    prediction = make_prediction()
    html = viz.view_3d(prediction).startjs  # the viewer's JavaScript: the model and the styles
    first_atom = next(line for line in prediction.to_pdb().splitlines() if line.startswith("ATOM"))
    assert first_atom in html
    expected = {"#0053D6": [1, 2, 8], "#65CBF3": [3, 4], "#FFDB13": [5], "#FF7D45": [6, 7]}
    for colour, residues in expected.items():
        assert f'{{"resi": {residues}}},{{"cartoon": {{"color": "{colour}"}}}}' in html


def test_view_3d_of_pdb_text_reads_the_plddt_from_the_b_factors():
    pytest.importorskip("py3Dmol")
    html = viz.view_3d(make_prediction().to_pdb()).startjs
    assert '{"resi": [6, 7]},{"cartoon": {"color": "#FF7D45"}}' in html


def test_view_3d_refuses_b_factors_that_are_not_plddt():
    pdb = make_prediction().to_pdb().replace(" 95.00 ", "120.00 ")
    with pytest.raises(InputError, match="not pLDDT values"):
        viz.view_3d(pdb)


def test_view_3d_without_py3dmol_is_a_text_summary(monkeypatch):
    monkeypatch.setitem(sys.modules, "py3Dmol", None)  # import py3Dmol raises ImportError
    view = viz.view_3d(make_prediction())
    assert isinstance(view, str) and repr(view) == str(view)
    lines = str(view).splitlines()
    assert lines[0] == "toy (model_1_ptm): 8 residues, mean pLDDT 71.0"
    assert [line.split()[0] for line in lines[2:7]] == ["1-2", "3-4", "5", "6-7", "8"]
    assert "very high" in lines[2] and "#0053D6" in lines[2] and "very low" in lines[5] and "#FF7D45" in lines[5]
    assert "pip install 'protein-platform[viz]'" in lines[-1]
