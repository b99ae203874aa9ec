"""Run a few independent array jobs on the machine's cores.

The compiled kernels release the GIL (numba ``nogil=True``), so plain threads run them in parallel
without copying audio into other processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def workers(jobs: int) -> int:
    return max(1, min(jobs, os.cpu_count() or 1))


def parallel_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]``, on up to one thread per core; exceptions propagate as raised."""
    if workers(len(items)) == 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers(len(items))) as pool:
        return list(pool.map(fn, items))


def both(first: Callable[[], R], second: Callable[[], T]) -> tuple[R, T]:
    """Run two independent jobs at once: ``first`` on a worker thread, ``second`` on this one."""
    if workers(2) == 1:
        return first(), second()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(first)
        other = second()
        return pending.result(), other
