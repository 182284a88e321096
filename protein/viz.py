"""Pictures of predictions: ColabFold's confidence plots (pLDDT per residue, PAE, MSA coverage) and a 3D view
coloured by pLDDT.

    from protein import viz
    viz.plot_plddt(predictions)                 # matplotlib Figures: shown in a notebook, fig.savefig elsewhere
    viz.plot_pae(predictions)
    viz.plot_msa_coverage(raw_features)
    viz.save_plots("out/query", predictions, raw_features)   # plddt.png, pae.png, coverage.png
    viz.view_3d(predictions[0])                 # py3Dmol cartoon in AlphaFold DB colours, or a text summary

The figures are built with matplotlib's object API (`matplotlib.figure.Figure`), not pyplot: no backend or
display is needed, nothing is shown, and no figure stays registered in pyplot (a batch job writing thousands of
plots keeps no memory). The 3D view needs py3Dmol (`pip install 'protein-platform[viz]'`); without it
`view_3d` returns a text summary of the pLDDT bands.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from protein import confidence
from protein.atomic import atomic_output
from protein.errors import InputError
from protein.prediction import Prediction
from protein.structure import residue_constants as rc

if TYPE_CHECKING:
    import py3Dmol

logger = logging.getLogger(__name__)

# The AlphaFold DB's pLDDT bands by their letter in `confidence.plddt_categories`: name and colour.
PLDDT_BANDS: dict[str, tuple[str, str]] = {
    "H": ("very high (pLDDT >= 90)", "#0053D6"),
    "M": ("confident (70 <= pLDDT < 90)", "#65CBF3"),
    "L": ("low (50 <= pLDDT < 70)", "#FFDB13"),
    "D": ("very low (pLDDT < 50)", "#FF7D45"),
}
PLDDT_FILE = "plddt.png"
PAE_FILE = "pae.png"
COVERAGE_FILE = "coverage.png"
INSTALL_HINT = "pip install 'protein-platform[viz]'"
DPI = 100
# PAE colour scale when no prediction says its maximum (AlphaFold2's is 31.75 A).
DEFAULT_MAX_PAE = 30.0
_GAP_ID = rc.HHBLITS_AA_TO_ID["-"]


def _as_list(predictions: Prediction | Sequence[Prediction]) -> list[Prediction]:
    items = [predictions] if isinstance(predictions, Prediction) else list(predictions)
    if not items:
        raise InputError("no predictions to plot")
    return items


def _labels(predictions: Sequence[Prediction], labels: Sequence[str] | None) -> list[str]:
    if labels is None:
        return [p.model_name for p in predictions]
    if len(labels) != len(predictions):
        raise InputError(f"{len(labels)} labels given for {len(predictions)} predictions")
    return list(labels)


def plot_plddt(
    predictions: Prediction | Sequence[Prediction],
    labels: Sequence[str] | None = None,
    bands: bool = True,
) -> Figure:
    """pLDDT per residue, one line per prediction (ColabFold's "Predicted lDDT per position").

    labels: legend entries (default: the model names). bands: shade the AlphaFold DB confidence bands.
    Axes: x "Residue" (numbered from 1), y "pLDDT" (0-100).
    """
    predictions = _as_list(predictions)
    figure = Figure(figsize=(8, 5), dpi=DPI)
    axes = figure.add_subplot()
    if bands:
        for (lower, upper), letter in zip(((90, 100), (70, 90), (50, 70), (0, 50)), "HMLD"):
            axes.axhspan(lower, upper, color=PLDDT_BANDS[letter][1], alpha=0.15, linewidth=0, zorder=0)
    for prediction, label in zip(predictions, _labels(predictions, labels)):
        plddt = np.asarray(prediction.plddt, dtype=np.float64)
        axes.plot(np.arange(1, len(plddt) + 1), plddt, label=label)
    axes.set_title(f"Predicted lDDT per position: {predictions[0].target_id}")
    axes.set_xlabel("Residue")
    axes.set_ylabel("pLDDT")
    axes.set_ylim(0, 100)
    axes.set_xlim(1, max(len(p.plddt) for p in predictions))
    axes.legend(loc="lower right")
    return figure


def plot_pae(predictions: Prediction | Sequence[Prediction], labels: Sequence[str] | None = None) -> Figure:
    """Predicted aligned error heatmaps, one panel per prediction with a PAE (the `_ptm` models); the others are
    skipped (logged). Rows: aligned residue, columns: scored residue, both numbered from 1; one colour scale.

    Raises:
      InputError: no prediction has a PAE (models without the PAE head, e.g. model_1 rather than model_1_ptm).
    """
    predictions = _as_list(predictions)
    named = list(zip(predictions, _labels(predictions, labels)))
    without = [label for prediction, label in named if prediction.pae is None]
    named = [(prediction, label) for prediction, label in named if prediction.pae is not None]
    if not named:
        raise InputError(
            f"{predictions[0].target_id}: no PAE to plot: none of the models ({', '.join(without)}) has the PAE "
            "head (only the _ptm models, e.g. model_1_ptm, predict one)"
        )
    if without:
        logger.info("%s: no PAE for %s (not a _ptm model): not plotted", predictions[0].target_id, ", ".join(without))
    max_pae = max((p.max_pae for p, _ in named if p.max_pae is not None), default=DEFAULT_MAX_PAE)
    figure = Figure(figsize=(3.5 * len(named) + 1.0, 3.5), dpi=DPI, layout="constrained")
    panels = figure.subplots(1, len(named), squeeze=False)[0]
    for axes, (prediction, label) in zip(panels, named):
        num_res = prediction.pae.shape[0]
        image = axes.imshow(
            np.asarray(prediction.pae), cmap="bwr", vmin=0.0, vmax=max_pae, interpolation="nearest",
            extent=(0.5, num_res + 0.5, num_res + 0.5, 0.5),
        )
        axes.set_title(label)
        axes.set_xlabel("Scored residue")
        axes.set_ylabel("Aligned residue")
    figure.colorbar(image, ax=list(panels), label="Expected position error (Å)")
    return figure


def plot_msa_coverage(features: Mapping[str, np.ndarray], sort_lines: bool = True) -> Figure:
    """ColabFold's "Sequence coverage" plot of an MSA (its `plot_msa_v2` for one chain).

    features: AlphaFold2's raw features; only `msa` (int [num_alignments, num_res], HHblits ids, gap 21, row 0
    the query) is read. Each row is drawn over its aligned (non-gap) columns, coloured by its identity to the
    query (identical columns / query length); gaps stay white. Rows are sorted by identity (the query on top)
    unless `sort_lines` is False. The black line is the number of sequences covering each position.
    Axes: x "Positions", y "Sequences".
    """
    if "msa" not in features:
        raise InputError(f"no 'msa' among the features ({', '.join(sorted(features))}): no coverage to plot")
    msa = np.asarray(features["msa"])
    if msa.ndim != 2 or msa.shape[0] == 0:
        raise InputError(f"the 'msa' feature has shape {msa.shape}; expected [num_alignments, num_res]")
    num_rows, num_res = msa.shape
    aligned = msa != _GAP_ID
    identity = (msa == msa[0]).mean(axis=1)
    order = np.argsort(identity, kind="stable") if sort_lines else np.arange(num_rows)[::-1]
    lines = np.where(aligned, identity[:, None], np.nan)[order]

    figure = Figure(figsize=(8, 5), dpi=DPI)
    axes = figure.add_subplot()
    image = axes.imshow(
        lines, interpolation="nearest", aspect="auto", cmap=colormaps["rainbow_r"].with_extremes(bad="white"),
        vmin=0.0, vmax=1.0, origin="lower",
        extent=(0.5, num_res + 0.5, 0, num_rows),
    )
    axes.plot(np.arange(1, num_res + 1), aligned.sum(axis=0), color="black")
    axes.set_xlim(0.5, num_res + 0.5)
    axes.set_ylim(0, num_rows)
    axes.set_title("Sequence coverage")
    axes.set_xlabel("Positions")
    axes.set_ylabel("Sequences")
    figure.colorbar(image, ax=axes, label="Sequence identity to query")
    return figure


def save_figure(path: str | os.PathLike, figure: Figure) -> Path:
    """Writes `figure` as a PNG atomically; returns the path."""
    with atomic_output(path) as handle:
        figure.savefig(handle, format="png", dpi=DPI)
    logger.debug("wrote %s", path)
    return Path(path)


def save_plots(
    folder: str | os.PathLike,
    predictions: Prediction | Sequence[Prediction],
    raw_features: Mapping[str, np.ndarray] | None = None,
) -> list[Path]:
    """Writes the confidence plots of a target into `folder`: `plddt.png`; `pae.png` when a prediction has a
    PAE; `coverage.png` when `raw_features` holds the MSA. Each file is written atomically; returns the paths."""
    predictions = _as_list(predictions)
    folder = Path(folder)
    written = [save_figure(folder / PLDDT_FILE, plot_plddt(predictions))]
    if any(p.pae is not None for p in predictions):
        written.append(save_figure(folder / PAE_FILE, plot_pae(predictions)))
    if raw_features is not None and "msa" in raw_features:
        written.append(save_figure(folder / COVERAGE_FILE, plot_msa_coverage(raw_features)))
    return written


# -- 3D view ---------------------------------------------------------------------------------------------------


def plddt_stretches(plddt: Sequence[float], residue_numbers: Sequence[int] | None = None) -> list[tuple[int, int, str]]:
    """Runs of consecutive residues in the same AlphaFold DB band: (first, last, letter), residue numbers from
    `residue_numbers` (default 1..num_res); letters as `confidence.plddt_categories` (H, M, L, D)."""
    letters = confidence.plddt_categories(np.asarray(plddt))
    numbers = list(range(1, len(letters) + 1)) if residue_numbers is None else [int(n) for n in residue_numbers]
    stretches: list[tuple[int, int, str]] = []
    for number, letter in zip(numbers, letters):
        if stretches and stretches[-1][2] == letter and stretches[-1][1] == number - 1:
            stretches[-1] = (stretches[-1][0], number, letter)
        else:
            stretches.append((number, number, letter))
    return stretches


class TextView(str):
    """`view_3d`'s answer without py3Dmol: a text summary that shows as itself (unquoted) in a notebook."""

    def __repr__(self) -> str:
        return str(self)


