"""bench/conform.py: the performances it plays, the truths it scores against, and its JSON (--quick)."""

from __future__ import annotations

import json
from types import ModuleType

import numpy as np
import pytest

from stems.audio import Audio
from tests.support.bench_scripts import load_bench


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("conform")


def test_performance_starts_after_the_lead_and_drifts_to_the_end_tempo(bench: ModuleType) -> None:
    perf = bench.Performance(bpm=100.0, factor=1.05, drift=0.02, lead=0.12, beats=48.0)
    times = perf.time(np.arange(49.0))
    assert times[0] == pytest.approx(0.12)
    assert np.all(np.diff(times) > 0)
    eps = 1e-4
    assert (perf.time(eps) - perf.time(0.0)) / eps == pytest.approx(60 / 105, rel=1e-4)
    assert (perf.time(48.0) - perf.time(48.0 - eps)) / eps == pytest.approx(60 / (105 * 1.02), rel=1e-4)
    still = bench.Performance(bpm=100.0, factor=0.95, drift=0.0, lead=0.05, beats=48.0)
    assert still.time(10.0) == pytest.approx(0.05 + 10 * 60 / 95)


def test_retune_raises_a_tone_by_the_cents_asked(bench: ModuleType) -> None:
    rate = 22_050
    tone = np.sin(2 * np.pi * 440.0 * np.arange(4 * rate) / rate).astype(np.float32)[None]
    out = bench.retune(Audio(tone, rate), 30.0)
    spectrum = np.abs(np.fft.rfft(out.samples[0] * np.hanning(out.num_samples), 8 * out.num_samples))
    peak = np.argmax(spectrum) * rate / (8 * out.num_samples)
    assert 1200 * np.log2(peak / 440.0) == pytest.approx(30.0, abs=1.0)
    assert out.num_samples == pytest.approx(4 * rate * 2 ** (-30 / 1200), rel=1e-4)  # rates are integers


def test_key_names_compare_by_pitch_class_and_mode(bench: ModuleType) -> None:
    assert bench.key_class("F# minor") == bench.key_class("Gb minor") == (6, "minor")
    assert bench.key_class("Bb major") == bench.key_class("B- major") == (10, "major")
    assert bench.key_class("C major") != bench.key_class("A minor")
    assert bench.key_class(None) is None and bench.key_class("H dur") is None


def test_excerpt_drops_the_pickup_and_reads_the_key(bench: ModuleType) -> None:
    piece = bench.Piece("bach/bwv66.6", 96.0, "piano", (0,))
    ex = bench.excerpt(piece, 30.0)
    assert ex.notes[0][0] == 0.0  # bar 1 beat 1: the one-beat pickup is gone
    assert (ex.bar, ex.key) == (4.0, (6, "minor"))  # f# minor
    assert ex.quarters == 35.0  # nine bars, the last one three beats (it completes the pickup)
    assert {n[4] for n in ex.notes} == {0, 1, 2, 3}


@pytest.mark.slow
def test_quick_bench_prints_scores_in_range(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--quick"])
    out = json.loads(capsys.readouterr().out)
    assert out["pieces"] == bench.QUICK == len(out["per_piece"])
    assert len(out["detuned"]) == 2 * bench.QUICK
    scores = [*out["beat_f"].values(), *out["onset_f1"].values(), out["key_accuracy"], out["tuning_accuracy"]]
    assert set(out["beat_f"]) == {"before", "after", "placed", "tracker"}
    assert set(out["onset_f1"]) == {"unwarped", "before", "conformed"}
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in scores), scores
    assert out["speed_audio_s"] == 60.0 and out["conform_s"] > 0 and out["realtime_factor"] > 0
    goals = {"beat_f_after", "beat_f_placed", "onset_f1_within", "key_accuracy", "tuning_accuracy"}
    assert set(out["goals"]) == goals | {"realtime_factor"}
    assert all(isinstance(v, bool) for v in out["goals"].values())
    # A rendering at the written tempo transcribes against its own score (the transcription bench's level).
    assert out["onset_f1"]["unwarped"] > 0.5
