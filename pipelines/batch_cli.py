"""`protein batch` and `protein status`: a FASTA file through search and prediction on a Dask cluster.

    protein batch input.fasta -o results/ [--cluster local|slurm|pbs | --scheduler tcp://host:8786]
        [--workers N] [--db-config F [--db-preset P]] [--models MODEL ...] [--num-recycle N] [--num-seeds N]
        [--msa-only | --use-precomputed-msas] [--max-length N] [--random-params SEED]
    protein status results/

One folder per record in results/ (the files of `protein predict`, plus msas/ and the confidence plots), and
results/manifest.json and results/summary.csv with every record's status. A record that fails is recorded
with its error and the others go on; the exit status is 1 when any record failed. Rerunning the same command
skips the records already finished (for the same inputs and settings) and does the rest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines import manifest, predict_cli
from protein.errors import InputError
from protein.model.config import PRESETS
from protein.predictor import DEFAULT_MODELS


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "batch", help="search and predict every record of a FASTA file on a Dask cluster",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("fasta", type=Path, help="FASTA file of protein sequences (read as a stream)")
    parser.add_argument("-o", "--output-dir", type=Path, required=True, help="folder for the results")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--cluster", choices=("local", "slurm", "pbs"), default="local",
                       help="start a cluster: local processes (default), or SLURM/PBS jobs configured in Dask's "
                       "jobqueue config (see pipelines/jobqueue.example.yaml)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="use the running Dask scheduler at ADDRESS (tcp://host:8786)")
    parser.add_argument("--workers", type=int, default=None,
                        help="workers (local) or jobs (slurm/pbs) to start (default: local: sized to the CPUs; "
                        "slurm/pbs: 1)")
    parser.add_argument("--jobqueue-config", default=None, metavar="SECTION",
                        help="the Dask jobqueue config section for slurm/pbs (default: slurm / pbs), e.g. slurm-gpu")
    parser.add_argument("--db-config", type=Path, default=None,
                        help="databases to search (TOML, see data/databases.example.toml); without it and "
                        "without --use-precomputed-msas: single-sequence mode")
    parser.add_argument("--db-preset", default="full_dbs", help="the configuration's preset (default: full_dbs)")
    parser.add_argument("--db-root", type=Path, default=None, help="folder of the databases, instead of the file's root")
    parser.add_argument("--shards", type=int, default=None,
                        help="cut each FASTA database into N shards, each searched as a Dask task of its own on any "
                        "worker (one search spread over the cluster; the same hits and E-values); default: each "
                        "search runs whole on one worker's threads")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", type=Path, default=None, help="search cache folder (default: the user cache)")
    cache.add_argument("--no-cache", action="store_true", help="search every record, store nothing")
    parser.add_argument("--mmcif-dir", type=Path, default=None,
                        help="template structures (default: the preset's mmcif database)")
    parser.add_argument("--max-template-date", default=None, help="YYYY-MM-DD (default: today)")
    parser.add_argument("--obsolete-pdbs", type=Path, default=None, help="PDB's obsolete.dat")
    stages = parser.add_mutually_exclusive_group()
    stages.add_argument("--msa-only", action="store_true", help="search only: write results/<id>/msas/")
    stages.add_argument("--use-precomputed-msas", action="store_true",
                        help="predict from results/<id>/msas/ (written by --msa-only or `protein search`), no search")
    parser.add_argument("--max-length", type=int, default=None, help="skip records longer than this")
    parser.add_argument("--params-dir", type=Path, default=None, help="folder of params_<model>.npz")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=PRESETS, metavar="MODEL",
                        help=f"models to run (default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--num-recycle", type=int, default=None, help="recycling iterations (default: preset's, 3)")
    parser.add_argument("--num-seeds", type=int, default=1, help="runs of each model, seeds 0..N-1 (default 1)")
    parser.add_argument("--early-stop-tolerance", type=float, default=None,
                        help="stop recycling when the CA distance change falls below this (Angstrom)")
    parser.add_argument("--random-params", type=int, default=None, metavar="SEED",
                        help="run with random weights drawn from SEED (smoke tests; every output says so)")
    parser.add_argument("--no-plots", action="store_true", help="do not draw the confidence plots")
    predict_cli.add_compile_cache_option(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run_batch)

    status = commands.add_parser("status", help="the state of a batch's records (running or finished)",
                                 description="Reads results/manifest.json, as `protein batch` keeps it.")
    status.add_argument("output_dir", type=Path, help="the batch's output folder")
    status.add_argument("--all", action="store_true", help="list every record, not only those that failed")
    status.set_defaults(handler=run_status)


def run_batch(args: argparse.Namespace) -> int:
    import logging

    from pipelines.batch import submit

    # Dask sets its loggers to INFO when imported; a batch's own progress is what the user asked to see
    logging.getLogger("distributed").setLevel(logging.INFO if getattr(args, "verbose", False) else logging.WARNING)

    if not args.fasta.is_file():
        raise InputError(f"{args.fasta}: no such FASTA file")
    batch = submit(
        args.fasta, args.output_dir, cluster=args.cluster, scheduler=args.scheduler, workers=args.workers,
        jobqueue_config=args.jobqueue_config,
        models=args.models, num_recycle=args.num_recycle, num_seeds=args.num_seeds, params_dir=args.params_dir,
        random_params_seed=args.random_params, early_stop_tolerance=args.early_stop_tolerance,
        db_config=args.db_config, db_preset=args.db_preset, db_root=args.db_root, shards=args.shards,
        cache_dir=args.cache_dir, no_cache=args.no_cache, mmcif_dir=args.mmcif_dir,
        max_template_date=args.max_template_date, obsolete_pdbs=args.obsolete_pdbs, msa_only=args.msa_only,
        use_precomputed_msas=args.use_precomputed_msas, max_length=args.max_length, plots=not args.no_plots,
        compile_cache=args.compile_cache,
    )
    with batch:
        print(f"batch into {args.output_dir}: Dask dashboard at {batch.dashboard_link}", flush=True)
        _follow(batch, show_bar=not args.no_progress and sys.stderr.isatty())
        targets = batch.result()
    for target in targets:
        if target.status == "error":
            print(f"error: {target.error}", file=sys.stderr)
    counts = batch.progress
    done = counts["done"] + counts["resumed"] + counts["msas"]
    resumed = f" ({counts['resumed']} finished before)" if counts["resumed"] else ""
    skipped = f", {counts['skipped']} skipped" if counts["skipped"] else ""
    failed = f", {counts['error']} failed" if counts["error"] else ""
    print(f"{done} of {counts['total']} records {'searched' if args.msa_only else 'predicted'}{resumed}{skipped}"
          f"{failed}: {args.output_dir / manifest.SUMMARY_FILE}")
    return 1 if counts["error"] else 0


def _follow(batch, show_bar: bool) -> None:
    """Waits for the batch, with a progress bar of finished records (the total grows as the input is read)."""
    if not show_bar:
        batch.wait()
        return
    from tqdm import tqdm

    with tqdm(unit="record", file=sys.stderr, dynamic_ncols=True) as bar:
        while not batch.wait(0.5):
            _update(bar, batch.progress)
        _update(bar, batch.progress)


def _update(bar, counts: dict[str, int]) -> None:
    finished = counts["total"] - counts["pending"]
    bar.total = counts["total"]
    bar.n = finished
    bar.set_postfix({key: counts[key] for key in ("done", "resumed", "error") if counts[key]}, refresh=False)
    bar.refresh()


def run_status(args: argparse.Namespace) -> int:
    content, targets = manifest.read(args.output_dir)
    state = "finished" if content.get("finished") else "running (or stopped before the end)"
    counts = ", ".join(f"{count} {status}" for status, count in content.get("counts", {}).items())
    print(f"{args.output_dir}: {len(targets)} records, {counts}; {state}, started {content.get('started')}, "
          f"{content.get('elapsed_s')} s")
    shown = targets if args.all else [target for target in targets if target.status == "error"]
    for target in shown:
        scores = "" if target.mean_plddt is None else f" {target.best_model} pLDDT {target.mean_plddt:.1f}" + (
            "" if target.ptm is None else f" pTM {target.ptm:.3f}")
        print(f"{target.id}\t{target.length or ''}\t{target.status}{scores}{'  ' + target.error if target.error else ''}")
    return 0
