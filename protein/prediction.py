"""One model's prediction of one target, its ranking among the target's models, and the files AlphaFold2 users
expect in a target's output folder.

Per target (`write_target`): `ranked_{i}.pdb` / `ranked_{i}.cif` (best first), `unrelaxed_<model>.pdb` /
`.cif`, `confidence_<model>.json` (per-residue pLDDT, AlphaFold DB's format), `pae_<model>.json` (AlphaFold DB's
PAE format, ptm models), `ranking_debug.json`, `features.npz` (the raw features, AlphaFold2's features.pkl
without the pickle), `timings.json`, the confidence plots when asked (`plddt.png`, `pae.png`, `coverage.png`),
and `result.json`, written last: a folder with `result.json` is complete.
Every file is written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import re
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from protein import confidence
from protein.structure import files
from protein.structure import residue_constants as rc

RANDOM_PARAMS_WARNING = (
    "RANDOM WEIGHTS: this model was run with random parameters, for testing only; its coordinates and "
    "confidences mean nothing"
)
SINGLE_SEQUENCE_NOTE = "single-sequence mode: no MSA was given, so accuracy is usually much lower"
RESULT_FILE = "result.json"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_NAME_LENGTH = 80


@dataclasses.dataclass
class Prediction:
    """The outputs of one model on one target, unpadded: `num_res` residues.

    atom_positions [num_res, 37, 3] Angstrom and atom_mask [num_res, 37] (atom37 layout); plddt [num_res] in
    0-100; pae [num_res, num_res] Angstrom, max_pae and ptm for the `_ptm` models (None otherwise).
    """

    target_id: str
    model_name: str
    sequence: str
    atom_positions: np.ndarray
    atom_mask: np.ndarray
    plddt: np.ndarray
    pae: np.ndarray | None = None
    max_pae: float | None = None
    ptm: float | None = None
    seed: int = 0
    num_recycles: int = 0
    recycle_tolerances: Sequence[float] = ()
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)
    random_params: bool = False
    single_sequence: bool = False
    rank: int | None = None

    @property
    def mean_plddt(self) -> float:
        return float(np.mean(self.plddt))

    @property
    def ranking_confidence(self) -> float:
        """Mean pLDDT: AlphaFold2 ranks monomer models by it, the `_ptm` models too (its `rank_by: plddt`; pTM
        and ipTM rank only multimer models), and so does ColabFold for a single chain."""
        return self.mean_plddt

    @property
    def aatype(self) -> np.ndarray:
        return rc.sequence_to_aatype(self.sequence, self.target_id)[0]

    @property
    def notes(self) -> list[str]:
        """What a reader of a structure file must know about how it was made."""
        notes = [f"protein-platform prediction of {self.target_id!r} by {self.model_name}, seed {self.seed}"]
        if self.random_params:
            notes.append(RANDOM_PARAMS_WARNING)
        if self.single_sequence:
            notes.append(SINGLE_SEQUENCE_NOTE)
        return notes

    def to_pdb(self) -> str:
        """PDB text, pLDDT in the B-factor column, residues numbered from 1."""
        return files.to_pdb(
            self.atom_positions, self.atom_mask, self.aatype, np.arange(1, len(self.sequence) + 1), self.plddt,
            remarks=self.notes,
        )

    def to_mmcif(self) -> str:
        """mmCIF text with pLDDT in the B-factor column and as ModelCIF `_ma_qa_metric_local`."""
        return files.to_mmcif(
            self.atom_positions, self.atom_mask, self.aatype, np.arange(1, len(self.sequence) + 1), self.plddt,
            remarks=self.notes, model_name=f"{safe_name(self.target_id)}_{self.model_name}",
        )

    def summary(self) -> dict:
        """JSON-ready scalars of this prediction."""
        return {
            "target_id": self.target_id,
            "model": self.model_name,
            "seed": self.seed,
            "num_residues": len(self.sequence),
            "mean_plddt": round(self.mean_plddt, 3),
            "ptm": None if self.ptm is None else round(float(self.ptm), 5),
            "max_pae": None if self.max_pae is None else round(float(self.max_pae), 3),
            "ranking_confidence": round(self.ranking_confidence, 3),
            "rank": self.rank,
            "num_recycles": self.num_recycles,
            "recycle_tolerances": [round(float(t), 4) for t in self.recycle_tolerances],
            "random_params": self.random_params,
            "single_sequence": self.single_sequence,
        }

    def save(self, folder: str | Path) -> list[Path]:
        """Writes this model's files into `folder`: unrelaxed_<model>.pdb/.cif, confidence_<model>.json and, for
        ptm models, pae_<model>.json. Returns the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = [
            files.write_atomic(folder / f"unrelaxed_{self.model_name}.pdb", self.to_pdb()),
            files.write_atomic(folder / f"unrelaxed_{self.model_name}.cif", self.to_mmcif()),
            files.write_atomic(folder / f"confidence_{self.model_name}.json", self._confidence_json()),
        ]
        if self.pae is not None:
            written.append(files.write_atomic(folder / f"pae_{self.model_name}.json", self._pae_json()))
        return written

    def _confidence_json(self) -> str:
        content = json.loads(confidence.confidence_json(self.plddt))
        if self.random_params:
            content["warning"] = RANDOM_PARAMS_WARNING
        return json.dumps(content)

    def _pae_json(self) -> str:
        content = json.loads(confidence.pae_json(self.pae, self.max_pae))
        if self.random_params:
            content[0]["warning"] = RANDOM_PARAMS_WARNING
        return json.dumps(content)


