"""Post-generation benchmarks: separation (and, later, transcription) on this machine, as one JSON document.

    .venv/bin/python bench/postprocess.py [--quick] [--models debug htdemucs]

Separation: real-time factor (wall seconds per second of audio) of ``Separator.separate`` and the
overhead of the facade against calling ``demucs.apply.apply_model`` directly on the same model,
same options and the same shift seed. Real models are measured only when their weights are cached.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.transcription_bench import bench_transcription
from stems.audio import Audio
from stems.separation.catalog import DEFAULT_MODEL

SECONDS = {True: 8.0, False: 20.0}
REPEATS = {True: 3, False: 5}


def synthetic_mix(seconds: float, rate: int, seed: int = 0) -> Audio:
    """Noise bed, a bass line and clicks: enough structure for every model branch to work."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = 0.05 * rng.standard_normal((2, t.size)) + 0.3 * np.sin(2 * np.pi * 55 * t)
    x[:, :: rate // 2] += 0.8  # clicks twice a second
    return Audio(x.astype(np.float32), rate)


class Timer:
    """Wall and process-CPU seconds; CPU time is steadier than wall time on a shared machine."""

    def __enter__(self) -> Self:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def _direct(model: Any, mix: np.ndarray, device: str, seed: int) -> Timer:
    """What a caller of demucs would write: normalise as demucs.api does, apply_model, undo."""
    import torch
    from demucs.apply import apply_model

    with Timer() as timer:
        _apply_direct(apply_model, torch, model, mix, device, seed)
    return timer


def _apply_direct(apply_model: Any, torch: Any, model: Any, mix: np.ndarray, device: str, seed: int) -> None:
    x = torch.from_numpy(mix)
    ref = x.mean(0)
    mean, std = ref.mean(), ref.std() + 1e-8
    random.seed(seed)
    with torch.inference_mode():
        out = apply_model(model, ((x - mean) / std)[None], shifts=1, overlap=0.25, split=True, device=device)
    (out * std + mean).numpy()


def _facade(separator: Any, audio: Audio) -> Timer:
    with Timer() as timer:
        separator.separate(audio, "bass")
    return timer


@contextmanager
def _timed_apply_model(spent: list[float]) -> Iterator[None]:
    """Record the wall time of each outermost ``demucs.apply.apply_model`` call (it recurses)."""
    import demucs.apply as module

    original, depth = module.apply_model, [0]

    def timed(*args: Any, **kwargs: Any) -> Any:
        depth[0] += 1
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                spent.append(time.perf_counter() - start)

    module.apply_model = timed
    try:
        yield
    finally:
        module.apply_model = original


def facade_edges(separator: Any, audio: Audio, repeats: int) -> dict[str, float]:
    """Facade time outside apply_model, measured inside the same runs: immune to machine load."""
    spent: list[float] = []
    edges: list[float] = []
    with _timed_apply_model(spent):
        for _ in range(repeats):
            total = _facade(separator, audio).wall
            edges.append(total - spent[-1])
    best_apply = min(spent)
    return {
        "apply_model_seconds": round(best_apply, 3),
        "edge_seconds": round(min(edges), 4),
        "edge_overhead_pct": round(100 * min(edges) / best_apply, 2),
    }


def bench_model(name: str, quick: bool) -> dict[str, Any]:
    """Best-of-N times, facade and direct runs interleaved so machine load hits both alike."""
    from stems.errors import ModelUnavailableError
    from stems.separation.separator import Separator

    try:
        separator = Separator(name)
    except ModelUnavailableError as exc:
        return {"model": name, "skipped": str(exc)}
    seconds, repeats = SECONDS[quick], REPEATS[quick]
    at_model_rate = synthetic_mix(seconds, separator.sample_rate)
    at_musicgen_rate = synthetic_mix(seconds, 32000)
    for rate in (separator.sample_rate, 32000):  # warm-up: allocator, oneDNN kernels, scipy import
        _facade(separator, synthetic_mix(1.0, rate))
    runs: dict[str, list[Timer]] = {"direct": [], "facade": [], "facade_32k": []}
    for _ in range(repeats):
        runs["direct"].append(_direct(separator._model, at_model_rate.samples, separator._device, 0))
        runs["facade"].append(_facade(separator, at_model_rate))
        runs["facade_32k"].append(_facade(separator, at_musicgen_rate))
    edges = {
        f"{rate}_input": facade_edges(separator, audio, repeats)
        for rate, audio in (("44k", at_model_rate), ("32k", at_musicgen_rate))
    }
    wall = {key: min(t.wall for t in ts) for key, ts in runs.items()}
    cpu = {key: min(t.cpu for t in ts) for key, ts in runs.items()}
    return {
        "model": name,
        "device": separator._device,
        "audio_seconds": seconds,
        "repeats": repeats,
        "best_wall_seconds": _rounded(wall),
        "best_cpu_seconds": _rounded(cpu),
        "rtf": round(wall["facade"] / seconds, 4),
        "rtf_32k_input": round(wall["facade_32k"] / seconds, 4),
        "facade_overhead_pct_wall": _overhead(wall, "facade"),
        "facade_overhead_pct_cpu": _overhead(cpu, "facade"),
        "facade_overhead_pct_cpu_32k_input": _overhead(cpu, "facade_32k"),
        "facade_outside_apply_model": edges,
        "overhead_goal_pct": 5.0,
    }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 3) for key, value in values.items()}


def _overhead(times: dict[str, float], key: str) -> float:
    return round(100 * (times[key] / times["direct"] - 1), 2)


def bench_separation(quick: bool, models: tuple[str, ...] = ("debug", DEFAULT_MODEL)) -> dict[str, Any]:
    """Separation RTF on CPU (or the default device) and facade overhead, per model."""
    import torch

    return {
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "results": [bench_model(name, quick) for name in models],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 s of audio, 3 repeats (20 s, 5 otherwise)")
    parser.add_argument("--models", nargs="+", default=["debug", DEFAULT_MODEL], help="separation models")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    report = {
        "separation": bench_separation(args.quick, tuple(args.models)),
        "transcription": bench_transcription(args.quick),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
