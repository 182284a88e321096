"""Where a batch's model runs go: `Affinity` keeps each (model, padded length) on few workers, so that a batch
compiles each shape a handful of times however many workers it has."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence


class Affinity:
    """Chooses the worker of each model run so that a batch compiles each (model, padded length) on few workers.

    Dask places a task where its inputs are or where a worker is free, not where its program is compiled; with
    many workers each would compile every shape. Here a shape sticks to the workers that ran it before, and goes
    to one more (the least loaded) only when those have `slack` more runs queued than the least loaded worker,
    so that a batch of one common length still spreads over every worker. The choice is a loose restriction
    (`allow_other_workers`): a task whose worker died runs elsewhere.
    """

    def __init__(self, slack: int = 2):
        self.slack = slack
        self._queued: Counter[str] = Counter()
        self._holders: dict[tuple, list[str]] = {}
        self._lock = threading.Lock()

    def choose(self, shape: tuple, workers: Sequence[str]) -> str | None:
        if not workers:  # none yet (jobs still queued at SLURM): Dask places the task when one arrives
            return None
        with self._lock:
            least = min(workers, key=lambda worker: self._queued[worker])
            holders = [worker for worker in self._holders.get(shape, ()) if worker in workers]
            best = min(holders, key=lambda worker: self._queued[worker]) if holders else None
            if best is None or self._queued[best] > self._queued[least] + self.slack:
                best = least
                self._holders.setdefault(shape, []).append(best)
            self._queued[best] += 1
            return best

    def release(self, worker: str) -> None:
        with self._lock:
            self._queued[worker] -= 1
