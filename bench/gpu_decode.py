"""Issue 16's GPU figures in one process (the model is built once): prints JSON, about 6-10 min on an H200.

    .venv/bin/python bench/gpu_decode.py                      # musicgen-stereo-large size, 8 stems x 300 s
    .venv/bin/python bench/gpu_decode.py --long 120           # a shorter full render when time is short

1. decode step, --stems stems batched: eager vs fast ms/step, identical tokens, dispatches/step, peak VRAM
2. the same for 1 stem
3. the full render of --stems stems x --long s in one batched call with the fast engine: time, peak VRAM
4. the same with the eager engine for --eager-long s only (its ms/step from 1 scales it to --long)

Random weights of the published architecture (``random:``): no download, the speed of the real checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.decode import compare
from bench.generate import device_label, long_batch
from stems.musicgen.generator import Generator
from stems.musicgen.models import FRAME_RATE
from stems.musicgen.types import SamplingParams


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="random:facebook/musicgen-stereo-large")
    p.add_argument("--device", default="cuda")
    p.add_argument("--stems", type=int, default=8)
    p.add_argument("--long", type=float, default=300.0, help="full render length per stem (s)")
    p.add_argument("--eager-long", type=float, default=60.0, help="eager render length per stem (s)")
    p.add_argument("--decode-seconds", type=float, default=10.0, help="stem length of the decode runs (s)")
    return p.parse_args(argv)


def run(argv: list[str] | None = None) -> dict[str, Any]:
    a = _args(argv)
    started = time.perf_counter()
    gen = Generator(a.model, a.device)
    built = time.perf_counter() - started
    params = SamplingParams()
    result: dict[str, Any] = {
        "model": a.model,
        "device_label": device_label(gen.device),
        "build_s": round(built, 1),
    }
    result["decode"] = compare(gen, a.stems, a.decode_seconds, params)
    result["decode_1_stem"] = compare(gen, 1, a.decode_seconds, params)
    result["render_fast"] = long_batch(gen, a.stems, a.long, params)
    eager = long_batch(gen, a.stems, a.eager_long, SamplingParams(engine="eager"))
    steps = a.long * FRAME_RATE  # its decode steps alone at --long: a lower bound (prefills come on top)
    eager["steps_s_at_long"] = round(steps * result["decode"]["eager_ms_per_step"] / 1000, 1)
    result["render_eager"] = eager
    result["goal"] = {"seconds": 60, "met": result["render_fast"]["seconds"] < 60}
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
