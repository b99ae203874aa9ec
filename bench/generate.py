"""Benchmark MusicGen generation: windowed long-form throughput and batching speed-up. Prints JSON.

    .venv/bin/python bench/generate.py --quick                      # debug model, < 1 min on CPU
    .venv/bin/python bench/generate.py --model random:facebook/musicgen-stereo-large --device cuda
    .venv/bin/python bench/generate.py --model random:facebook/musicgen-small --window 3 --stride 2 --long 9 --stems 2
    .venv/bin/python bench/generate.py --model random:facebook/musicgen-medium --device cuda --record
    .venv/bin/python bench/generate.py --model random:facebook/musicgen-stereo-large --device cuda --stems 8 --long-batch
    .venv/bin/python bench/generate.py --quick --only decode                   # eager vs fast decode step
    .venv/bin/python bench/gpu_decode.py                                       # issue 16's GPU figures

``--long-batch`` also renders --stems stems of --long seconds in one batched call, as an album track's stems
are: issue 3's GPU figure is 8 stems x 300 s of musicgen-stereo-large size on one H200 (goal under 60 s).
``decode`` compares the two decode engines in one run (``bench/decode.py``): ms per step, identical tokens,
ATen dispatches per step; the other sections render with ``--engine`` (default fast).
``--record`` adds the result to this machine's speed table (``stems.musicgen.speed``), which ``render --dry-run`` uses for
its time estimates.

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
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.decode import compare
from stems.musicgen.generator import Generator
from stems.musicgen.models import FRAME_RATE
from stems.musicgen.plan import plan_windows
from stems.musicgen.speed import SpeedRow, record
from stems.musicgen.types import DEFAULT_ENGINE, ENGINES, SamplingParams, StemRequest

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
    p.add_argument("--record", action="store_true", help="add the result to this machine's speed table")
    p.add_argument(
        "--long-batch", action="store_true", help="also render --stems stems of --long s in one batched call"
    )
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE, help="decode engine of the renders")
    p.add_argument(
        "--only", choices=("decode", "long-batch"), default=None, help="run only this section (default: all)"
    )
    p.add_argument(
        "--decode-seconds",
        type=float,
        default=None,
        help="stem length of the decode section (default 4 s; 2 with --quick)",
    )
    return p.parse_args(argv)


def device_label(device: str) -> str:
    """The GPU's name, or the CPU's model and torch's thread count."""
    import platform

    import torch

    if device.startswith("cuda"):
        return str(torch.cuda.get_device_name(torch.device(device)))
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"cpu: {cpu}, {torch.get_num_threads()} threads"


def speed_row(result: dict[str, Any], command: str) -> SpeedRow:
    """The speed-table row for one run's result (see ``stems.musicgen.speed``)."""
    long = result["long_render"]
    frames = long["duration_s"] * FRAME_RATE
    ratio = result["batching"]["batched_s"] / result["single_window"]["seconds"]
    return SpeedRow(
        result["model"],
        result["device_label"],
        round(long["seconds"] / frames, 6),
        result["batching"]["stems"],
        round(ratio, 3),
        f"measured {command}",
    )


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


def _throughput(
    gen: Generator, a: argparse.Namespace, params: SamplingParams, long_s: float
) -> dict[str, Any]:
    """One window, one long stem, and --stems windows batched vs one by one."""
    window = gen.max_window
    single_s = _timed(gen, [StemRequest("one", "lofi drums", window, 1)], params)
    long_t = _timed(gen, [StemRequest("long", "lofi drums", long_s, 1)], params)
    single_tps = _tokens(gen, window) / single_s
    long_tps = _tokens(gen, long_s) / long_t
    reqs = [StemRequest(f"s{i}", f"stem {i} prompt", window, i) for i in range(a.stems)]
    batched = _timed(gen, reqs, params)
    sequential = sum(_timed(gen, [r], params) for r in reqs)
    return {
        "single_window": {
            "seconds": round(single_s, 3),
            "tokens": _tokens(gen, window),
            "tokens_per_s": round(single_tps, 1),
        },
        "long_render": {
            "duration_s": long_s,
            "windows": len(plan_windows(long_s, params.extend_stride, window)),
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


def long_batch(gen: Generator, stems: int, long_s: float, params: SamplingParams) -> dict[str, Any]:
    """--stems stems of --long s in one batched call, as an album track's stems are rendered."""
    import torch

    cuda = gen.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    many = [StemRequest(f"l{i}", f"stem {i} prompt", long_s, i) for i in range(stems)]
    seconds = _timed(gen, many, params)
    return {
        "stems": stems,
        "duration_s": long_s,
        "engine": params.engine,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(_tokens(gen, long_s) * stems / seconds, 1),
        "audio_s_per_s": round(long_s * stems / seconds, 2),
        **({"peak_vram_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)} if cuda else {}),
    }


def run(argv: list[str] | None = None) -> dict[str, Any]:
    a = _args(argv)
    model = a.model or ("debug" if a.quick else "random:facebook/musicgen-small")
    gen = Generator(model, a.device, max_window=a.window or (4.0 if a.quick else None))
    stride = a.stride or (2.5 if a.quick else 18.0)
    long_s = a.long or (20.0 if a.quick else 300.0)
    params = SamplingParams(extend_stride=stride, engine=a.engine)
    warm = [StemRequest("warmup", "warm up", min(2.0, gen.max_window), 0)]
    _timed(gen, warm, params)  # one-time costs
    result: dict[str, Any] = {
        "model": model,
        "device": gen.device,
        "device_label": device_label(gen.device),
        "window_s": gen.max_window,
        "extend_stride_s": stride,
        "engine": a.engine,
    }
    if a.only in (None, "decode"):
        seconds = a.decode_seconds or min(2.0 if a.quick else 4.0, gen.max_window)
        result["decode"] = compare(gen, a.stems, seconds, params)
    if a.only is None:
        result.update(_throughput(gen, a, params, long_s))
    if a.long_batch or a.only == "long-batch":
        result["long_batch"] = long_batch(gen, a.stems, long_s, params)
    if a.record and "long_render" in result:
        command = "`bench/generate.py " + " ".join(argv if argv is not None else sys.argv[1:]) + "`"
        row = speed_row(result, f"{time.strftime('%Y-%m-%d')} {command}")
        result["recorded"] = {"file": str(record(row)), "row": asdict(row)}
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
