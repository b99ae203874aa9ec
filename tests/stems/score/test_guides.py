"""stems.score.guides: the chroma guide of a part lands on the planned chord (and bass), frame by frame."""

from __future__ import annotations

import numpy as np
import pytest

from stems.errors import UserInputError
from stems.instruments import resolve_instrument
from stems.musicgen.chroma import CHROMA_SAMPLE_RATE, HOP, chroma_frames
from stems.score import Score, SectionChart, guide_adherence, guide_chroma, lay_out, make_part
from stems.transcription.midi import Note, TempoMap

CHARTS = {
    "pop": "Em | C | G D | Am7 B7",
    "slash": "C | G/B | Am | F/A | Dm7 | G7sus4 G7",
    "jazz": "Dm7 G7 | Cmaj7 | F#m7b5 B7 | Em9 A7 | Bbmaj7 | Ebm7/Db | Ab/Bb | C6",
}
METERS = [(4, 4), (3, 4), (6, 8), (7, 8), (5, 4)]
PITCHED = ["piano", "keys", "guitar", "pad", "strings", "brass", "lead"]
SECONDS = 60.0


def score(chart: str, meter: tuple[int, int], bpm: float = 96.0) -> Score:
    sections = [SectionChart("verse", 8, chart, "verse"), SectionChart("chorus", 8, CHARTS["pop"], "chorus")]
    return lay_out(TempoMap(bpm, *meter), SECONDS, sections)


def test_frames_are_the_extractors() -> None:
    s = score(CHARTS["pop"], (4, 4))
    guide = guide_chroma(make_part("keys", resolve_instrument("keys"), s), 0.0, 30.0)
    assert guide.chroma.shape == (chroma_frames(30.0), 12) == (235, 12)
    assert guide.chroma.dtype == np.float32 and np.all(guide.chroma.sum(axis=1) == 1.0)
    assert guide.times[1] == pytest.approx(HOP / CHROMA_SAMPLE_RATE)


def test_a_window_from_a_later_start_is_the_same_frames() -> None:
    s = score(CHARTS["jazz"], (3, 4))
    part = make_part("guitar", resolve_instrument("guitar"), s, seed=2)
    whole = guide_chroma(part, 0.0, SECONDS)
    offset = 78  # frames: the window starts on a frame of the whole guide
    later = guide_chroma(part, offset * HOP / CHROMA_SAMPLE_RATE, 20.0)
    assert np.array_equal(later.chroma, whole.chroma[offset : offset + len(later.chroma)])


def test_silence_is_one_hot_on_c_and_not_voiced() -> None:
    s = lay_out(TempoMap(120.0, 4, 4), 8.0, [SectionChart("a", 2), SectionChart("b", 2, "E")])
    part = make_part("pad", resolve_instrument("pad"), s)
    guide = guide_chroma(part, 0.0, 8.0)
    silent = guide.times < 4.0 - 0.3  # the first section has no chords, so no notes (window half 0.256 s)
    assert not guide.voiced[silent].any() and np.all(guide.pitch_classes[silent] == 0)
    assert guide.voiced[guide.times > 4.3].all()


@pytest.mark.parametrize("meter", METERS)
@pytest.mark.parametrize("chart", list(CHARTS))
def test_guides_land_on_the_planned_chord_and_bass(chart: str, meter: tuple[int, int]) -> None:
    s = score(CHARTS[chart], meter)
    for family in PITCHED:
        fit = guide_adherence(
            guide_chroma(make_part(family, resolve_instrument(family), s, seed=1), 0.0, SECONDS), s
        )
        assert fit.frames > 0.9 * chroma_frames(SECONDS)
        assert fit.chord_fraction >= 0.95, (family, fit)
    bass = guide_adherence(
        guide_chroma(make_part("bass", resolve_instrument("bass"), s, seed=1), 0.0, SECONDS), s
    )
    assert bass.bass_fraction >= 0.90, bass


@pytest.mark.parametrize("meter", METERS)
def test_control_a_guide_measured_against_another_chart_fails(meter: tuple[int, int]) -> None:
    """The measure can fail: the same parts against a chart a tritone away, and a keys guide as a bass."""
    s = lay_out(TempoMap(96.0, *meter), SECONDS, [], CHARTS["pop"])
    other = lay_out(TempoMap(96.0, *meter), SECONDS, [], "Bbm | F# | C# G# | D#m7 F7")  # a tritone away
    for family in ("piano", "pad", "lead", "bass"):
        guide = guide_chroma(make_part(family, resolve_instrument(family), s, seed=1), 0.0, SECONDS)
        assert guide_adherence(guide, other).chord_fraction < 0.5, family
    keys = guide_chroma(make_part("keys", resolve_instrument("keys"), s, seed=1), 0.0, SECONDS)
    assert guide_adherence(keys, s).bass_fraction < 0.9


def test_a_melody_off_the_chords_scores_low() -> None:
    s = score(CHARTS["pop"], (4, 4))
    chromatic = [Note(0.25 * k, 0.25 * (k + 1), 60 + k % 12, 90) for k in range(int(SECONDS * 4))]
    part = make_part("lead", resolve_instrument("lead"), s, melody=chromatic)
    assert guide_adherence(guide_chroma(part, 0.0, SECONDS), s).chord_fraction < 0.5


def test_drums_have_no_guide() -> None:
    s = score(CHARTS["pop"], (4, 4))
    with pytest.raises(UserInputError, match="no pitch"):
        guide_chroma(make_part("drums", resolve_instrument("drums"), s))
