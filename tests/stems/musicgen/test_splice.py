"""stems.musicgen.splice: a section joined into a stem, on synthetic signals and on a FluidSynth chorale
(bench/sections.py's measures: no step or spectral flux at a seam above the stem's own, and a hard cut's is)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

from stems.audio import Audio
from stems.musicgen.splice import JOIN_FADE_S, Seam, equal_power, splice_section
from tests.support.bench_scripts import load_bench

RATE = 1000  # synthetic signals: a sample a millisecond, so seconds are easy to read
# A tuning-split chorale (place 62 of the shuffle: wind quartet, 89 bpm, 4 bars of 4/4 in 10 s) with bars 2-3
# of another (BWV 42.7, played with its programs and tempo) joined in: a hard cut's flux is 2-2.7x the
# stem's 99th percentile at both seams, the fade's under it.
CHORALE = (62, "bach/bwv104.6", "bach/bwv42.7")
CHORALE_SECONDS = 10.0


def _noise(channels: int, samples: int, seed: int) -> Audio:
    rng = np.random.default_rng(seed)
    return Audio((0.3 * rng.standard_normal((channels, samples))).astype(np.float32), RATE)


def test_equal_power_gains_keep_power_and_mirror_each_other() -> None:
    fade_out, fade_in = equal_power(64)
    assert fade_out.dtype == fade_in.dtype == np.float32 and fade_out.shape == fade_in.shape == (64,)
    np.testing.assert_allclose(
        fade_out.astype(np.float64) ** 2 + fade_in.astype(np.float64) ** 2, 1.0, atol=1e-6
    )
    np.testing.assert_allclose(fade_out, fade_in[::-1], atol=1e-7)
    assert np.all(np.diff(fade_out) < 0) and np.all(np.diff(fade_in) > 0)
    assert 0.0 < fade_in[0] < 0.05 and fade_out[-1] < 0.05  # sample centres: never exactly 0 or 1
    assert [g.size for g in equal_power(0)] == [0, 0]


def test_the_stem_is_bit_identical_outside_the_section_and_the_section_is_new_between_the_fades() -> None:
    old, new = _noise(2, 1000, 0), _noise(2, 300, 1)
    kept_old, kept_new = old.samples.copy(), new.samples.copy()
    out = splice_section(old, new, 0.2, fade=0.02)
    a, b, n = 200, 500, 20
    assert np.array_equal(out.audio.samples[:, :a], old.samples[:, :a])
    assert np.array_equal(out.audio.samples[:, b:], old.samples[:, b:])
    assert np.array_equal(out.audio.samples[:, a + n : b - n], new.samples[:, n:-n])
    fade_out, fade_in = equal_power(n)
    start = old.samples[:, a : a + n] * fade_out + new.samples[:, :n] * fade_in
    end = new.samples[:, -n:] * fade_out + old.samples[:, b - n : b] * fade_in
    np.testing.assert_array_equal(out.audio.samples[:, a : a + n], start)
    np.testing.assert_array_equal(out.audio.samples[:, b - n : b], end)
    assert out.seams == (Seam(0.2, 0.22), Seam(0.48, 0.5))
    assert out.audio.sample_rate == RATE and out.audio.samples.dtype == np.float32
    assert np.array_equal(old.samples, kept_old) and np.array_equal(new.samples, kept_new)  # inputs untouched


def test_equal_power_keeps_unrelated_audio_level_through_the_fade() -> None:
    old, new = _noise(1, 40_000, 2), _noise(1, 20_000, 3)
    out = splice_section(old, new, 10.0, fade=5.0).audio.samples[0]  # 5000-sample fades
    rms = [
        float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) for x in (out[:10_000], out[10_000:15_000])
    ]
    assert rms[1] == pytest.approx(rms[0], rel=0.03)


def test_a_section_at_either_end_has_one_seam_and_the_whole_stem_none() -> None:
    old = _noise(2, 1000, 4)
    first = splice_section(old, _noise(2, 400, 5), 0.0, fade=0.05)
    assert first.seams == (Seam(0.35, 0.4),)
    assert np.array_equal(first.audio.samples[:, :350], _noise(2, 400, 5).samples[:, :350])
    last = splice_section(old, _noise(2, 400, 6), 0.6, fade=0.05)
    assert last.seams == (Seam(0.6, 0.65),)
    assert np.array_equal(last.audio.samples[:, 650:], _noise(2, 400, 6).samples[:, 50:])
    whole = splice_section(old, _noise(2, 1000, 7), 0.0)
    assert whole.seams == () and np.array_equal(whole.audio.samples, _noise(2, 1000, 7).samples)


def test_a_fade_never_exceeds_half_the_section_and_zero_is_a_hard_cut() -> None:
    old, new = _noise(1, 1000, 8), _noise(1, 100, 9)
    assert splice_section(old, new, 0.3, fade=1.0).seams == (Seam(0.3, 0.35), Seam(0.35, 0.4))
    cut = splice_section(old, new, 0.3, fade=0.0)
    assert cut.seams == () and np.array_equal(cut.audio.samples[:, 300:400], new.samples)


@pytest.mark.parametrize(
    ("new", "start", "match"),
    [
        (Audio(np.zeros((2, 100), np.float32), 2000), 0.1, "Hz"),
        (Audio(np.zeros((1, 100), np.float32), RATE), 0.1, "ch"),
        (Audio(np.zeros((2, 100), np.float32), RATE), -0.01, "do not lie inside"),
        (Audio(np.zeros((2, 100), np.float32), RATE), 0.95, "do not lie inside"),
        (Audio(np.zeros((2, 0), np.float32), RATE), 0.1, "do not lie inside"),
    ],
)
def test_a_section_of_another_rate_or_layout_or_outside_the_stem_is_refused(
    new: Audio, start: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        splice_section(_noise(2, 1000, 10), new, start)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("sections")


def test_the_bench_puts_its_seams_where_splice_section_does(bench: ModuleType) -> None:
    old, new = _noise(2, 1000, 11), _noise(2, 300, 12)
    for start, fade in ((0.2, 0.02), (0.0, 0.05), (0.7, 0.01), (0.2, 1.0)):
        seams = splice_section(old, new, start, fade=fade).seams
        a = round(start * RATE)
        spans = bench.seam_spans(a, a + 300, 1000, fade, RATE)
        assert [(round(s.start * RATE), round(s.end * RATE)) for s in seams] == spans
    assert bench.seam_spans(200, 500, 1000, 0.0, RATE) == [(200, 200), (500, 500)]  # a hard cut's


def test_spectral_flux_peaks_at_a_click(bench: ModuleType) -> None:
    rate = 22_050
    t = np.arange(2 * rate) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    tone[rate] += 0.5  # one sample's click at 1 s
    values, hop, frame = bench.flux(tone[None, :], rate)
    assert (hop, frame) == (256, 1024)
    peak = int(np.argmax(values))
    assert peak * hop <= rate < peak * hop + frame
    assert values[peak] > 10 * np.percentile(values, bench.FLUX_PERCENTILE)


def test_the_fade_is_chosen_by_every_seam_passing_else_by_fewest_failing(bench: ModuleType) -> None:
    def seams(*figures: tuple[float, float, float]) -> dict[str, Any]:
        return {"identical": True, "seams": [dict(zip(("step", "flux", "own_flux"), f)) for f in figures]}

    ok, loud_onset, click = (0.5, 0.9, 0.8), (0.5, 1.4, 1.5), (0.5, 2.0, 0.9)
    rows = [
        {"fades": {"0": seams(click, ok), "0.01": seams(ok, (0.5, 1.01, 1.0)), "0.02": seams(ok, loud_onset)}}
    ]
    out = bench.summary(rows, (0.0, 0.01, 0.02))
    assert out["chosen_fade_s"] == 0.02 and out["chosen_by"] == "every seam passes"
    assert out["hard_cut_fails"] is True and out["fades"]["0"]["failing_seams"] == 1
    assert out["fades"]["0.02"]["flux_within_p99"] == 1 and out["fades"]["0.02"]["flux_pass"] == 2
    rows[0]["fades"]["0.02"] = seams(ok, (0.5, 1.2, 1.0))
    out = bench.summary(rows, (0.0, 0.01, 0.02))
    assert out["chosen_fade_s"] == 0.01 and out["chosen_by"] == "fewest failing seams"  # 1.01x before 1.2x
    assert "chosen_fade_s" not in bench.summary(rows, (0.0, 0.01))  # the held-out split: one fade


def test_a_chorale_joined_at_join_fade_s_has_no_click_and_a_hard_cut_has(bench: ModuleType) -> None:
    index, path, other = CHORALE
    piece = bench.chords.chorale(path, index)
    font = bench.chords.SOUNDFONTS["fluidr3"]
    joined = bench.build(piece, other, CHORALE_SECONDS, font, first_bar=2, bars=2)
    bar = 4 * 60.0 / piece.bpm
    rate = joined.stem.sample_rate
    assert joined.start == pytest.approx(bar * rate, abs=1) and joined.end == pytest.approx(
        3 * bar * rate, abs=1
    )
    faded, cut = bench.measure(joined, JOIN_FADE_S), bench.measure(joined, 0.0)
    assert faded["identical"] and cut["identical"]
    assert len(faded["seams"]) == len(cut["seams"]) == 2
    for seam in faded["seams"]:
        assert seam["step"] <= 1.0 and seam["flux"] <= 1.0 and bench.passes(seam), seam
    for seam in cut["seams"]:
        assert seam["flux"] > max(1.0, seam["own_flux"]) and not bench.passes(seam), seam
