"""`protein databases check`: are the databases of a configuration (or of one of its presets) all there?

    protein databases check CONFIG.toml [--preset full_dbs] [--root DIR]

Exit status 0 with one line per database when every file is there and readable; 1 with every problem (each
missing, unreadable, empty or malformed file, one line each) when not. The configuration format is documented in
data/databases.example.toml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from protein.search import databases as databases_lib


def add_parser(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("databases", help="check the sequence databases of MSA and template search")
    subcommands = group.add_subparsers(dest="databases_command", metavar="SUBCOMMAND", required=True)

    check = subcommands.add_parser(
        "check",
        help="check that every file of the databases of a configuration is there and readable",
        description=__doc__.split("\n\n")[0] + " Lists every problem, not only the first.",
    )
    check.add_argument("config", type=Path, help="database configuration (TOML; see data/databases.example.toml)")
    check.add_argument("--preset", default=None, help="check only the databases of this preset (default: all)")
    check.add_argument("--root", type=Path, default=None, help="folder of the databases, instead of the file's root")
    check.set_defaults(handler=databases_check)


def databases_check(args: argparse.Namespace) -> int:
    """`protein databases check CONFIG [--preset P] [--root DIR]`."""
    config = databases_lib.load_config(args.config, root=args.root)
    databases = config.preset(args.preset) if args.preset is not None else list(config.databases.values())
    problems = databases_lib.check(config, args.preset)
    what = f"preset {args.preset}" if args.preset is not None else "all databases"
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        broken = len({problem.database for problem in problems if problem.database is not None})
        print(
            f"{args.config} ({what}, root {config.root}): {len(problems)} problems in {broken} of "
            f"{len(databases)} databases",
            file=sys.stderr,
        )
        return 1
    print(f"OK {args.config} ({what}, root {config.root}): {len(databases)} databases")
    for database in databases:
        print(f"  {database.name} ({database.tool}, {database.role}): {database.path}")
    return 0
