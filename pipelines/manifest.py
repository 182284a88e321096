"""A batch's record of its targets: `results/manifest.json` (everything, for programs) and `results/summary.csv`
(a line per target, for people and spreadsheets), both rewritten atomically as targets finish.

Each input record gets one `TargetStatus`: `pending` until its outputs are written, then `done` (`resumed` when a
previous run had finished it with the same inputs and settings), `msas` (searched, with `--msa-only`),
`skipped` (over `--max-length`) or `error` (with the message naming the problem). `protein status results/`
reads these files back.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from protein.atomic import write_atomic
from protein.errors import InputError

MANIFEST_FILE = "manifest.json"
SUMMARY_FILE = "summary.csv"
STATUSES = ("pending", "done", "resumed", "msas", "skipped", "error")
FINISHED = frozenset(STATUSES) - {"pending"}
SUMMARY_COLUMNS = (
    "id", "length", "status", "error", "best_model", "mean_plddt", "ptm", "search_s", "features_s", "model_s",
    "total_s", "finished_after_s", "output", "duplicate_of",
)


@dataclasses.dataclass
class TargetStatus:
    """One input record of a batch and what became of it.

    `index`: its position in the input (0-based); `name`: its output folder under the batch's folder (the id
    made safe for a file name); `duplicate_of`: the id of the earlier record with the same sequence, whose
    search and model runs it shares; `timings`: seconds per stage (search, features, model, write; `total` their
    sum, the target's compute time) and `finished_after`, the seconds from the batch's start to its outputs.
    """

    index: int
    id: str
    length: int | None = None
    status: str = "pending"
    error: str | None = None
    name: str | None = None
    duplicate_of: str | None = None
    input_key: str | None = None
    best_model: str | None = None
    mean_plddt: float | None = None
    ptm: float | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown target status {self.status!r}; one of {', '.join(STATUSES)}")

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def summary_row(self) -> dict[str, Any]:
        def seconds(key: str) -> float | None:
            return round(self.timings[key], 2) if key in self.timings else None
        return {
            "id": self.id, "length": self.length, "status": self.status, "error": self.error,
            "best_model": self.best_model,
            "mean_plddt": None if self.mean_plddt is None else round(self.mean_plddt, 2),
            "ptm": None if self.ptm is None else round(self.ptm, 4),
            "search_s": seconds("search"), "features_s": seconds("features"), "model_s": seconds("model"),
            "total_s": seconds("total"), "finished_after_s": seconds("finished_after"), "output": self.name,
            "duplicate_of": self.duplicate_of,
        }


def write(folder: str | Path, targets: Iterable[TargetStatus], settings: Mapping[str, Any],
          started: float, finished: bool) -> None:
    """Writes manifest.json and summary.csv into `folder` (targets in input order)."""
    folder = Path(folder)
    ordered = sorted(targets, key=lambda target: target.index)
    counts = Counter(target.status for target in ordered)
    manifest = {
        "settings": dict(settings),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "elapsed_s": round(time.time() - started, 1),
        "finished": finished,
        "counts": {status: counts[status] for status in STATUSES if counts[status]},
        "targets": [dataclasses.asdict(target) for target in ordered],
    }
    write_atomic(folder / MANIFEST_FILE, json.dumps(manifest, indent=1, default=str))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for target in ordered:
        writer.writerow({key: "" if value is None else value for key, value in target.summary_row().items()})
    write_atomic(folder / SUMMARY_FILE, text.getvalue())


def read(folder: str | Path) -> tuple[dict[str, Any], list[TargetStatus]]:
    """The manifest of the batch in `folder`: (the manifest's other entries, its targets).

    Raises:
      InputError: no manifest there, or not one this program wrote.
    """
    path = Path(folder) / MANIFEST_FILE
    try:
        content = json.loads(path.read_text())
        targets = [TargetStatus(**entry) for entry in content.pop("targets")]
    except FileNotFoundError:
        raise InputError(f"{path}: no batch manifest here (is {folder} the output folder of `protein batch`?)") \
            from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise InputError(f"{path}: not a batch manifest ({error})") from error
    return content, targets
