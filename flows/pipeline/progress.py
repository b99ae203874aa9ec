"""Where progress goes: library code calls a plain callback, the CLI installs a sink that draws bars.

Tasks run in worker threads of the same process, so a process-wide sink (set by the CLI for the duration of a
command, never at import time) reaches them without passing a callable through Prefect parameters.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from stems.progress import Progress


class ProgressSink(Protocol):
    def update(self, label: str, done: int, total: int) -> None: ...


_lock = threading.Lock()
_sink: ProgressSink | None = None


@contextmanager
def progress_sink(sink: ProgressSink | None) -> Iterator[None]:
    """Install ``sink`` for the duration of the block (the CLI wraps a render in this)."""
    global _sink
    with _lock:
        previous, _sink = _sink, sink
    try:
        yield
    finally:
        with _lock:
            _sink = previous


def callback(extra: Progress | None = None) -> Progress:
    """A progress callback for library code that feeds the installed sink (and ``extra`` if given)."""

    def report(label: str, done: int, total: int) -> None:
        if _sink is not None:
            _sink.update(label, done, total)
        if extra is not None:
            extra(label, done, total)

    return report


_counts: dict[str, list[int]] = {}


def expect(label: str, total: int) -> None:
    """Announce a bar of ``total`` steps (e.g. a track's post-generation stages)."""
    with _lock:
        _counts[label] = [0, total]
    callback()(label, 0, total)


def advance(label: str) -> None:
    """One more step of an announced bar done (thread-safe; tasks call it as they finish)."""
    with _lock:
        if label not in _counts:
            return
        _counts[label][0] += 1
        done, total = _counts[label]
    callback()(label, done, total)
