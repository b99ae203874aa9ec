"""`musicmaker bench`: run the scripts in bench/ (each prints one JSON document) and gather their output."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from stems.errors import UserInputError

# The scripts live in the source checkout (bench/ beside flows/), not in the installed package.
BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = {"generate": "generate.py", "postprocess": "postprocess.py", "mix": "mix.py"}


def run_script(name: str, quick: bool, extra: list[str] | None = None) -> dict[str, Any]:
    """Run one benchmark in its own process (clean timings, no shared caches); its JSON or the error."""
    command = [sys.executable, str(BENCH / SCRIPTS[name]), *(["--quick"] if quick else []), *(extra or [])]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = round(time.perf_counter() - started, 3)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"], "wall_s": seconds}
    return {**json.loads(done.stdout), "wall_s": seconds}


def run_benchmarks(
    quick: bool, only: list[str] | None = None, generate: list[str] | None = None
) -> dict[str, Any]:
    """``generate``: extra arguments for bench/generate.py (``--model``, ``--device``, ``--record``)."""
    missing = [SCRIPTS[name] for name in only or SCRIPTS if not (BENCH / SCRIPTS[name]).is_file()]
    if missing:
        raise UserInputError(
            f"`musicmaker bench` runs the benchmark scripts of a source checkout, and they are not installed with "
            f"the package (no {', '.join(missing)} in {BENCH}); clone the repository and run `make bench` there"
        )
    names = only or list(SCRIPTS)
    return {
        "quick": quick,
        "benchmarks": {
            name: run_script(name, quick, generate if name == "generate" else None) for name in names
        },
    }
