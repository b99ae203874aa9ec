"""The `gpu` global concurrency limit: GPU stages hold a slot, so a GPU is never oversubscribed.

One slot per GPU (one when there is none: the CPU then plays the GPU's part and generation is the stage that
saturates it). The limit is created on first use and left alone when it exists, so an operator can resize it with
`prefect gcl update gpu --limit N` for a pool of workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

GPU_LIMIT = "gpu"
LEASE_SECONDS = (
    60  # Prefect's shortest: a killed worker's slot comes back a minute later (renewed while alive)
)


def gpu_count() -> int:
    """GPUs visible to this process (CUDA_VISIBLE_DEVICES respected by torch)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def ensure_gpu_limit(slots: int | None = None) -> int:
    """Create the `gpu` limit with ``slots`` (default: GPUs here, at least 1) if missing; return its size.

    On Prefect's embedded API (no PREFECT_API_URL) slot leases live only in the process that took them, so a
    render killed with SIGKILL leaves its slots taken for good in the shared database: there, start from zero.
    With a server, expired leases of killed workers are revoked by the server itself (after LEASE_SECONDS).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    with get_client(sync_client=True) as client:
        try:
            existing = client.read_global_concurrency_limit_by_name(GPU_LIMIT)
            if not PREFECT_API_URL.value() and existing.active_slots:
                client.update_global_concurrency_limit(
                    GPU_LIMIT, GlobalConcurrencyLimitUpdate(active_slots=0)
                )
            return int(existing.limit)
        except ObjectNotFound:
            limit = slots or max(1, gpu_count())
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=GPU_LIMIT, limit=limit)
                )
            except ObjectAlreadyExists:  # another worker created it between our read and our create
                pass
            return int(client.read_global_concurrency_limit_by_name(GPU_LIMIT).limit)


@contextmanager
def gpu_slot() -> Iterator[None]:
    """Hold one `gpu` slot for the duration of the block (waits while all are taken)."""
    from prefect.concurrency.sync import concurrency

    with concurrency(GPU_LIMIT, occupy=1, strict=True, lease_duration=LEASE_SECONDS):
        yield
