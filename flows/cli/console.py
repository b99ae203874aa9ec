"""Terminal output of long commands: rich progress bars with ETA, and no Prefect tracebacks for user mistakes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flows.pipeline import progress_sink
from stems.errors import MusicmakerError

_PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


class _DropUserErrors(logging.Filter):
    """Prefect logs every failing run with a traceback; ours are user errors the CLI prints in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, MusicmakerError):
            return False
        text = record.getMessage()
        # "did not reach a 'COMPLETED' state": a stage downstream of the failure, which the CLI reports itself.
        return not any(
            name in text
            for name in (
                "UserInputError",
                "SchemaError",
                "ModelUnavailableError",
                "AudioInputError",
                "did not reach a 'COMPLETED' state",
            )
        )


class RichSink:
    """One progress bar per label (stem or batch), with elapsed time and ETA."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description:<32}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
        )
        self.tasks: dict[str, Any] = {}
        self.lock = threading.Lock()

    def update(self, label: str, done: int, total: int) -> None:
        with self.lock:
            if label not in self.tasks:
                self.tasks[label] = self.progress.add_task(label, total=total)
        self.progress.update(self.tasks[label], completed=done, total=total)


@contextmanager
def render_progress(quiet: bool = False) -> Iterator[None]:
    """Bars on the terminal (none when quiet) and Prefect run logs without user-error tracebacks."""
    filt = _DropUserErrors()
    loggers = [logging.getLogger(name) for name in _PREFECT_RUN_LOGGERS]
    for logger in loggers:
        logger.addFilter(filt)
    sink = None if quiet else RichSink()
    try:
        if sink is None:
            with progress_sink(None):
                yield
        else:
            with sink.progress, progress_sink(sink):
                yield
    finally:
        for logger in loggers:
            logger.removeFilter(filt)
