"""stems.transcription.midi: tempo map, quantisation and the MIDI writer, read back with pretty_midi (a second library)."""

from __future__ import annotations

from pathlib import Path

import mido
import pretty_midi
import pytest

from stems.errors import UserInputError
from stems.transcription.midi import (
    DRUM_CHANNEL,
    Note,
    NoteTrack,
    PitchBend,
    TempoMap,
    grid_seconds,
    parse_grid,
    quantize_notes,
    write_midi,
)

TICK_S = 0.002  # one tick at 120 qpm and 480 ppq is ~1 ms; allow two


def _tracks() -> list[NoteTrack]:
    bass = NoteTrack(
        "bass",
        "bass",
        33,
        False,
        (Note(0.0, 0.5, 40, 100), Note(0.5, 1.25, 43, 80)),
        pitch_bends=(PitchBend(0.6, 2048), PitchBend(0.8, -4096)),
    )
    keys = NoteTrack("keys", "keys", 4, False, (Note(0.25, 1.0, 60, 90), Note(0.25, 1.0, 64, 70)))
    drums = NoteTrack("drums", "drums", 0, True, (Note(0.0, 0.1, 36, 120), Note(0.5, 0.6, 38, 64)))
    return [bass, keys, drums]


def test_tempo_map_quarter_notes_follow_the_denominator() -> None:
    six_eight = TempoMap(120.0, 6, 8)
    assert six_eight.quarter_notes_per_minute == pytest.approx(60.0)
    assert six_eight.microseconds_per_quarter == 1_000_000
    assert six_eight.bar_seconds == pytest.approx(3.0)
    assert TempoMap(96.0).seconds_per_quarter == pytest.approx(0.625)


@pytest.mark.parametrize(
    "kwargs", [{"bpm": 0.0}, {"bpm": 120.0, "denominator": 3}, {"bpm": 90.0, "numerator": 0}]
)
def test_tempo_map_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(UserInputError, match="use"):
        TempoMap(**kwargs)  # type: ignore[arg-type]


def test_written_file_reads_back_with_pretty_midi(tmp_path: Path) -> None:
    path = tmp_path / "song.mid"
    write_midi(path, _tracks(), TempoMap(96.0, 3, 4))
    pm = pretty_midi.PrettyMIDI(str(path))
    _, tempi = pm.get_tempo_changes()
    assert list(tempi) == pytest.approx([96.0], abs=0.01)
    sig = pm.time_signature_changes
    assert [(s.numerator, s.denominator, s.time) for s in sig] == [(3, 4, 0.0)]
    by_name = {inst.name: inst for inst in pm.instruments}
    assert set(by_name) == {"bass", "keys", "drums"}
    assert (by_name["bass"].program, by_name["bass"].is_drum) == (33, False)
    assert (by_name["keys"].program, by_name["keys"].is_drum) == (4, False)
    assert by_name["drums"].is_drum
    got = [
        (n.start, n.end, n.pitch, n.velocity) for n in sorted(by_name["bass"].notes, key=lambda n: n.start)
    ]
    for (start, end, pitch, velocity), want in zip(got, _tracks()[0].notes):
        assert (pitch, velocity) == (want.pitch, want.velocity)
        assert start == pytest.approx(want.start, abs=TICK_S) and end == pytest.approx(want.end, abs=TICK_S)
    bends = [(b.time, b.pitch) for b in by_name["bass"].pitch_bends]
    assert bends[:2] == [(pytest.approx(0.6, abs=TICK_S), 2048), (pytest.approx(0.8, abs=TICK_S), -4096)]
    assert bends[-1][1] == 0  # the wheel is re-centred at the end


def test_channels_tempo_and_time_signature_in_raw_events(tmp_path: Path) -> None:
    path = tmp_path / "song.mid"
    write_midi(path, _tracks(), TempoMap(150.0, 6, 8))
    midi = mido.MidiFile(str(path))
    assert midi.type == 1 and len(midi.tracks) == 4
    meta = {m.type: m for m in midi.tracks[0]}
    assert meta["set_tempo"].tempo == round(60_000_000 / (150.0 * 4 / 8))
    assert (meta["time_signature"].numerator, meta["time_signature"].denominator) == (6, 8)
    channels = [{m.channel for m in t if m.type == "note_on"} for t in midi.tracks[1:]]
    assert channels[2] == {DRUM_CHANNEL}
    assert DRUM_CHANNEL not in channels[0] | channels[1] and channels[0] != channels[1]
    assert not any(m.type == "program_change" for m in midi.tracks[3])


def test_empty_tracks_give_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "silent.mid"
    write_midi(path, [NoteTrack("pad", "pad", 89, False, (), ("silent",))], TempoMap(100.0))
    pm = pretty_midi.PrettyMIDI(str(path))
    assert sum(len(i.notes) for i in pm.instruments) == 0
    assert pm.get_tempo_changes()[1][0] == pytest.approx(100.0, abs=0.01)
    write_midi(tmp_path / "none.mid", [], TempoMap(100.0))
    assert len(mido.MidiFile(str(tmp_path / "none.mid")).tracks) == 1


def test_invalid_note_raises_and_leaves_no_file(tmp_path: Path) -> None:
    bad = NoteTrack("lead", "lead", 81, False, (Note(1.0, 0.5, 60, 100),))
    with pytest.raises(UserInputError, match="lead"):
        write_midi(tmp_path / "bad.mid", [bad], TempoMap(120.0))
    assert list(tmp_path.iterdir()) == []


def test_overwrite_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "x.mid"
    write_midi(path, _tracks(), TempoMap(120.0))
    write_midi(path, _tracks()[:1], TempoMap(120.0))
    assert [p.name for p in tmp_path.iterdir()] == ["x.mid"]
    assert len(pretty_midi.PrettyMIDI(str(path)).instruments) == 1


def test_grid_parsing_and_length() -> None:
    assert parse_grid("1/16") == pytest.approx(1 / 16)
    assert parse_grid("1/8t") == pytest.approx(1 / 12)
    assert grid_seconds("1/16", TempoMap(120.0)) == pytest.approx(0.125)
    assert grid_seconds("1/8", TempoMap(120.0, 6, 8)) == pytest.approx(0.5)  # eighth = one beat of 6/8
    for bad in ("sixteenth", "0", "1/0", "-1/4", "8"):
        with pytest.raises(UserInputError, match="1/16"):
            parse_grid(bad)


def test_quantize_snaps_to_grid_and_keeps_one_step() -> None:
    notes = [Note(0.13, 0.20, 60, 90), Note(0.49, 1.01, 62, 80), Note(0.51, 0.55, 62, 100)]
    out = quantize_notes(notes, "1/16", TempoMap(120.0))
    assert [(n.start, n.end, n.pitch, n.velocity) for n in out] == [
        (pytest.approx(0.125), pytest.approx(0.25), 60, 90),
        (pytest.approx(0.5), pytest.approx(0.625), 62, 100),  # two notes on one step: the louder stays
    ]
    assert notes[0].start == 0.13  # the input is untouched


def test_quantize_drums_keeps_hit_length() -> None:
    out = quantize_notes([Note(0.26, 0.36, 36, 100)], "1/8", TempoMap(120.0), is_drum=True)
    assert (out[0].start, out[0].end) == (pytest.approx(0.25), pytest.approx(0.35))
