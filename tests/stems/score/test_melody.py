"""stems.score.melody: a melody MIDI file read on its own tempo map; empty and many-track files."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

from stems.errors import UserInputError
from stems.score import is_midi_file, read_midi_melody
from stems.transcription.midi import Note

TICKS = 480


def track(name: str, channel: int, notes: list[tuple[int, int, int]], program: int = 0) -> mido.MidiTrack:
    """A named track of (start tick, length in ticks, pitch) notes on ``channel``."""
    events = [(s, 1, mido.Message("note_on", channel=channel, note=p, velocity=90)) for s, _, p in notes]
    events += [(s + n, 0, mido.Message("note_off", channel=channel, note=p, velocity=0)) for s, n, p in notes]
    out = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    out.append(mido.Message("program_change", channel=channel, program=program, time=0))
    last = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        out.append(message.copy(time=tick - last))
        last = tick
    return out


def save(path: Path, *tracks: mido.MidiTrack, tempo: list[tuple[int, int]] | None = None) -> Path:
    """A format-1 file: a tempo track of (tick, microseconds per quarter) changes, then ``tracks``."""
    conductor = mido.MidiTrack()
    last = 0
    for tick, value in tempo or [(0, 500_000)]:
        conductor.append(mido.MetaMessage("set_tempo", tempo=value, time=tick - last))
        last = tick
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS)
    midi.tracks.extend([conductor, *tracks])
    midi.save(str(path))
    return path


def test_notes_are_placed_in_seconds_on_the_files_own_tempo_map(tmp_path: Path) -> None:
    # 60 bpm for four quarters (4 s), then 120 bpm: quarter 6 is at 4 + 2 * 0.5 = 5 s.
    path = save(
        tmp_path / "tune.mid",
        track("tune", 0, [(0, TICKS, 64), (4 * TICKS, TICKS, 67), (6 * TICKS, 2 * TICKS, 69)]),
        tempo=[(0, 1_000_000), (4 * TICKS, 500_000)],
    )
    melody = read_midi_melody(path)
    assert [(round(n.start, 6), round(n.end, 6), n.pitch) for n in melody.notes] == [
        (0.0, 1.0, 64),
        (4.0, 4.5, 67),
        (5.0, 6.0, 69),
    ]
    assert (melody.track, melody.tracks_with_notes, melody.note) == ("tune", 1, None)


def test_sixteen_tracks_take_the_first_pitched_one_and_say_so(tmp_path: Path) -> None:
    drums = track("kit", 9, [(0, 60, 36)])
    pitched = [track(f"part {k}", k if k < 9 else k + 1, [(TICKS * k, TICKS, 60 + k)]) for k in range(15)]
    melody = read_midi_melody(save(tmp_path / "band.mid", drums, *pitched))
    assert melody.track == "part 0" and melody.notes == (Note(0.0, 0.5, 60, 90),)
    assert melody.tracks_with_notes == 15
    assert melody.note is not None and "15 tracks with notes" in melody.note and "'part 0'" in melody.note


@pytest.mark.parametrize(
    ("tracks", "message"),
    [([], "no pitched notes;"), ([track("kit", 9, [(0, 60, 36)])], "no pitched notes (only drums)")],
)
def test_a_file_without_pitched_notes_is_an_error(
    tmp_path: Path, tracks: list[mido.MidiTrack], message: str
) -> None:
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_midi_melody(save(tmp_path / "empty.mid", *tracks))


def test_unreadable_and_missing_files_are_user_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"this is not a MIDI file")
    with pytest.raises(UserInputError, match="cannot read it as a MIDI file"):
        read_midi_melody(bad)
    with pytest.raises(UserInputError, match="not found"):
        read_midi_melody(tmp_path / "missing.mid")


def test_midi_files_are_told_from_audio_by_suffix() -> None:
    assert is_midi_file("a/tune.MID") and is_midi_file("tune.midi") and not is_midi_file("tune.wav")
