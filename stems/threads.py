"""CPU threads pinned for each model run, so what a model computes never depends on the thread count it finds.

CPU kernels split their work by the intra-op thread count, and some then add the same terms in another order:
T5 over a short text and Demucs' convolutions give other bits with 1 thread than with 2 (measured, up to 2e-7
in a separated stem), which moves logits and can flip a sampled token. ``torch.set_num_threads`` sets the
calling thread's OpenMP team and seeds the threads started later (Prefect runs tasks in worker threads), so a
run that restores what it found can still leave another thread a different count, depending on how the two
threads' runs happened to overlap. Each model run therefore sets its own count on entry (``pinned_threads``),
from the model or the machine, never from the state it finds, and puts the caller's back on exit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_MACHINE: list[int] = []


def machine_threads() -> int:
    """The intra-op thread count torch starts with (its default, or ``OMP_NUM_THREADS``), read on first use.

    Read once, before any ``pinned_threads`` of ours has changed it; a count the caller set before that (e.g.
    a benchmark's ``--threads``) is honoured.
    """
    import torch

    with _LOCK:
        if not _MACHINE:
            _MACHINE.append(torch.get_num_threads())
        return _MACHINE[0]


@contextmanager
def pinned_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads in this thread, then restore this thread's count."""
    import torch

    machine_threads()  # read before the first change
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
