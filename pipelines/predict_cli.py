"""`protein predict`: structures for every record of a FASTA file, one output folder per record.

    protein predict input.fasta -o out/ [--msa a.a3m ...] [--msa-dir D] [--templates hits.sto] [--mmcif-dir D]
        [--obsolete-pdbs obsolete.dat] [--max-template-date YYYY-MM-DD] [--params-dir D] [--models model_1_ptm ...]
        [--num-recycle N] [--seed S] [--random-params SEED] [--no-plots]

`--msa-dir D` reads each record's alignments from D/<id>/ or D/<id>/msas/ (AlphaFold2's layout, as `protein search`
writes it); template hits there (pdb_hits.sto, .hhr) are the record's templates when `--mmcif-dir` is given, and
are never read as alignments.

A record that cannot be predicted (bad sequence, bad alignment, out of memory) is reported and the others go on;
the exit status is 1 when any record failed. A record whose folder already holds a complete result for the same
inputs and settings is skipped, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from pathlib import Path

from protein import predictor as predict_lib
from protein.errors import InputError, ProteinError
from protein.model.config import PRESETS
from protein.prediction import RESULT_FILE, safe_name, write_target

logger = logging.getLogger(__name__)



def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "predict",
        help="predict structures for the records of a FASTA file",
        description=__doc__.split("\n\n")[0] + " Without MSAs, single-sequence mode.",
    )
    parser.add_argument("fasta", type=Path, help="FASTA file of one or more protein sequences")
    parser.add_argument("-o", "--output-dir", type=Path, required=True, help="folder for the results")
    parser.add_argument(
        "--msa", type=Path, action="append", default=[], metavar="FILE",
        help="alignment (.a3m or .sto) whose first row is one of the input sequences; repeat for several",
    )
    parser.add_argument(
        "--msa-dir", type=Path, default=None,
        help="folder with one sub-folder per record id, holding its alignments or AlphaFold2's msas/ folder (as "
        "`protein search` writes), or <id>.a3m files; template hits there (pdb_hits.sto/.hhr) are used with "
        "--mmcif-dir",
    )
    parser.add_argument("--templates", type=Path, default=None, help="template hits (.hhr or hmmsearch .sto), one record")
    parser.add_argument("--mmcif-dir", type=Path, default=None,
                        help="folder of the templates' mmCIF files, for --templates or the hits in --msa-dir")
    parser.add_argument("--obsolete-pdbs", type=Path, default=None,
                        help="PDB's obsolete.dat: template hits to obsolete entries use their replacement")
    parser.add_argument("--max-template-date", default=None, help="YYYY-MM-DD (default: today)")
    parser.add_argument("--params-dir", type=Path, default=None, help="folder of params_<model>.npz")
    parser.add_argument(
        "--models", nargs="+", default=list(predict_lib.DEFAULT_MODELS), choices=PRESETS, metavar="MODEL",
        help=f"models to run (default: {' '.join(predict_lib.DEFAULT_MODELS)}; one of {', '.join(PRESETS)})",
    )
    parser.add_argument("--num-recycle", type=int, default=None, help="recycling iterations (default: preset's, 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the MSA sampling and masking")
    parser.add_argument(
        "--early-stop-tolerance", type=float, default=None,
        help="stop recycling when the CA distance change falls below this (Angstrom)",
    )
    parser.add_argument(
        "--random-params", type=int, default=None, metavar="SEED",
        help="run with random weights drawn from SEED (smoke tests; every output says so)",
    )
    parser.add_argument("--no-plots", action="store_true",
                        help="do not write the confidence plots (plddt.png, pae.png, coverage.png)")
    add_compile_cache_option(parser)
    parser.set_defaults(handler=run)


def add_compile_cache_option(parser: argparse.ArgumentParser) -> None:
    from protein.model.runner import COMPILE_CACHE_ENV

    parser.add_argument("--compile-cache", type=Path, default=os.environ.get(COMPILE_CACHE_ENV) or None,
                        metavar="DIR",
                        help="keep compiled programs in DIR for later runs and other workers (JAX's persistent compilation "
                        "cache; default: $PROTEIN_COMPILE_CACHE, else none)")


def run(args: argparse.Namespace) -> int:
    if args.num_recycle is not None and args.num_recycle < 0:
        raise InputError(f"--num-recycle must be >= 0, got {args.num_recycle}")
    failures: list[str] = []  # one message per problem, naming the record or file
    targets, names = [], {}
    num_records = 0
    for item in predict_lib.targets_from(args.fasta):
        num_records += 1
        if isinstance(item, Exception):
            failures.append(str(item))
            print(f"error: {item}", file=sys.stderr)
            continue
        if item.id in names:
            failures.append(f"{args.fasta}, record {item.id!r}: duplicate record id (ids must be unique); skipped")
            print(f"error: {failures[-1]}", file=sys.stderr)
            continue
        names[item.id] = safe_name(item.id)
        targets.append(item)
    for error in predict_lib.attach_msas(targets, args.msa):
        failures.append(str(error))
        print(f"error: {error}", file=sys.stderr)
    hit_files: dict[str, Path] = {}  # template hits by record id
    if args.msa_dir is not None:
        unused = []
        for target in list(targets):
            try:
                hits = _attach_msa_dir(target, args.msa_dir, names[target.id])
                if hits is not None and args.mmcif_dir is None:
                    unused.append(hits)
                elif hits is not None and args.templates is None:
                    target.template_hits = predict_lib.read_template_hits(hits, target.sequence)
                    hit_files[target.id] = hits
            except InputError as error:
                failures.append(f"record {target.id!r}: {error}")
                print(f"error: {failures[-1]}", file=sys.stderr)
                targets.remove(target)
        if unused:
            print(f"warning: template hits of {len(unused)} record(s) in --msa-dir (e.g. {unused[0]}) are not used "
                  "without --mmcif-dir, the folder of the templates' mmCIF files", file=sys.stderr)
    if args.templates is not None:
        if len(targets) != 1:
            raise InputError("--templates takes the hits of one record; give a FASTA of one record")
        targets[0].template_hits = predict_lib.read_template_hits(args.templates, targets[0].sequence)
        hit_files[targets[0].id] = args.templates
    featurizers = {  # one per kind of hit file (hmmsearch, hhsearch)
        searcher: predict_lib.template_featurizer(args.mmcif_dir, args.max_template_date, searcher,
                                                  args.obsolete_pdbs)
        for searcher in sorted({predict_lib.template_searcher(path) for path in hit_files.values()})
    }

    if args.compile_cache is not None:
        from protein.model.runner import enable_compile_cache

        enable_compile_cache(args.compile_cache)
    predictor = predict_lib.Predictor(args.models, args.params_dir, args.random_params)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    done = 0
    for target in targets:
        folder = args.output_dir / names[target.id]
        key = _input_key(target, args)
        if _complete(folder, key):
            print(f"{target.id}: already done in {folder}")
            done += 1
            continue
        try:
            featurizer = featurizers[predict_lib.template_searcher(hit_files[target.id])] \
                if target.id in hit_files else None
            predictions, features, timings, notes = predictor.predict(
                target, featurizer, args.num_recycle, args.seed, args.early_stop_tolerance
            )
            write_target(folder, predictions, features, timings, notes=notes, extra={"input_key": key},
                         plots=not args.no_plots)
        except ProteinError as error:
            failures.append(f"record {target.id!r}: {error}")
            print(f"error: {failures[-1]}", file=sys.stderr)
            continue
        best = predictions[0]
        ptm = "" if best.ptm is None else f", pTM {best.ptm:.3f}"
        print(f"{target.id}: {folder} (best {best.model_name}: mean pLDDT {best.mean_plddt:.1f}{ptm})")
        done += 1
    problems = f", {len(failures)} problem(s) reported above" if failures else ""
    print(f"{done} of {num_records} records predicted into {args.output_dir}{problems}")
    return 1 if failures else 0


def _attach_msa_dir(target: predict_lib.Target, msa_dir: Path, name: str) -> Path | None:
    """Reads the record's alignments from `msa_dir/<name>/`, its AlphaFold2 `msas/` sub-folder and
    `msa_dir/<name>.a3m` (`protein.predictor.attach_alignment_files`); returns its template hit file, if any."""
    folders = [folder for folder in (msa_dir / name, msa_dir / name / "msas") if folder.is_dir()]
    files = [path for folder in folders for path in folder.iterdir() if path.is_file()]
    if (msa_dir / f"{name}.a3m").is_file():
        files.append(msa_dir / f"{name}.a3m")
    return predict_lib.attach_alignment_files(target, files)


def _input_key(target: predict_lib.Target, args: argparse.Namespace) -> str:
    """A hash of everything that determines a record's result: sequence, alignments, templates, settings."""
    digest = hashlib.sha256()
    settings = {
        "sequence": target.sequence,
        "models": list(args.models),
        "num_recycle": args.num_recycle,
        "seed": args.seed,
        "random_params": args.random_params,
        "early_stop_tolerance": args.early_stop_tolerance,
        "max_template_date": args.max_template_date,
        "msas": [[list(m.sequences), [list(map(int, row)) for row in m.deletion_matrix]] for m in target.msas],
        "templates": [h.name for h in target.template_hits],
    }
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def _complete(folder: Path, key: str) -> bool:
    """True when `folder` holds a finished result (result.json is written last) made from the same inputs."""
    try:
        return json.loads((folder / RESULT_FILE).read_text()).get("input_key") == key
    except (OSError, ValueError):
        return False
