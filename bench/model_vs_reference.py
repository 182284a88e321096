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


def _time_reference(reference: ReferenceModel, params, features, prev, num_recycle):
    first = {k: v[:1] for k, v in features.items()}
    start = time.perf_counter()
    reference._apply.lower(params, jax.random.PRNGKey(0), {**first, "prev": dict(prev)}).compile()
    compile_s = time.perf_counter() - start
    # The jit cache now holds the program; the first call also pays tracing, so warm it once, then time.
    reference.run(params, features, dict(prev), num_recycle=0)
    start = time.perf_counter()
    outputs, _ = reference.run(params, features, dict(prev), num_recycle=num_recycle)
    run_s = time.perf_counter() - start
    return compile_s, run_s, outputs


def _time_ours(model: runner.Runner, features, num_recycle, trim):
    start = time.perf_counter()
    first = model.run({k: v[:1] for k, v in features.items()}, num_recycle=0, trim_msa=trim)
    compile_s = first.timings["compile"]
    start = time.perf_counter()
    result = model.run(features, num_recycle=num_recycle, trim_msa=trim)
    run_s = time.perf_counter() - start
    return compile_s, run_s, result


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
        ref_compile, ref_run, ref_out = _time_reference(reference, params, features, prev, args.num_recycle)
        print(f"L={num_res}: reference compile {ref_compile:.1f}s run {ref_run:.1f}s", flush=True)
        pad_compile, pad_run, pad_out = _time_ours(model, inputs, args.num_recycle, trim=False)
        print(f"L={num_res}: ours (same padding) compile {pad_compile:.1f}s run {pad_run:.1f}s", flush=True)
        our_compile, our_run, our_out = _time_ours(model, inputs, args.num_recycle, trim=True)
        mask = np.asarray(ref_out["structure_module"]["final_atom_mask"]) > 0
        delta = np.abs(our_out.final_atom_positions - ref_out["structure_module"]["final_atom_positions"])[mask]
        row = {
            "num_res": num_res,
            "msa_depth": args.msa_depth,
            "padded_msa_rows": int(inputs["msa_feat"].shape[1]),
            "padded_extra_msa_rows": int(inputs["extra_msa"].shape[1]),
            "reference": {"compile_s": ref_compile, "run_s": ref_run},
            "ours_padded": {"compile_s": pad_compile, "run_s": pad_run},
            "ours": {"compile_s": our_compile, "run_s": our_run},
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
