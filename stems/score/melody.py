"""A melody given as a MIDI file, read on its own tempo map into notes in seconds from the file's start; and a
whole score in a MIDI file (``musicmaker conform --score``), read in beats so that it can be put on any tempo.

pretty_midi reads the file (its tempo changes included) and groups notes by track and channel. A melody
is one line, so when the file holds several tracks with notes (a whole arrangement exported from a DAW,
up to 16 channels) the first track with pitched notes is taken, in file order, and ``MidiMelody.note``
says which and how many were left out; merging them would mix the bass and the chords into the line.
Drum tracks are never the melody. A file without a pitched note is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stems.errors import UserInputError
from stems.transcription.midi import Note

MIDI_SUFFIXES = (".mid", ".midi")


@dataclass(frozen=True)
class MidiMelody:
    """The melody's notes and which of the file's tracks they came from."""

    path: Path
    notes: tuple[Note, ...]
    track: str
    tracks_with_notes: int
    note: str | None = None


def _pitched_tracks(path: Path, what: str) -> tuple[Any, list[Any]]:
    """The file read by pretty_midi and its tracks with pitched notes; UserInputError when there are none."""
    import pretty_midi

    if not path.is_file():
        raise UserInputError(f"{path}: {what} MIDI file not found")
    try:
        midi = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # noqa: BLE001  mido and pretty_midi raise many types for a damaged file
        raise UserInputError(
            f"{path}: cannot read it as a MIDI file ({exc}); export it again as .mid"
        ) from None
    tracks = [inst for inst in midi.instruments if inst.notes and not inst.is_drum]
    if not tracks:
        raise UserInputError(
            f"{path}: the MIDI file holds no pitched notes{' (only drums)' if midi.instruments else ''}; a "
            f"{what} needs at least one note on a non-drum track"
        )
    return midi, tracks


def read_midi_melody(path: str | Path) -> MidiMelody:
    """The first pitched track of a MIDI file; UserInputError when it cannot be read or has no note."""
    path = Path(path)
    _, tracks = _pitched_tracks(path, "melody")
    first = tracks[0]
    name = first.name.strip() or f"program {first.program + 1}"
    notes = tuple(
        sorted(
            (Note(float(n.start), float(n.end), int(n.pitch), int(n.velocity)) for n in first.notes),
            key=lambda n: (n.start, n.pitch),
        )
    )
    note = None
    if len(tracks) > 1:
        note = (
            f"{path.name} holds {len(tracks)} tracks with notes; the melody is the first, {name!r} "
            f"({len(notes)} notes); save the melody alone to use another"
        )
    return MidiMelody(path, notes, name, len(tracks), note)


def is_midi_file(path: str | Path) -> bool:
    """Whether a melody path names a MIDI file (by its suffix), not audio."""
    return Path(path).suffix.lower() in MIDI_SUFFIXES


@dataclass(frozen=True)
class MidiScore:
    """Every pitched note of a MIDI file in quarter-note beats from its start, and its first tempo and meter."""

    path: Path
    beats: tuple[tuple[float, float, int, int], ...]  # start, end (quarters), pitch, velocity; by start
    bpm: float  # the file's first tempo, quarter notes a minute (120 where it sets none, as MIDI says)
    beats_per_bar: int  # the first time signature's beats (its numerator), 4 where it sets none

    def notes(self, bpm: float) -> tuple[Note, ...]:
        """The notes in seconds at ``bpm`` quarter notes a minute, steady from the file's start."""
        period = 60.0 / bpm
        return tuple(Note(s * period, e * period, p, v) for s, e, p, v in self.beats)


def read_midi_score(path: str | Path) -> MidiScore:
    """All pitched tracks of a MIDI file, in beats (its tempo changes undone); UserInputError as for a melody."""
    path = Path(path)
    midi, tracks = _pitched_tracks(path, "score")
    per_beat = float(midi.resolution)

    def beat(seconds: float) -> float:
        return float(midi.time_to_tick(seconds)) / per_beat

    beats = sorted(
        (beat(float(n.start)), beat(float(n.end)), int(n.pitch), int(n.velocity))
        for t in tracks
        for n in t.notes
    )
    tempi = midi.get_tempo_changes()[1]
    meter = midi.time_signature_changes[0] if midi.time_signature_changes else None
    return MidiScore(
        path, tuple(beats), float(tempi[0]) if len(tempi) else 120.0, meter.numerator if meter else 4
    )
