"""stems.score.parts and drums: each family's part follows the score, per meter, deterministic per seed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from stems.instruments import INSTRUMENT_FAMILIES, resolve_instrument
from stems.score import (
    FAMILY_ROLES,
    Meter,
    Part,
    Score,
    SectionChart,
    is_energetic,
    lay_out,
    make_part,
    write_part,
)
from stems.score.drums import KICK, SNARE
from stems.score.parts import FAMILY_REGISTERS, close_voicings, voice_lead
from stems.transcription.midi import Note, TempoMap
from tests.stems.score.support import planned

METERS = [(4, 4), (3, 4), (6, 8), (7, 8), (5, 4), (12, 8)]
CHARTS = ["Em | C | G D | Am7 B7", "C | G/B | Am | F", "Dm7 G7 | Cmaj7 | F#m7b5 B7 | Em/G"]


def score(
    meter: tuple[int, int] = (4, 4), chart: str = CHARTS[0], bpm: float = 110.0, seconds: float = 40.0
) -> Score:
    sections = [
        SectionChart("verse", 8, chart, "calm verse"),
        SectionChart("chorus", 8, CHARTS[1], "big chorus"),
    ]
    return lay_out(TempoMap(bpm, *meter), seconds, sections)


def beat_of(s: Score, seconds: float) -> Fraction:
    return Fraction(round(seconds / s.beat_seconds * 960), 960)


def pulse_beats(s: Score) -> set[Fraction]:
    meter = Meter.of(s.tempo)
    return {Fraction(bar * meter.numerator + p) for bar in range(s.bars) for p in meter.pulses}


def test_every_family_has_a_role_and_gm_names_resolve_to_one() -> None:
    assert set(FAMILY_ROLES) == set(INSTRUMENT_FAMILIES) and set(FAMILY_REGISTERS) == set(
        INSTRUMENT_FAMILIES
    ) - {"drums"}
    roles = {
        name: make_part("x", resolve_instrument(name), score()).role
        for name in ("fretless bass", "violin", "clarinet", "acoustic grand piano", "drums")
    }
    assert roles == {
        "fretless bass": "bass",
        "violin": "sustain",
        "clarinet": "sustain",
        "acoustic grand piano": "comp",
        "drums": "drums",
    }


@pytest.mark.parametrize("meter", METERS)
def test_bass_plays_the_planned_bass_on_every_pulse(meter: tuple[int, int]) -> None:
    s = score(meter, CHARTS[2])
    part = make_part("bass", resolve_instrument("bass"), s, seed=3)
    pulses = pulse_beats(s)
    on_pulse = [n for n in part.notes if beat_of(s, n.start) in pulses]
    assert len(on_pulse) == len([p for p in pulses if p * Fraction(s.beat_seconds) < s.duration])
    for note in on_pulse:
        chord = s.chord_at(note.start)
        assert chord is not None and note.pitch % 12 == chord.bass_pc, (note, chord)
        assert 28 <= note.pitch <= 40
    assert any(n.pitch % 12 == 7 for n in on_pulse if planned(s, n.start).symbol == "Em/G")  # the slash bass


@pytest.mark.parametrize("meter", METERS)
def test_bass_approach_notes_lead_a_semitone_into_the_next_bass_at_phrase_ends(
    meter: tuple[int, int],
) -> None:
    s = score(meter, CHARTS[0])
    part = make_part("bass", resolve_instrument("bass"), s, seed=5)
    off = [n for n in part.notes if beat_of(s, n.start) not in pulse_beats(s)]
    assert off, "some approach notes"
    eighth = Meter.of(s.tempo).eighth
    for note in off:
        target = beat_of(s, note.start) + eighth
        assert target % (4 * meter[0]) == 0  # into a four-bar line
        following = s.chord_at(float(target) * s.beat_seconds)
        assert following is not None and abs(note.pitch - (28 + (following.bass_pc - 28) % 12)) == 1


def strikes_of(part: Part) -> dict[float, tuple[int, ...]]:
    out: dict[float, list[int]] = {}
    for note in part.notes:
        out.setdefault(note.start, []).append(note.pitch)
    return {t: tuple(sorted(p)) for t, p in out.items()}


@pytest.mark.parametrize("meter", METERS)
@pytest.mark.parametrize("family", ["piano", "keys", "guitar"])
def test_comping_voicings_hold_the_chord_tones_on_every_pulse(family: str, meter: tuple[int, int]) -> None:
    s = score(meter, CHARTS[2])
    part = make_part(family, resolve_instrument(family), s, seed=1)
    low, high = FAMILY_REGISTERS[family]
    strikes = strikes_of(part)
    assert {beat_of(s, t) for t in strikes} >= {
        p for p in pulse_beats(s) if float(p) * s.beat_seconds < s.duration
    }
    for time, voicing in strikes.items():
        chord = s.chord_at(time)
        assert chord is not None and {p % 12 for p in voicing} <= set(chord.pitch_classes)
        assert len({p % 12 for p in voicing}) == min(4, len(chord.pitch_classes))
        assert low <= min(voicing) and max(voicing) <= high


@pytest.mark.parametrize("chart", [*CHARTS, "C | F# | Bb | E", "Cmaj7 | Ebm7/Db | Ab/Bb | C9"])
def test_voice_leading_moves_voices_little(chart: str) -> None:
    s = lay_out(TempoMap(100.0, 4, 4), 40.0, [], chart)
    register = FAMILY_REGISTERS["piano"]
    led = voice_lead(s.chords, register, np.random.default_rng(0))
    # Each voice of the next voicing is within 5 semitones of a voice of the last one ...
    assert max(max(min(abs(x - y) for y in a) for x in b) for a, b in zip(led, led[1:])) <= 5

    # ... and the voices move at most 70 % as far as root-position voicings would take them.
    def root_position(pcs: tuple[int, ...]) -> tuple[int, ...]:
        return min(
            (v for v in close_voicings(pcs, register) if v[0] % 12 == pcs[0]),
            key=lambda v: abs(np.mean(v) - 64),
        )

    def travel(voicings: list[tuple[int, ...]]) -> int:
        return sum(
            sum(abs(x - y) for x, y in zip(a, b)) for a, b in zip(voicings, voicings[1:]) if len(a) == len(b)
        )

    assert travel(led) < 0.7 * travel([root_position(c.pitch_classes) for c in s.chords])


@pytest.mark.parametrize("family", ["pad", "strings", "brass", "woodwind", "vocals"])
def test_sustained_families_hold_each_voicing_for_the_whole_chord(family: str) -> None:
    s = score((6, 8), CHARTS[1])
    part = make_part(family, resolve_instrument(family), s, seed=2)
    assert len(strikes_of(part)) == len(s.chords)
    for note in part.notes:
        chord = s.chord_at(note.start)
        assert chord is not None and note.pitch % 12 in chord.pitch_classes
        assert (note.start, note.end) == pytest.approx((chord.start, chord.end))


@pytest.mark.parametrize("meter", METERS)
def test_lead_line_is_chord_tones_one_per_pulse(meter: tuple[int, int]) -> None:
    s = score(meter, CHARTS[2])
    part = make_part("lead", resolve_instrument("lead"), s, seed=4)
    assert len(strikes_of(part)) == len(part.notes) >= len(s.chords)
    for note in part.notes:
        assert note.pitch % 12 in planned(s, note.start).pitch_classes and 64 <= note.pitch <= 84
    steps = np.abs(np.diff([n.pitch for n in part.notes]))
    assert steps.max() <= 6 and np.median(steps) <= 4  # the widest gap between tones: a diminished triad's 6


def test_a_given_melody_is_the_lead_cut_at_the_end() -> None:
    s = score(seconds=10.0)
    melody = [Note(0.5, 1.0, 72, 90), Note(9.5, 11.0, 74, 80), Note(12.0, 13.0, 76, 80)]
    part = make_part("lead", resolve_instrument("lead"), s, seed=0, melody=melody)
    assert part.notes == (Note(0.5, 1.0, 72, 90), Note(9.5, 10.0, 74, 80))


@pytest.mark.parametrize("family", ["bass", "piano", "pad", "lead", "drums"])
def test_parts_are_deterministic_per_seed(family: str) -> None:
    s = score()
    a, b, c = (make_part(family, resolve_instrument(family), s, seed=seed) for seed in (7, 7, 8))
    assert a == b and a.notes != c.notes


def test_no_chords_no_pitched_notes_but_drums_play() -> None:
    s = lay_out(TempoMap(120.0, 4, 4), 8.0, [SectionChart("verse", 4)])
    assert make_part("bass", resolve_instrument("bass"), s).notes == ()
    assert len(make_part("drums", resolve_instrument("drums"), s).notes) > 0


@pytest.mark.parametrize("meter", METERS)
def test_drums_kick_on_strong_pulses_snare_on_the_others(meter: tuple[int, int]) -> None:
    s = score(meter)
    part = make_part("drums", resolve_instrument("drums"), s, seed=0)
    m = Meter.of(s.tempo)
    verse_end = s.sections[0].end
    for key, strong in ((KICK, True), (SNARE, False)):
        beats = {
            beat_of(s, n.start) % m.numerator for n in part.notes if n.pitch == key and n.start < verse_end
        }
        assert beats == {Fraction(p) for p, st in zip(m.pulses, m.strong) if st == strong}


@pytest.mark.parametrize("meter", METERS)
def test_drums_get_busier_where_the_section_asks_for_energy(meter: tuple[int, int]) -> None:
    s = score(meter, seconds=16 * TempoMap(110.0, *meter).bar_seconds)
    part = make_part("drums", resolve_instrument("drums"), s, seed=0)
    verse, chorus = s.sections
    calm = sum(n.start < verse.end for n in part.notes) / verse.bars
    busy = (
        sum(chorus.start <= n.start < chorus.start + verse.bars * s.tempo.bar_seconds for n in part.notes)
        / verse.bars
    )
    assert (is_energetic(verse), is_energetic(chorus)) == (False, True)
    assert busy >= 1.5 * calm


@pytest.mark.parametrize(
    ("name", "prompt", "energetic"),
    [
        ("chorus", "", True),
        ("verse", "Driving, full band", True),
        ("outro", "fade out gently", False),
        ("fullness", "", False),
    ],
)
def test_energy_words_are_whole_words_in_name_or_prompt(name: str, prompt: str, energetic: bool) -> None:
    s = lay_out(TempoMap(120.0, 4, 4), 8.0, [SectionChart(name, 4, None, prompt)])
    assert is_energetic(s.sections[0]) is energetic


@pytest.mark.parametrize(("family", "meter"), [("piano", (3, 4)), ("drums", (7, 8))])
def test_written_part_carries_program_tempo_and_time_signature(
    family: str, meter: tuple[int, int], tmp_path: Path
) -> None:
    import pretty_midi

    s = score(meter, bpm=96.0)
    part = make_part(family, resolve_instrument(family), s, seed=0)
    write_part(tmp_path / "part.mid", part, s)
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "part.mid"))
    (inst,) = midi.instruments
    assert (inst.is_drum, inst.program) == (family == "drums", 0)
    signature = midi.time_signature_changes[0]
    assert (signature.numerator, signature.denominator) == meter
    assert midi.get_tempo_changes()[1][0] == pytest.approx(96.0 * 4 / meter[1], abs=0.01)
    assert len(inst.notes) == len(part.notes)
    assert [round(n.start, 2) for n in inst.notes[:8]] == [round(n.start, 2) for n in part.notes[:8]]
