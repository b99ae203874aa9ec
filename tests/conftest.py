"""Shared fixtures: one Prefect test harness per session, offline model hubs, the demo render done once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.cli.settings import apply_prefect_defaults

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "arrangements" / "demo.yaml"  # the sketch demo (`make demo`)
DEBUG_DEMO = REPO / "arrangements" / "debug-groove.yaml"  # the MusicGen path on the debug models

# No test may reach a model hub: real names must fail fast, debug models build offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
apply_prefect_defaults()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One ephemeral Prefect API (a temporary database) for every flow test of the session (~15 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def debug_render(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """arrangements/debug-groove.yaml (the MusicGen path on debug models) rendered once through the CLI;
    returns the track folder."""
    from flows.cli import main

    out = tmp_path_factory.mktemp("renders")
    assert main(["render", str(DEBUG_DEMO), "-o", str(out), "--quiet"]) == 0
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return folder


@pytest.fixture()
def no_host_sync() -> Iterator[Any]:
    """A progress callback that, from the first finished step on, makes any tensor -> Python conversion raise."""
    import torch

    names = ("__bool__", "item", "tolist", "__int__", "__float__")
    saved = {n: getattr(torch.Tensor, n) for n in names}

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("host-device sync inside the step loop")

    def progress(name: str, done: int, total: int) -> None:
        for n in names:
            setattr(torch.Tensor, n, forbidden if done < total else saved[n])

    try:
        yield progress
    finally:
        for n, fn in saved.items():
            setattr(torch.Tensor, n, fn)
