"""`protein search`: AlphaFold2's MSA and template searches for every record of a FASTA file.

    protein search input.fasta --db-config databases.toml [--preset full_dbs] -o out/ [--root DIR]
        [--shards N] [--cpus N] [--cache-dir D | --no-cache]

Writes AlphaFold2's msas/ folder for each record, out/<id>/msas/ (uniref90_hits.sto, mgnify_hits.sto,
bfd_uniref_hits.a3m or small_bfd_hits.sto, pdb_hits.sto), which `protein predict --msa-dir out/` reads. The
databases are checked first: when one the preset searches is missing or broken, nothing is searched and every
problem is listed. A record that cannot be searched is reported and the others go on; the exit status is 1 when
any record failed. Results are cached (by default in the user cache folder), so a repeated query is not searched
again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from protein.errors import InputError, ProteinError
from protein.io import FastaRecord, iter_fasta
from protein.prediction import safe_name
from protein.search import pipeline
from protein.search.cache import CACHE_DIR_ENV, SearchCache, default_cache_dir
from protein.search.databases import load_config

OBSOLETE_FILE = "obsolete.dat"  # PDB's list of obsolete entries, an extra file of the mmCIF database (AlphaFold2)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "search",
        help="search the sequence databases for the MSAs and template hits of each record of a FASTA file",
        description=__doc__.split("\n\n")[0] + " Writes out/<id>/msas/ per record, as AlphaFold2 does.",
    )
    parser.add_argument("fasta", type=Path, help="FASTA file of one or more protein sequences")
    parser.add_argument("-o", "--output-dir", type=Path, required=True, help="folder for out/<id>/msas/")
    parser.add_argument("--db-config", type=Path, required=True,
                        help="database configuration (TOML; see data/databases.example.toml)")
    parser.add_argument("--preset", default="full_dbs", help="the configuration's preset to search (default: full_dbs)")
    parser.add_argument("--root", type=Path, default=None, help="folder of the databases, instead of the file's root")
    parser.add_argument("--shards", type=int, default=None,
                        help="pieces each FASTA database is searched in (default: one per thread); results do not change")
    parser.add_argument("--cpus", type=int, default=None, help="threads per search (default: every CPU available)")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", type=Path, default=None,
                       help=f"search cache folder (default: ${CACHE_DIR_ENV} or {default_cache_dir()})")
    cache.add_argument("--no-cache", action="store_true", help="search every record, store nothing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """`protein search FASTA --db-config F -o OUT ...`."""
    for option in ("shards", "cpus"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise InputError(f"--{option} must be at least 1, got {value}")
    config = load_config(args.db_config, root=args.root)
    search_plan = pipeline.plan(config, args.preset)
    problems = pipeline.check(config, args.preset)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"{args.db_config} (preset {args.preset}, root {config.root}): {len(problems)} problems; nothing "
              "searched (`protein databases check` lists them too)", file=sys.stderr)
        return 1
    if not args.fasta.is_file():
        raise InputError(f"{args.fasta}: no such FASTA file")
    cache = None if args.no_cache else SearchCache(args.cache_dir)

    failures: list[str] = []
    seen: set[str] = set()
    num_records = done = 0
    for item in iter_fasta(args.fasta):
        num_records += 1
        if not isinstance(item, FastaRecord):
            failures.append(str(item))
            print(f"error: {item}", file=sys.stderr)
            continue
        if item.id in seen:
            failures.append(f"{args.fasta}, record {item.id!r}: duplicate record id (ids must be unique); skipped")
            print(f"error: {failures[-1]}", file=sys.stderr)
            continue
        seen.add(item.id)
        try:
            result = pipeline.search_query(item, config, args.preset, args.output_dir / safe_name(item.id),
                                           shards=args.shards, cache=cache, cpus=args.cpus)
        except ProteinError as error:
            failures.append(f"record {item.id!r}: {error}")
            print(f"error: {failures[-1]}", file=sys.stderr)
            continue
        found = ", ".join(f"{search.file_name} {search.num_hits} hits{' (cached)' if search.cached else ''}"
                          for search in result.searches)
        warned = f"; {len(result.warnings)} warning(s) logged" if result.warnings else ""
        print(f"{item.id}: {result.msa_dir} ({found}){warned}")
        done += 1
    reported = f", {len(failures)} problem(s) reported above" if failures else ""
    print(f"{done} of {num_records} records searched into {args.output_dir}{reported}")
    if search_plan.structures is not None and done:
        obsolete = [path for path in search_plan.structures.extra_files if path.name == OBSOLETE_FILE]
        print(f"template hits are in {pipeline.TEMPLATE_HITS_FILE}: predict with --msa-dir {args.output_dir} "
              f"--mmcif-dir {search_plan.structures.path}" + "".join(f" --obsolete-pdbs {path}" for path in obsolete))
    return 1 if failures else 0