def _pdb_plddt(pdb_text: str) -> tuple[list[int], np.ndarray]:
    """Residue numbers and per-residue pLDDT (the B-factor of CA, else the first atom) of PDB text."""
    from Bio.PDB import PDBParser

    structure = PDBParser(QUIET=True).get_structure("model", io.StringIO(pdb_text))
    residues = list(next(iter(structure)).get_residues()) if len(structure) else []
    if not residues:
        raise InputError("the PDB text holds no residues (expected ATOM records)")
    numbers = [residue.id[1] for residue in residues]
    values = np.asarray([(residue["CA"] if "CA" in residue else next(iter(residue))).get_bfactor()
                         for residue in residues])
    if values.min() < 0.0 or values.max() > 100.0:
        raise InputError(
            f"the PDB text's B-factors run from {values.min()} to {values.max()}: not pLDDT values (0-100); "
            "give a predicted structure"
        )
    return numbers, values


def view_3d(prediction_or_pdb: Prediction | str, width: int = 640, height: int = 480) -> py3Dmol.view | TextView:
    """A py3Dmol cartoon of a prediction (or the PDB text of one chain with pLDDT in the B-factor column),
    coloured by the AlphaFold DB's pLDDT bands (`PLDDT_BANDS`); `width` and `height` in pixels.

    Without py3Dmol: a `TextView`, the pLDDT bands per stretch of residues and how to install py3Dmol.
    """
    if isinstance(prediction_or_pdb, Prediction):
        pdb_text = prediction_or_pdb.to_pdb()
        numbers, plddt = list(range(1, len(prediction_or_pdb.sequence) + 1)), prediction_or_pdb.plddt
        name = f"{prediction_or_pdb.target_id} ({prediction_or_pdb.model_name})"
    else:
        pdb_text = prediction_or_pdb
        numbers, plddt = _pdb_plddt(pdb_text)
        name = "structure"
    stretches = plddt_stretches(plddt, numbers)
    try:
        import py3Dmol
    except ImportError:
        logger.info("py3Dmol is not installed: a text summary instead of the 3D view (%s)", INSTALL_HINT)
        return TextView(_text_summary(name, np.asarray(plddt), stretches))
    view = py3Dmol.view(width=width, height=height)
    view.addModel(pdb_text, "pdb")
    for letter in PLDDT_BANDS:
        residues = [n for first, last, band in stretches if band == letter for n in range(first, last + 1)]
        if residues:
            view.setStyle({"resi": residues}, {"cartoon": {"color": PLDDT_BANDS[letter][1]}})
    view.zoomTo()
    return view


def _text_summary(name: str, plddt: np.ndarray, stretches: Sequence[tuple[int, int, str]]) -> str:
    lines = [
        f"{name}: {len(plddt)} residues, mean pLDDT {float(np.mean(plddt)):.1f}",
        "pLDDT bands by residue (AlphaFold DB colours):",
    ]
    for first, last, letter in stretches:
        band, colour = PLDDT_BANDS[letter]
        residues = f"{first}" if first == last else f"{first}-{last}"
        lines.append(f"  {residues:>11}  {band} {colour}")
    lines.append(f"(no 3D view: py3Dmol is not installed; {INSTALL_HINT})")
    return "\n".join(lines)
