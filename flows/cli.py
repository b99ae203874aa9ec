"""The ``musicmaker`` command line. Owns printing, progress bars and exit codes (0 ok, 2 user error, 1 internal).

Heavy imports (torch, transformers, prefect) happen inside the commands, after argument parsing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2


def _cmd_validate(args: argparse.Namespace) -> int:
    from flows.schema import SchemaError, load_arrangement

    status = EXIT_OK
    for file in args.files:
        try:
            load_arrangement(Path(file))
        except SchemaError as err:
            for problem in err.problems:
                print(problem, file=sys.stderr)
            status = EXIT_USER
        else:
            print(f"{file}: ok")
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="musicmaker", description="Render YAML arrangements into songs.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check arrangement files", description="Check arrangement YAML files.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=_cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from stems.errors import UserInputError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER


if __name__ == "__main__":
    sys.exit(main())
