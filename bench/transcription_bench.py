"""Transcription speed: real-time factor on CPU and the facade's overhead against basic-pitch itself.

``bench_transcription(quick)`` returns a JSON-able dict; ``python bench/transcription_bench.py
[--quick]`` prints it. Audio is synthetic (harmonic tones and a click kit at 44.1 kHz stereo), so
the benchmark needs no fluidsynth.

* ``rtf``: wall seconds per second of audio for ``Transcriber.transcribe`` per family (model
  already loaded, as in a render where one Transcriber serves every stem).
* ``long_stem``: the same for one 300 s stem (issue 17's goal: under 0.05x real time on 2 cores, basic-pitch's
  ONNX pass included), per family whose row uses the note tracker of ``stems.transcription.tracking``.
* ``facade_overhead``: ``transcribe_file``'s path (read the file, ``Transcriber.transcribe`` with
  basic-pitch's default settings) against ``basic_pitch.inference.predict`` on the same file with an
  already loaded model; median of several runs. Goal: within 5 % (negative = faster).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stems.audio import Audio, read_audio, write_wav
from stems.transcription.notes import quiet_basic_pitch_import
from stems.transcription.settings import BASIC_PITCH_DEFAULTS
from stems.transcription.transcriber import default_model_path, get_transcriber

SR = 44100


def synthetic_song(seconds: float, seed: int = 0) -> Audio:
    """Random harmonic-tone melody over held triads, stereo 44.1 kHz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = np.zeros(n)
    t = 0.0
    while t < seconds - 0.5:
        length = float(rng.choice([0.25, 0.5, 1.0]))
        for pitch, gain in [(int(rng.integers(60, 84)), 0.3)] + [(48 + i, 0.1) for i in (0, 4, 7)]:
            f0 = 440.0 * 2 ** ((pitch - 69) / 12)
            k = np.arange(int(length * SR))
            tone = sum(np.sin(2 * np.pi * f0 * h * k / SR) / h for h in range(1, 5))
            tone *= np.minimum(1.0, np.minimum(k / 441, (len(k) - k) / 2205))
            i = int(t * SR)
            m = min(len(k), n - i)
            x[i : i + m] += gain * tone[:m]
        t += length
    return Audio(np.stack([x, x]).astype(np.float32), SR)


def click_kit(seconds: float) -> Audio:
    """Noise bursts on eighths with a low thump on the beats (a stand-in drum stem)."""
    rng = np.random.default_rng(1)
    x = np.zeros(int(seconds * SR))
    for i, start in enumerate(np.arange(0.1, seconds - 0.3, 0.25)):
        j = int(start * SR)
        burst = rng.standard_normal(2205) * np.exp(-np.arange(2205) / 300)
        x[j : j + 2205] += 0.3 * burst
        if i % 2 == 0:
            k = np.arange(8820)
            x[j : j + 8820] += 0.8 * np.sin(2 * np.pi * 60 * k / SR) * np.exp(-k / 2000)
    return Audio(np.stack([x, x]).astype(np.float32), SR)


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def real_time_factors(seconds: float, repeats: int) -> dict[str, float]:
    transcriber = get_transcriber()
    song, kit = synthetic_song(seconds), click_kit(seconds)
    transcriber.transcribe(song, "piano", "warmup")  # loads the ONNX session once
    out = {}
    for family, audio in (("piano", song), ("lead", song), ("strings", song), ("drums", kit)):
        elapsed = _median_time(lambda a=audio, f=family: transcriber.transcribe(a, f, f), repeats)
        out[family] = round(elapsed / audio.duration, 4)
    return out


LONG_FAMILIES = ("piano", "strings", "violin", "guitar", "woodwind", "brass", "bass")


def long_stem(seconds: float = 300.0) -> dict[str, object]:
    """Wall seconds / audio seconds for one long stem, per family; also the ONNX pass alone."""
    transcriber = get_transcriber()
    song = synthetic_song(seconds)
    transcriber.transcribe(synthetic_song(5.0), "piano", "warmup")
    onnx = _median_time(lambda: transcriber.posteriors(song), 1)
    out: dict[str, object] = {"audio_seconds": seconds, "onnx_only": round(onnx / seconds, 4)}
    for family in LONG_FAMILIES:
        began = time.perf_counter()
        transcriber.transcribe(song, family, family)
        out[family] = round((time.perf_counter() - began) / seconds, 4)
    return out


def facade_overhead(seconds: float, repeats: int) -> dict[str, float]:
    with quiet_basic_pitch_import():
        from basic_pitch.inference import Model, predict

    model = Model(default_model_path())
    transcriber = get_transcriber()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "song.wav"
        write_wav(path, synthetic_song(seconds), subtype="PCM_16")

        def theirs() -> None:
            with contextlib.redirect_stdout(io.StringIO()):  # predict prints a progress line
                predict(path, model)

        def ours() -> None:
            transcriber.transcribe(read_audio(path), "piano", "song", settings=BASIC_PITCH_DEFAULTS)

        ours(), theirs()  # warm caches (librosa/soxr, numba, the ONNX session)
        t_theirs = _median_time(theirs, repeats)
        t_ours = _median_time(ours, repeats)
    return {
        "audio_seconds": seconds,
        "basic_pitch_predict_s": round(t_theirs, 4),
        "facade_s": round(t_ours, 4),
        "overhead": round(t_ours / t_theirs - 1.0, 4),
    }


def bench_transcription(quick: bool) -> dict[str, object]:
    """Real-time factors per family and facade overhead; ``quick`` uses 10 s of audio, else 60 s."""
    seconds, repeats = (10.0, 3) if quick else (60.0, 5)
    return {
        "device": "cpu",
        "cpu_count": os.cpu_count(),
        "audio_seconds": seconds,
        "real_time_factor": real_time_factors(seconds, repeats),
        "facade_overhead": facade_overhead(seconds, repeats),
        **({} if quick else {"long_stem": long_stem()}),
    }


if __name__ == "__main__":
    print(json.dumps(bench_transcription("--quick" in sys.argv[1:]), indent=2))
