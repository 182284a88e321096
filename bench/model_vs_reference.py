"""Our network vs the reference AlphaFold2 (the `alphafold-colabfold` oracle in float32), same parameters and
same processed features: compile time and run time of each, in the same process, printed as ratios and written
to bench/results/model_vs_reference.json.

Usage: python bench/model_vs_reference.py [--preset model_1_ptm] [--lengths 100 200] [--msa-depth 64]
       [--num-recycle 1] [--max-extra-msa 1024]

Rows per length:
- reference: the oracle's monomer network, one jitted iteration per recycle (as its RunModel.predict does),
  features padded as AlphaFold2 pads them (max_msa_clusters, max_extra_msa).
- ours_padded: our Runner on exactly the same padded features (the network alone against the network).
- ours: our Runner as the platform runs it, MSA trimmed to the real depth's bucket.
Random full-size parameters (timings do not depend on the values). CPU unless JAX finds an accelerator.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protein.model import runner  # noqa: E402
from protein.model.config import preset_config, replace  # noqa: E402
from protein.model.network import initial_recycled_state  # noqa: E402
from tests.model.inputs import (  # noqa: E402
    ReferenceModel,
    network_inputs,
    processed_features,
    raw_features,
    reference_cfg_for,
)


def _compile_reference(reference: ReferenceModel, params, features, prev) -> float:
    first = {k: v[:1] for k, v in features.items()}
    start = time.perf_counter()
    reference._apply.lower(params, jax.random.PRNGKey(0), {**first, "prev": dict(prev)}).compile()
    compile_s = time.perf_counter() - start
    # lower().compile() does not fill the jit cache: one untimed iteration does, so the timed runs only run.
    reference.run(params, features, dict(prev), num_recycle=0)
    return compile_s


def _compile_ours(model: runner.Runner, features, trim) -> float:
    first = model.run({k: v[:1] for k, v in features.items()}, num_recycle=0, trim_msa=trim)
    return first.timings["compile"]


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="model_1_ptm")
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--msa-depth", type=int, default=64)
    parser.add_argument("--num-recycle", type=int, default=1)
    # AlphaFold2 pads to 512 clusters and 1,024 or 5,120 extra rows; on a 2-core CPU one full-size iteration of
    # the reference at that padding takes many minutes, so the default here is smaller (same for both sides).
    parser.add_argument("--max-msa-clusters", type=int, default=128)
    parser.add_argument("--max-extra-msa", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each, interleaved; the fastest counts")
    parser.add_argument("--output", default=str(ROOT / "bench/results/model_vs_reference.json"))
    args = parser.parse_args(argv)

    preset = replace(
        preset_config(args.preset),
        {"data.max_msa_clusters": args.max_msa_clusters, "data.max_extra_msa": args.max_extra_msa},
    )
    cfg = reference_cfg_for(preset, args.num_recycle)
    reference = ReferenceModel(cfg)
    rows = []
    params = None
    for num_res in args.lengths:
        raw = raw_features(num_res, args.msa_depth, 4 if preset.model.template.enabled else 0, seed=0)
        features = processed_features(cfg, raw, seed=0)
        prev = initial_recycled_state(preset.model, num_res)
        if params is None:
            params = reference.random_params(features, prev, seed=0)
        inputs = network_inputs(features, preset)
        model = runner.Runner(preset, params)
        ref_compile = _compile_reference(reference, params, features, prev)
        pad_compile = _compile_ours(model, inputs, trim=False)
        our_compile = _compile_ours(model, inputs, trim=True)
        print(f"L={num_res}: compile reference {ref_compile:.1f}s ours {pad_compile:.1f}s / {our_compile:.1f}s", flush=True)
        # Runs interleaved (reference, ours padded, ours trimmed), the fastest of --repeats counting, so that
        # other load on the machine affects all three alike.
        ref_runs, pad_runs, our_runs = [], [], []
        for _ in range(args.repeats):
            t, (ref_out, _) = _timed(lambda: reference.run(params, features, dict(prev), num_recycle=args.num_recycle))
            ref_runs.append(t)
            t, pad_out = _timed(lambda: model.run(inputs, num_recycle=args.num_recycle, trim_msa=False))
            pad_runs.append(t)
            t, our_out = _timed(lambda: model.run(inputs, num_recycle=args.num_recycle, trim_msa=True))
            our_runs.append(t)
            print(f"L={num_res}: run reference {ref_runs[-1]:.1f}s ours same padding {pad_runs[-1]:.1f}s "
                  f"ours trimmed {our_runs[-1]:.1f}s", flush=True)
        ref_run, pad_run, our_run = min(ref_runs), min(pad_runs), min(our_runs)
        mask = np.asarray(ref_out["structure_module"]["final_atom_mask"]) > 0
        delta = np.abs(our_out.final_atom_positions - ref_out["structure_module"]["final_atom_positions"])[mask]
        row = {
            "num_res": num_res,
            "msa_depth": args.msa_depth,
            "padded_msa_rows": int(inputs["msa_feat"].shape[1]),
            "padded_extra_msa_rows": int(inputs["extra_msa"].shape[1]),
            "reference": {"compile_s": ref_compile, "run_s": ref_run, "runs_s": ref_runs},
            "ours_padded": {"compile_s": pad_compile, "run_s": pad_run, "runs_s": pad_runs},
            "ours": {"compile_s": our_compile, "run_s": our_run, "runs_s": our_runs},
            "ratio_compile_reference_over_ours_padded": ref_compile / pad_compile,
            "ratio_run_reference_over_ours_padded": ref_run / pad_run,
            "ratio_compile_reference_over_ours": ref_compile / our_compile,
            "ratio_run_reference_over_ours": ref_run / our_run,
            "max_position_delta_angstrom": float(delta.max()),
        }
        rows.append(row)
        print(
            f"L={num_res}: reference compile {ref_compile:.1f}s run {ref_run:.1f}s | ours (same padding) compile "
            f"{pad_compile:.1f}s run {pad_run:.1f}s | ours (trimmed MSA) compile {our_compile:.1f}s run "
            f"{our_run:.1f}s | speed-up reference/ours: compile x{ref_compile / our_compile:.2f} "
            f"run x{ref_run / our_run:.2f} (same padding: x{ref_compile / pad_compile:.2f}, "
            f"x{ref_run / pad_run:.2f}) | max |d pos| {row['max_position_delta_angstrom']:.4f} A",
            flush=True,
        )
    result = {
        "benchmark": "model_vs_reference",
        "preset": args.preset,
        "num_recycle": args.num_recycle,
        "repeats": args.repeats,
        "max_msa_clusters": args.max_msa_clusters,
        "max_extra_msa": args.max_extra_msa,
        "device": str(jax.devices()[0]),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "jax": jax.__version__,
        "rows": rows,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
