"""The `protein` command line.

One function per subcommand (`params_download`, `params_check`, ...), each taking the parsed arguments and
returning the exit status; each group of subcommands registers its parsers in one `_add_<group>_parser`
function, so a new group (`predict`, `search`, `databases`) is one more such function and one line in
`build_parser`. The library logs; only this module prints. Errors the platform raises on purpose
(`ProteinError`) end the command with their message and exit status 1, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pipelines import batch_cli, databases_cli, predict_cli, search_cli, tasks
from protein.errors import ProteinError
from protein.model import params
from protein.model.config import PRESETS

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; each subcommand's parser sets `handler` to its function."""
    parser = argparse.ArgumentParser(prog="protein", description="AlphaFold2 monomer structure prediction.")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_params_parser(commands)
    predict_cli.add_parser(commands)
    databases_cli.add_parser(commands)
    search_cli.add_parser(commands)
    batch_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    args = build_parser().parse_args(argv)
    _configure_logging(args)
    tasks.dump_stacks_on_signal()
    try:
        return args.handler(args)
    except ProteinError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _configure_logging(args: argparse.Namespace) -> None:
    """Our own loggers at INFO (progress of long steps), DEBUG with -v, WARNING with -q; other libraries' (JAX's
    backend notes) at WARNING unless -v."""
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in ("protein", "pipelines"):
        logging.getLogger(name).setLevel(level)


# -- protein params ... -------------------------------------------------------------------------------------


def _add_params_parser(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("params", help="fetch and check the AlphaFold2 parameter files")
    subcommands = group.add_subparsers(dest="params_command", metavar="SUBCOMMAND", required=True)

    download = subcommands.add_parser(
        "download",
        help="download and unpack the official parameter files",
        description="Downloads the official AlphaFold2 parameter archive (resuming an interrupted transfer) and "
        "unpacks its params_model_*.npz files and LICENSE.",
    )
    download.add_argument(
        "--dest",
        type=Path,
        default=None,
        help=f"folder for the parameter files (default: ${params.PARAMS_DIR_ENV} or {params.default_params_dir()})",
    )
    download.add_argument(
        "--url", default=None, help=f"archive to fetch (default: ${params.PARAMS_URL_ENV} or {params.DEFAULT_URL})"
    )
    download.add_argument("--sha256", default=None, help="expected SHA-256 of the archive; checked when given")
    download.add_argument("--no-progress", action="store_true", help="do not report download progress")
    download.set_defaults(handler=params_download)

    check = subcommands.add_parser(
        "check",
        help="check a parameter file against the layout of a preset",
        description="Loads a parameter file with the strict layout check of the network of PRESET.",
    )
    check.add_argument("path", type=Path, help="the .npz parameter file")
    check.add_argument("--preset", required=True, choices=PRESETS, metavar="PRESET", help=", ".join(PRESETS))
    check.set_defaults(handler=params_check)


def params_download(args: argparse.Namespace) -> int:
    """`protein params download [--dest D] [--url U] [--sha256 H]`."""
    dest = params.download(dest=args.dest, url=args.url, sha256=args.sha256, progress=not args.no_progress)
    files = sorted(p.name for p in dest.glob(params.PARAMS_MEMBER_PATTERN) if params.MONOMER_FILE.fullmatch(p.name))
    print(f"{len(files)} parameter files in {dest}")
    for name in files:
        print(f"  {name}")
    return 0


def params_check(args: argparse.Namespace) -> int:
    """`protein params check PATH --preset P`: exit 0 and a summary when the file fits the preset."""
    loaded = params.load_params(args.path, args.preset)
    num_tensors = sum(len(names) for names in loaded.values())
    print(
        f"OK {args.path}: fits preset {args.preset}, {num_tensors} tensors, "
        f"{params.count_parameters(loaded):,} parameters"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
