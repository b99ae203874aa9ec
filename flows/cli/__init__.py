"""The `musicmaker` command: argument parsing, exit codes, console output and progress bars, `bench`.

The console script calls :func:`main`; nothing else in the project imports this package."""

from __future__ import annotations

from flows.cli.commands import main

__all__ = [
    "main",
]
