"""A melody given as a MIDI file, read on its own tempo map into notes in seconds from the file's start.

pretty_midi reads the file (its tempo changes included) and groups notes by track and channel. A melody
is one line, so when the file holds several tracks with notes (a whole arrangement exported from a DAW,
up to 16 channels) the first track with pitched notes is taken, in file order, and ``MidiMelody.note``
says which and how many were left out; merging them would mix the bass and the chords into the line.
Drum tracks are never the melody. A file without a pitched note is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def read_midi_melody(path: str | Path) -> MidiMelody:
    """The first pitched track of a MIDI file; UserInputError when it cannot be read or has no note."""
    import pretty_midi

    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: melody MIDI file not found")
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
            "melody needs at least one note on a non-drum track"
        )
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
