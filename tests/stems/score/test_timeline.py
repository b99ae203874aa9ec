"""stems.score.timeline: charts laid over sections end to end, in beats and seconds; stems.score.meter."""

from __future__ import annotations

import pytest

from stems.musicgen.plan import section_spans
from stems.score import Meter, SectionChart, lay_out
from stems.transcription.midi import TempoMap
from tests.stems.score.support import planned

SECTIONS = [
    SectionChart("intro", 2, "Am", "soft piano"),
    SectionChart("verse", 4, None, "verse"),
    SectionChart("chorus", 4, "C | G | Am | F | Dm | E", "big chorus"),
]


def test_sections_sit_end_to_end_and_the_last_runs_to_the_end() -> None:
    score = lay_out(TempoMap(120.0, 4, 4), 30.0, SECTIONS, default_chords="Em | C")
    assert [(s.name, s.start_bar, s.bars, s.start, s.end) for s in score.sections] == [
        ("intro", 0, 2, 0.0, 4.0),
        ("verse", 2, 4, 4.0, 12.0),
        ("chorus", 6, 9, 12.0, 30.0),  # 18 s of 2 s bars
    ]
    spans = section_spans([(s.name, s.bars, s.prompt) for s in SECTIONS], 120.0, 4, 30.0)
    assert [(s.start, s.end) for s in spans] == [(s.start, s.end) for s in score.sections]


def test_default_chart_fills_sections_without_their_own_and_times_are_seconds() -> None:
    score = lay_out(TempoMap(120.0, 4, 4), 30.0, SECTIONS, default_chords="Em | C")
    verse = [c for c in score.chords if c.section == 1]
    assert [(c.symbol, c.start_beat, c.start, c.end) for c in verse] == [
        ("Em", 8, 4.0, 6.0),
        ("C", 12, 6.0, 8.0),
        ("Em", 16, 8.0, 10.0),
        ("C", 20, 10.0, 12.0),
    ]
    assert planned(score, 5.9).symbol == "Em" and planned(score, 6.0).symbol == "C"
    assert score.chord_at(30.0) is None and score.chords[-1].end == 30.0


def test_the_cut_note_counts_the_bars_written_not_the_stretched_last_section() -> None:
    score = lay_out(TempoMap(120.0, 4, 4), 30.0, SECTIONS, default_chords="Em | C")
    assert score.notes == (
        "section 'chorus': the chord chart has 6 bars but the section has 4: bars 5-6 "
        "of the chart not played",
    )
    chorus = [c.symbol for c in score.chords if c.section == 2]
    assert chorus == ["C", "G", "Am", "F", "Dm", "E", "C", "G", "Am"]  # 9 bars: the chart repeats


def test_no_sections_one_chart_over_the_whole_track_in_six_eight() -> None:
    score = lay_out(TempoMap(180.0, 6, 8), 10.0, [], default_chords="D A")
    # bpm counts eighths: a bar is 6 / 3 = 2 s; "D A" splits it 3 + 3 eighths.
    assert [(c.symbol, c.start, c.end) for c in score.chords[:3]] == [
        ("D", 0.0, 1.0),
        ("A", 1.0, 2.0),
        ("D", 2.0, 3.0),
    ]
    assert score.sections[0].bars == 5 and score.notes == ()


def test_a_section_without_any_chart_plays_no_chords_and_late_sections_are_dropped() -> None:
    sections = [SectionChart("a", 2, "C"), SectionChart("b", 2), SectionChart("c", 4, "G")]
    score = lay_out(TempoMap(60.0, 4, 4), 20.0, sections)  # bars of 4 s: a 0-8, b 8-16, c 16-20
    assert [s.name for s in score.sections] == ["a", "b", "c"]
    assert (
        planned(score, 7.9).symbol == "C"
        and score.chord_at(9.0) is None
        and planned(score, 16.0).symbol == "G"
    )
    late = lay_out(TempoMap(60.0, 4, 4), 12.0, sections)
    assert [s.name for s in late.sections] == ["a", "b"]


@pytest.mark.parametrize(
    ("signature", "lengths", "strong"),
    [
        ((4, 4), (1, 1, 1, 1), (True, False, True, False)),
        ((3, 4), (1, 1, 1), (True, False, False)),
        ((2, 2), (1, 1), (True, False)),
        ((5, 4), (1, 1, 1, 1, 1), (True, False, True, False, False)),
        ((6, 8), (3, 3), (True, False)),
        ((12, 8), (3, 3, 3, 3), (True, False, True, False)),
        ((7, 8), (2, 2, 3), (True, False, False)),
        ((5, 8), (2, 3), (True, False)),
        ((3, 8), (3,), (True,)),
    ],
)
def test_meter_pulses(signature: tuple[int, int], lengths: tuple[int, ...], strong: tuple[bool, ...]) -> None:
    meter = Meter(*signature)
    assert meter.pulse_lengths == lengths and sum(lengths) == signature[0]
    assert meter.strong == strong