def rank(predictions: Sequence[Prediction]) -> list[Prediction]:
    """The predictions best first by mean pLDDT (`Prediction.ranking_confidence`), each with its `rank` (0 = best)
    set."""
    ordered = sorted(predictions, key=lambda p: -p.ranking_confidence)
    for index, prediction in enumerate(ordered):
        prediction.rank = index
    return ordered


def ranking_debug(predictions: Sequence[Prediction]) -> dict:
    """AlphaFold2's ranking_debug.json (`plddts` and `order`), with each model's pTM when it has one and the
    score that ranked them."""
    ordered = sorted(predictions, key=lambda p: p.rank if p.rank is not None else 0)
    content = {
        "plddts": {p.model_name: round(p.mean_plddt, 3) for p in predictions},
        "order": [p.model_name for p in ordered],
        "ranked_by": "plddt",
    }
    if any(p.ptm is not None for p in predictions):
        content["ptm"] = {p.model_name: round(float(p.ptm), 5) for p in predictions if p.ptm is not None}
    if any(p.random_params for p in predictions):
        content["warning"] = RANDOM_PARAMS_WARNING
    return content


def safe_name(record_id: str) -> str:
    """A file-system-safe folder name for a record id: letters, digits, '.', '_' and '-' only, no leading dot,
    at most 80 characters; when anything had to change, a short hash of the original keeps names distinct."""
    name = re.sub(r"\.{2,}", "_", _SAFE_NAME.sub("_", record_id)).lstrip(".")[:_MAX_NAME_LENGTH] or "record"
    if name != record_id:
        name = f"{name}_{hashlib.sha256(record_id.encode()).hexdigest()[:8]}"
    return name


def write_target(
    folder: str | Path,
    predictions: Sequence[Prediction],
    raw_features: Mapping[str, np.ndarray] | None = None,
    timings: Mapping[str, float] | None = None,
    notes: Sequence[str] = (),
    extra: Mapping[str, object] | None = None,
    plots: bool = False,
) -> Path:
    """Writes a target's whole output folder (see the module docstring); `predictions` must be ranked.
    `result.json` is written last, so its presence marks a complete folder; `extra` adds entries to it.
    `plots`: also the confidence plots (`protein.viz.save_plots`: plddt.png, pae.png, coverage.png)."""
    from protein.features.store import save_features

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ordered = sorted(predictions, key=lambda p: p.rank)
    for prediction in ordered:
        prediction.save(folder)
    for prediction in ordered:
        files.write_atomic(folder / f"ranked_{prediction.rank}.pdb", prediction.to_pdb())
        files.write_atomic(folder / f"ranked_{prediction.rank}.cif", prediction.to_mmcif())
    files.write_atomic(folder / "ranking_debug.json", json.dumps(ranking_debug(ordered), indent=1))
    if raw_features is not None:
        save_features(folder / "features.npz", raw_features)
    all_timings = dict(timings or {})
    for prediction in ordered:
        for key, value in prediction.timings.items():
            all_timings[f"{key}_{prediction.model_name}"] = round(float(value), 3)
    if any(p.random_params for p in ordered):
        all_timings["warning"] = RANDOM_PARAMS_WARNING
    files.write_atomic(folder / "timings.json", json.dumps(all_timings, indent=1))
    if plots:
        from protein import viz  # matplotlib only when plots are asked for

        viz.save_plots(folder, ordered, raw_features)
    first = ordered[0]
    result = {
        "target_id": first.target_id,
        "sequence": first.sequence,
        "models": [p.summary() for p in ordered],
        "notes": list(notes) + first.notes[1:],
    }
    if first.random_params:
        result["warning"] = RANDOM_PARAMS_WARNING
    result.update(extra or {})
    files.write_atomic(folder / RESULT_FILE, json.dumps(result, indent=1))
    return folder
