"""The decode loop of both engines side by side (issue 16), for ``bench/generate.py``'s ``decode`` section.

Both engines render the same stems with the same seeds in one process, alternately, so a busy machine slows
both alike. Per step: the median time between two progress callbacks (the steady-state step: prefill and
codec decoding fall outside it), and the ATen ops dispatched in one step (``TorchDispatchMode``: what
Python launches; a replayed CUDA graph launches its kernels without dispatching them).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from typing import Any

from stems.musicgen.generator import Generator
from stems.musicgen.models import DEBUG_MODELS
from stems.musicgen.types import ENGINES, SamplingParams, StemRequest, WindowTokens

GOAL_RATIO = 1 / 3  # issue 16: the fast step on CPU for the debug model, at most a third of the eager one
REPEATS = 2  # runs per engine, interleaved; the faster one counts (noise only ever adds time)
COUNT_STEP = 10  # the step whose dispatches are counted (past the prefill, before the window ends)


def _requests(stems: int, seconds: float) -> list[StemRequest]:
    return [StemRequest(f"s{i}", f"stem {i} prompt", seconds, i) for i in range(stems)]


class _Clock:
    """Progress callback: a timestamp per step of the first stem."""

    def __init__(self, first: str) -> None:
        self.first, self.stamps = first, list[float]()

    def __call__(self, name: str, done: int, total: int) -> None:
        if name == self.first:
            self.stamps.append(time.perf_counter())

    def ms_per_step(self) -> float:
        steps = [b - a for a, b in zip(self.stamps, self.stamps[1:])]
        return 1000 * statistics.median(steps)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _timed_run(gen: Generator, reqs: list[StemRequest], params: SamplingParams) -> dict[str, Any]:
    import torch

    cuda = gen.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    windows: list[WindowTokens] = []
    clock = _Clock(reqs[0].name)
    _sync(gen.device)
    start = time.perf_counter()
    gen.generate(reqs, params, clock, on_window=windows.append)
    _sync(gen.device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    return {
        "ms": clock.ms_per_step(),
        "seconds": seconds,
        "windows": windows,
        "steps": len(clock.stamps),
        "peak_gb": peak,
    }


def dispatches_per_step(gen: Generator, reqs: list[StemRequest], params: SamplingParams) -> int:
    """ATen ops dispatched between the COUNT_STEP-th and the next progress callback of the first stem."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        ops = 0

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            Count.ops += 1
            return func(*args, **(kwargs or {}))

    marks: list[int] = []
    first = reqs[0].name
    short = [replace(r, duration=min(r.duration, 1.0)) for r in reqs]
    with Count():
        gen.generate(short, params, lambda name, *_: marks.append(Count.ops) if name == first else None)
    return marks[COUNT_STEP + 1] - marks[COUNT_STEP]


def _same_tokens(a: list[WindowTokens], b: list[WindowTokens]) -> bool:
    return len(a) == len(b) and all((x.tokens == y.tokens).all() for x, y in zip(a, b))


def compare(gen: Generator, stems: int, seconds: float, params: SamplingParams) -> dict[str, Any]:
    """The ``decode`` section: eager vs fast ms/step, identical tokens, dispatches per step."""
    reqs = _requests(stems, seconds)
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in ENGINES}
    for engine in ENGINES:  # warm-up: one-time costs (weights stacked, kernels chosen) out of the timing
        gen.generate(_requests(stems, min(seconds, 1.0)), replace(params, engine=engine))
    for _ in range(REPEATS):
        for engine in ENGINES:
            runs[engine].append(_timed_run(gen, reqs, replace(params, engine=engine)))
    best = {e: min(r, key=lambda run: run["ms"]) for e, r in runs.items()}
    ratio = best["fast"]["ms"] / best["eager"]["ms"]
    result: dict[str, Any] = {
        "stems": stems,
        "seconds_per_stem": seconds,
        "steps": best["fast"]["steps"],
        "eager_ms_per_step": round(best["eager"]["ms"], 3),
        "fast_ms_per_step": round(best["fast"]["ms"], 3),
        "fast_over_eager": round(ratio, 3),
        "identical_tokens": _same_tokens(runs["eager"][0]["windows"], runs["fast"][0]["windows"])
        and _same_tokens(runs["fast"][0]["windows"], runs["fast"][-1]["windows"]),
        "dispatches_per_step": {
            e: dispatches_per_step(gen, reqs, replace(params, engine=e)) for e in ENGINES
        },
        "render_s": {e: round(best[e]["seconds"], 3) for e in ENGINES},
    }
    if gen.device.startswith("cuda"):
        result["peak_vram_gb"] = {e: round(best[e]["peak_gb"], 2) for e in ENGINES}
    elif gen.model_name in DEBUG_MODELS:  # the goal is about host overhead, which the tiny models isolate
        result["goal_ratio"], result["goal_met"] = round(GOAL_RATIO, 3), ratio <= GOAL_RATIO
    return result
