"""Benchmark MusicGen generation: windowed long-form throughput and batching speed-up. Prints JSON.

    .venv/bin/python bench/generate.py --quick                      # debug model, < 1 min on CPU
    .venv/bin/python bench/generate.py --model random:facebook/musicgen-stereo-large --device cuda
    .venv/bin/python bench/generate.py --model random:facebook/musicgen-small --window 3 --stride 2 --long 9 --stems 2

Tokens counted are new audio tokens: frames of the stem x codebooks (prompt tokens are not counted).
Goal: the long windowed render keeps >= 85 % of one window's tokens/s (it re-reads 12 s of context per
window and attends over longer contexts on average).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stems.generate import Generator, SamplingParams, StemRequest
from stems.plan import plan_windows

GOAL_RATIO = 0.85


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="debug model, 4 s windows, tiny durations")
    p.add_argument(
        "--model",
        default=None,
        help="model name (default: debug with --quick, else random:facebook/musicgen-small)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    p.add_argument(
        "--long", type=float, default=None, help="long render duration in s (default 300; 20 with --quick)"
    )
    p.add_argument(
        "--window", type=float, default=None, help="window in s (default: the model's 30; 4 with --quick)"
    )
    p.add_argument("--stems", type=int, default=4, help="K stems for batched vs sequential (default 4)")
    p.add_argument(
        "--stride", type=float, default=None, help="extend_stride in s (default 18; 2.5 with --quick)"
    )
    return p.parse_args(argv)


def _timed(gen: Generator, reqs: list[StemRequest], params: SamplingParams) -> float:
    _sync(gen.device)
    start = time.perf_counter()
    gen.generate(reqs, params)
    _sync(gen.device)
    return time.perf_counter() - start


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _tokens(gen: Generator, duration: float) -> int:
    codebooks = int(gen._loaded.model.decoder.num_codebooks)
    return math.ceil(duration * gen.frame_rate) * codebooks


def run(argv: list[str] | None = None) -> dict[str, Any]:
    a = _args(argv)
    model = a.model or ("debug" if a.quick else "random:facebook/musicgen-small")
    gen = Generator(model, a.device, max_window=a.window or (4.0 if a.quick else None))
    stride = a.stride or (2.5 if a.quick else 18.0)
    long_s = a.long or (20.0 if a.quick else 300.0)
    window = gen.max_window
    params = SamplingParams(extend_stride=stride)
    _timed(gen, [StemRequest("warmup", "warm up", min(2.0, window), 0)], params)  # one-time costs

    single_s = _timed(gen, [StemRequest("one", "lofi drums", window, 1)], params)
    long_t = _timed(gen, [StemRequest("long", "lofi drums", long_s, 1)], params)
    single_tps = _tokens(gen, window) / single_s
    long_tps = _tokens(gen, long_s) / long_t

    reqs = [StemRequest(f"s{i}", f"stem {i} prompt", window, i) for i in range(a.stems)]
    batched = _timed(gen, reqs, params)
    sequential = sum(_timed(gen, [r], params) for r in reqs)
    return {
        "model": model,
        "device": gen.device,
        "window_s": window,
        "extend_stride_s": stride,
        "single_window": {
            "seconds": round(single_s, 3),
            "tokens": _tokens(gen, window),
            "tokens_per_s": round(single_tps, 1),
        },
        "long_render": {
            "duration_s": long_s,
            "windows": len(plan_windows(long_s, stride, window)),
            "seconds": round(long_t, 3),
            "tokens": _tokens(gen, long_s),
            "tokens_per_s": round(long_tps, 1),
            "ratio_vs_single": round(long_tps / single_tps, 3),
            "goal_ratio": GOAL_RATIO,
            "goal_met": long_tps / single_tps >= GOAL_RATIO,
        },
        "batching": {
            "stems": a.stems,
            "batched_s": round(batched, 3),
            "sequential_s": round(sequential, 3),
            "speedup": round(sequential / batched, 2),
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
