"""Benchmark of the mixing stage; prints one JSON object.

    .venv/bin/python bench/mix.py            # 8 stereo stems x 300 s at 32 kHz (the issue's target: < 3 s)
    .venv/bin/python bench/mix.py --quick    # 8 x 20 s (CI-sized)

Timed (wall clock, and CPU seconds of this process, which other jobs on the machine disturb less):
per-stem loudness + mix bus (``mix_s``), limiter + loudness search + exact report (``master_s``);
their sum is ``pipeline_s``. Reported separately: full per-stem reports for the manifest (true peak and
loudness range of every stem, ``stem_reports_s``), encodings of the master (``encode_s``) and the one-off
numba cache load / compile (``warmup_s``). Stem synthesis is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mixing.export import export_audio
from mixing.loudness import measure
from mixing.master import Master
from mixing.mix import Track, mix
from stems.audio import Audio

BUDGET_S = 3.0


def synth_stem(index: int, seconds: float, rate: int) -> Audio:
    """Music-like stereo material: a tone with vibrato, band-limited noise, decaying hits."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(index)
    n = int(seconds * rate)
    t = np.arange(n, dtype=np.float64) / rate
    freq = 55.0 * 2 ** (index * 7 / 12)
    x = 0.2 * np.sin(2 * np.pi * freq * t + 0.3 * np.sin(2 * np.pi * 5 * t))
    noise = sosfilt(butter(2, min(0.9, (index + 1) / 10), output="sos"), rng.standard_normal((2, n)))
    out = x + 0.03 * (index + 1) * noise
    decay = np.exp(-np.arange(400) / 40.0) * np.sin(2 * np.pi * 3000 / rate * np.arange(400))
    for hit in range(index * 997, n - 400, rate // 2):
        out[:, hit : hit + 400] += 1.5 * decay  # drum-like transients: the limiter has work to do
    return Audio(out.astype(np.float32), rate)


CPU_TIMES: dict[str, float] = {}


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """(value, wall seconds); the process CPU seconds (all threads) go to CPU_TIMES under fn's name."""
    start, cpu = time.perf_counter(), time.process_time()
    value = fn(*args, **kwargs)
    CPU_TIMES[getattr(fn, "__name__", "fn")] = time.process_time() - cpu
    return value, time.perf_counter() - start


def encode_times(audio: Audio) -> dict[str, float]:
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, fmt, depth in (("wav24", "wav", 24), ("flac24", "flac", 24), ("mp3_320k", "mp3", 24)):
            _, times[name] = timed(export_audio, audio, Path(tmp) / f"mix.{fmt}", fmt=fmt, bit_depth=depth)
        _, times["wav16_48k"] = timed(
            export_audio, audio, Path(tmp) / "mix48.wav", bit_depth=16, sample_rate=48_000
        )
    return {k: round(v, 3) for k, v in times.items()}


def verify(audio: Audio) -> dict[str, float]:
    """The master as ffmpeg's independent R128 meter reads it (float WAV, so nothing is requantised)."""
    from mixing.export import ffmpeg_loudness

    with tempfile.TemporaryDirectory() as tmp:
        path = export_audio(audio, Path(tmp) / "master.wav", bit_depth="float")
        return ffmpeg_loudness(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 stems x 20 s instead of 300 s")
    parser.add_argument("--stems", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--rate", type=int, default=32_000)
    parser.add_argument("--no-encode", action="store_true", help="skip the encoding timings")
    parser.add_argument("--verify", action="store_true", help="also measure the master with ffmpeg ebur128")
    args = parser.parse_args()
    seconds = args.seconds or (20.0 if args.quick else 300.0)

    _, warmup = timed(Master().master, synth_stem(0, 1.0, args.rate))
    tracks = [
        Track(f"stem{i}", synth_stem(i, seconds, args.rate), gain_db=-i / 2, pan=(i - 3.5) / 4)
        for i in range(args.stems)
    ]
    mixed, mix_s = timed(mix, tracks)
    mix_cpu = CPU_TIMES["mix"]
    mastered, master_s = timed(Master(-14.0, -1.0).master, mixed.audio)
    master_cpu = CPU_TIMES["master"]
    _, reports_s = timed(lambda: {t.name: measure(t.audio) for t in tracks})
    result = {
        "stems": args.stems,
        "seconds": seconds,
        "sample_rate": args.rate,
        "channels": 2,
        "warmup_s": round(warmup, 3),
        "mix_s": round(mix_s, 3),
        "master_s": round(master_s, 3),
        "pipeline_s": round(mix_s + master_s, 3),
        "pipeline_cpu_s": round(mix_cpu + master_cpu, 3),  # CPU seconds of all threads: robust to other load
        "budget_s": BUDGET_S,
        "within_budget": mix_s + master_s < BUDGET_S,
        "stem_reports_s": round(reports_s, 3),
        "master_iterations": mastered.iterations,
        "master_gain_db": round(mastered.gain_db, 3),
        "limiter_reduction_db": round(mastered.limiter_reduction_db, 3),
        "master_report": mastered.report.to_dict(),
        "encode_s": None if args.no_encode else encode_times(mastered.audio),
        "ffmpeg_ebur128": verify(mastered.audio) if args.verify else None,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
