"""MIDI a synth or DAW plays as written: no note starts while the same pitch still sounds on its channel.

A player keeps one voice per pitch and channel, so a second note-on of a sounding pitch is cut at the first
note's note-off. Each test reads the written file back with mido (every track merged, as a player hears it)
and finds every note-on of a pitch that is already on.
"""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from stems.audio import read_audio
from stems.transcription.midi import Note, NoteTrack, TempoMap, quantize_notes, write_midi
from stems.transcription.notes import FRAMES_PER_SECOND, notes_from_posteriors
from stems.transcription.settings import settings_for
from stems.transcription.transcriber import get_transcriber
from tests.support import paths

REAL = paths.DATA / "transcription" / "real"
TEMPO = TempoMap(120.0)  # 480 ticks per 0.5 s quarter note: one tick is ~1 ms


def restarts(path: Path) -> list[tuple[int, int, int]]:
    """(tick, channel, pitch) of every note-on of a pitch that is still on, all tracks merged in file order."""
    sounding: set[tuple[int, int]] = set()
    found, tick = [], 0
    for msg in mido.merge_tracks(mido.MidiFile(str(path)).tracks):
        tick += msg.time
        if msg.type not in ("note_on", "note_off"):
            continue
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            if key in sounding:
                found.append((tick, *key))
            sounding.add(key)
        else:
            sounding.discard(key)
    return found


def spans(path: Path, track: int = 1) -> list[tuple[int, int, int]]:
    """(on tick, off tick, pitch) of one track's notes, by on tick."""
    out, on, tick = [], {}, 0
    for msg in mido.MidiFile(str(path)).tracks[track]:
        tick += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            on[msg.note] = tick
        elif msg.type in ("note_on", "note_off") and msg.note in on:
            out.append((on.pop(msg.note), tick, msg.note))
    return sorted(out)


def overlaps(notes: tuple[Note, ...] | list[Note]) -> list[tuple[Note, Note]]:
    by_pitch: dict[int, list[Note]] = {}
    for n in sorted(notes, key=lambda n: n.start):
        by_pitch.setdefault(n.pitch, []).append(n)
    return [(a, b) for ns in by_pitch.values() for a, b in zip(ns, ns[1:]) if b.start < a.end]


def test_a_stem_file_ends_a_note_at_the_next_start_of_its_pitch(tmp_path: Path) -> None:
    notes = (
        Note(0.0, 1.0, 60, 90),
        Note(0.5, 1.5, 60, 80),  # starts while the first still sounds
        Note(2.0, 2.5, 62, 50),
        Note(2.0, 2.2, 62, 100),  # two starts of one pitch at one time: the louder stays
        Note(3.0, 3.0002, 64, 90),  # shorter than a tick: one tick long, still before the next start
        Note(3.001, 3.5, 64, 90),
        Note(4.0, 4.0002, 65, 90),  # two starts of one pitch on one tick, equally loud: the longer stays
        Note(4.0004, 4.5, 65, 90),
    )
    path = tmp_path / "lead.mid"
    write_midi(path, [NoteTrack("lead", "lead", 81, False, notes)], TEMPO)
    assert restarts(path) == []
    assert spans(path) == [
        (0, 480, 60),
        (480, 1440, 60),
        (1920, 2112, 62),
        (2880, 2881, 64),
        (2881, 3360, 64),
        (3840, 4320, 65),
    ]


def test_the_multitrack_file_keeps_tracks_that_share_a_channel_apart(tmp_path: Path) -> None:
    """Two drum stems share GM channel 10; a 16th pitched stem wraps round to the first one's channel."""
    kit = NoteTrack("drums", "drums", 0, True, (Note(0.0, 0.1, 42, 100), Note(0.25, 0.35, 42, 100)))
    perc = NoteTrack("perc", "drums", 0, True, (Note(0.05, 0.15, 42, 90), Note(0.25, 0.3, 42, 60)))
    pitched = [
        NoteTrack(f"p{k}", "keys", 4, False, (Note(0.1 * k, 0.1 * k + 2.0, 60, 80),)) for k in range(16)
    ]
    path = tmp_path / "song.mid"
    write_midi(path, [kit, perc, *pitched], TEMPO)
    assert restarts(path) == []
    written = sum(len(spans(path, k)) for k in range(1, 19))
    assert written == 2 + 1 + 16  # only the quieter of the two hits at 0.25 s goes


def test_quantising_never_leaves_a_pitch_restarting_while_it_sounds() -> None:
    pitched = quantize_notes([Note(0.0, 0.6, 60, 90), Note(0.26, 0.5, 60, 90)], "1/16", TEMPO)
    assert [(n.start, n.end) for n in pitched] == [(0.0, 0.25), (0.25, 0.5)]
    hats = quantize_notes([Note(0.0, 0.1, 42, 90), Note(0.06, 0.16, 42, 90)], "1/32", TEMPO, is_drum=True)
    assert [(n.start, n.end) for n in hats] == [(0.0, pytest.approx(0.0625)), (0.0625, pytest.approx(0.1625))]


def _frames(seconds: float) -> int:
    return round(seconds * FRAMES_PER_SECOND)


def test_a_backtracked_re_onset_cuts_the_held_note_before_it() -> None:
    """A bow change on a held C4: the activation dips a little, the onset output peaks after the dip, and
    backtracking moves the new note back into the old one, which ended only at the new onset's peak."""
    n = 100
    note, onset = np.zeros((n, 88), np.float32), np.zeros((n, 88), np.float32)
    pitch = 60 - 21
    note[10:90, pitch] = 0.9
    note[40:46, pitch] = (0.88, 0.84, 0.80, 0.80, 0.84, 0.88)
    onset[[10, 46], pitch] = 0.9
    posteriors = {"note": note, "onset": onset, "contour": np.zeros((n, 264), np.float32)}
    notes, _ = notes_from_posteriors(posteriors, settings_for("strings"))
    assert len(notes) == 2 and overlaps(notes) == []
    first, second = notes
    assert second.start < 45 / FRAMES_PER_SECOND  # backtracking still moved it into the dip
    assert first.end == second.start


@pytest.mark.parametrize(
    ("name", "instrument"),
    [
        ("mozart_k458_movement2_40_0", "strings"),
        ("mozart_k545_movement1_exposition_0_0", "string ensemble 1"),
    ],
)
def test_real_music_transcribed_and_written_never_restarts_a_sounding_pitch(
    tmp_path: Path, name: str, instrument: str
) -> None:
    """Before the fix these wrote 2 and 4 notes that start while their pitch sounds (backtracking)."""
    audio = read_audio(REAL / f"{name}.flac")
    for quantize in (None, "1/16"):
        track = get_transcriber().transcribe(audio, instrument, name, tempo=TEMPO, quantize=quantize)
        assert overlaps(track.notes) == []
        path = tmp_path / f"{name}.mid"
        write_midi(path, [track], TEMPO)
        assert len(spans(path)) == len(track.notes) and restarts(path) == []
