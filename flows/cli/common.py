"""What every ``musicmaker`` command shares: the exit codes, how a result is printed (text, or JSON for
scripts), the ``--quiet``/``--json`` flags, and the output file to suggest when one cannot be written."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2


def emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    elif not args.quiet:
        print(text)


def output_example(out: Path, default: Path) -> Path:
    """The file to suggest when ``out`` cannot be written: the command's own file name, inside ``out`` when
    that is a folder (``-o stems/`` -> ``-o stems/bass.mid``)."""
    return out / default.name if out.is_dir() else Path(default.name)


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print the result as JSON (for scripts)")
