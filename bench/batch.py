"""Length buckets vs AlphaFold2's exact shapes: one batch of proteins of mixed length through `pipelines.submit`,
in the same run, three ways, each on a fresh local cluster (so none finds another's compiled programs):

- `buckets` (the platform): padded to the length ladder (`protein.predictor.LENGTH_BUCKETS`, one compilation
  per bucket), the MSA trimmed to its depth bucket, the template modules left out without templates;
- `exact`: the same, but every protein compiled at its own length: the effect of the length buckets alone;
- `alphafold2`: every protein compiled at its own length and run at the preset's whole padding (MSA rows,
  template slots), as AlphaFold2's run_alphafold.py does.

    python bench/batch.py                                  # tiny and small presets, 20 proteins, 1 model worker
    python bench/batch.py --presets small --workers 2

The proteins are real UniProt sequences of 40-300 residues from ../shared/data/seqdb (evenly spread over that
range), or random ones when the shared data is absent; single-sequence mode, random parameters. `tiny` compiles
in seconds and runs in milliseconds, as a full model on a GPU does in proportion (compilation dominates);
`small` (the real channel widths, 4 Evoformer blocks) runs for seconds on this CPU, where the padding costs more.
Prints the wall-time ratios exact/buckets and alphafold2/buckets per preset, the compilations of each, and the
largest difference between the outputs (float noise: padding is masked), and records everything in
bench/results/batch.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PROTEIN_SHARED", REPO.parent / "shared"))
QUERIES = SHARED / "data" / "seqdb" / "mmseqs2_examples_QUERY.fasta.gz"
RESULTS = REPO / "bench" / "results" / "batch.json"
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
SIDES = ("buckets", "exact", "alphafold2")


def proteins(count: int, shortest: int, longest: int) -> tuple[dict[str, str], str]:
    """`count` sequences with lengths spread evenly over [shortest, longest], and where they came from."""
    wanted = np.linspace(shortest, longest, count).round().astype(int)
    if QUERIES.is_file():
        from protein.io import FastaRecord, iter_fasta

        with gzip.open(QUERIES, "rt") as handle:
            records = [r for r in iter_fasta(handle, source=str(QUERIES)) if isinstance(r, FastaRecord)
                       and set(r.sequence) <= set(AMINO_ACIDS) and shortest <= len(r.sequence) <= longest]
        chosen: dict[str, str] = {}
        for length in wanted:
            best = min((r for r in records if r.id not in chosen), key=lambda r: abs(len(r.sequence) - length))
            chosen[best.id] = best.sequence
        return chosen, str(QUERIES.relative_to(SHARED.parent)) if SHARED.parent in QUERIES.parents else str(QUERIES)
    rng = np.random.default_rng(0)
    return {f"random_{i}": "".join(rng.choice(list(AMINO_ACIDS), n)) for i, n in enumerate(wanted)}, "random"


def run_batch(fasta: Path, out: Path, preset: str, workers: int, shapes: str) -> dict:
    from distributed import Client, LocalCluster

    import pipelines
    from pipelines import tasks

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.run(lambda: __import__("protein.predictor"))  # imports (JAX) are not part of the timing
        start = time.perf_counter()
        batch = pipelines.submit(fasta, out, client=client, models=[preset], random_params_seed=0, plots=False,
                                 shapes=shapes)
        targets = batch.result()
        seconds = time.perf_counter() - start
        stats = client.run(tasks.model_stats)
    failed = [t.id for t in targets if t.status != "done"]
    if failed:
        raise SystemExit(f"{preset} {shapes}: targets failed: {failed}")
    return {
        "seconds": round(seconds, 1),
        "compilations": sum(each["compiled"] for each in stats.values()),
        "model_runs": sum(each["runs"] for each in stats.values()),
        "model_seconds": round(sum(t.timings.get("model", 0.0) for t in targets), 1),
    }


def differences(bucketed: Path, exact: Path, names: list[str], preset: str) -> dict:
    """The largest differences between two sides' outputs (padding is masked: float noise only)."""
    from protein.prediction import safe_name
    from protein.structure.files import read_structure

    plddt, positions = 0.0, 0.0
    for name in map(safe_name, names):
        a = json.loads((bucketed / name / f"confidence_{preset}.json").read_text())["confidenceScore"]
        b = json.loads((exact / name / f"confidence_{preset}.json").read_text())["confidenceScore"]
        plddt = max(plddt, float(np.max(np.abs(np.subtract(a, b)))))
        sa = read_structure(bucketed / name / f"unrelaxed_{preset}.pdb")
        sb = read_structure(exact / name / f"unrelaxed_{preset}.pdb")
        positions = max(positions, float(np.max(np.abs(sa.atom_positions - sb.atom_positions))))
    return {"max_abs_plddt": round(plddt, 4), "max_abs_position_angstrom": round(positions, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--num-proteins", type=int, default=20)
    parser.add_argument("--shortest", type=int, default=40)
    parser.add_argument("--longest", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1, help="model workers (one per GPU at a centre)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.WARNING)
    logging.getLogger("protein").setLevel(logging.ERROR)  # "single-sequence mode" per target

    from protein.predictor import length_bucket

    sequences, source = proteins(args.num_proteins, args.shortest, args.longest)
    lengths = sorted(len(s) for s in sequences.values())
    buckets = sorted({length_bucket(n) for n in lengths})
    print(f"{len(sequences)} proteins of {lengths[0]}-{lengths[-1]} residues from {source}; "
          f"{len(set(lengths))} distinct lengths, {len(buckets)} buckets {buckets}")
    record = {
        "benchmark": "batch: length buckets vs exact shapes and AlphaFold2's shapes",
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "proteins": {"count": len(sequences), "source": source, "lengths": lengths, "buckets": buckets},
        "workers": args.workers,
        "mode": "single-sequence, random parameters, the preset's recycles",
        "presets": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        fasta = Path(scratch, "proteins.fasta")
        fasta.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in sequences.items()))
        for preset in args.presets:
            out = {side: Path(scratch, f"{preset}-{side}") for side in SIDES}
            runs = {side: run_batch(fasta, out[side], preset, args.workers, side) for side in SIDES}
            entry = record["presets"][preset] = {**runs}
            for side in SIDES[1:]:
                entry[f"speedup_vs_{side}"] = round(runs[side]["seconds"] / runs["buckets"]["seconds"], 2)
                entry[f"outputs_differ_from_{side}_by"] = differences(out["buckets"], out[side], list(sequences),
                                                                      preset)
            print(f"{preset}: " + ", ".join(f"{side} {runs[side]['seconds']} s ({runs[side]['compilations']} "
                                            "compilations)" for side in SIDES)
                  + "; buckets faster " + ", ".join(f"x{entry[f'speedup_vs_{side}']} than {side}"
                                                    for side in SIDES[1:]), flush=True)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(record, indent=1) + "\n")  # after each preset: a long run keeps the first
    print(f"recorded in {args.output}")


if __name__ == "__main__":
    main()
