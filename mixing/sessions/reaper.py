"""REAPER project (.rpp): plain text, written through the ``rpp`` library's element tree and encoder.

Audio items refer to the render's files by paths relative to the project file (REAPER resolves a relative
FILE against the project's folder), so the render folder can move. MIDI is stored in the project as REAPER
stores it itself: ``HASDATA 1 960 QN`` and one ``E delta status data1 data2`` line per event (960 ticks per
quarter note, deltas from the previous event, hex bytes), ending with an all-notes-off at the item's end.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mixing.sessions.model import AudioTrack, MidiTrack, Session, db_to_linear, one_line
from stems.audio import write_bytes_atomic

TICKS_PER_QN = 960  # REAPER's default MIDI resolution
REAPER_VERSION = "7.0/musicmaker"
_CUSTOM_COLOR = 0x1000000  # REAPER's flag for "this track has a custom colour" (PEAKCOL)
SOLO_IN_PLACE = 2  # MUTESOLO's solo field: 1 solo, 2 solo in place (REAPER's default)


def _peak_color(color: str) -> int:
    """#rrggbb as REAPER stores it: r | g << 8 | b << 16, with the custom-colour flag."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return r | g << 8 | b << 16 | _CUSTOM_COLOR


def _track(name: str, color: str, gain_db: float, pan: float, mute: bool, solo: bool) -> Any:
    from rpp import Element

    return Element(
        "TRACK",
        [],
        [
            ["NAME", one_line(name)],
            ["PEAKCOL", _peak_color(color)],
            ["VOLPAN", _num(db_to_linear(gain_db)), _num(pan), -1, -1, 1],
            ["MUTESOLO", int(mute), SOLO_IN_PLACE if solo else 0, 0],
            ["NCHAN", 2],
        ],
    )


def _audio_track(track: AudioTrack, folder: Path) -> Any:
    from rpp import Element

    clip = track.clip
    element = _track(track.name, track.color, track.gain_db, track.pan, track.mute, track.solo)
    source = Element("SOURCE", ["WAVE"], [["FILE", relative_path(clip.file, folder)]])
    element.append(
        Element(
            "ITEM",
            [],
            [
                ["POSITION", _num(clip.start)],
                ["LENGTH", _num(clip.length)],
                ["NAME", one_line(track.name)],
                source,
            ],
        )
    )
    return element


def midi_events(track: MidiTrack, quarter_bpm: float) -> list[list[Any]]:
    """The ``E`` lines of ``track``: program change, notes (offs before ons at one tick), all-notes-off at the end."""
    tick = quarter_bpm / 60.0 * TICKS_PER_QN  # ticks per second at a constant tempo
    channel = track.channel
    events: list[tuple[int, int, int, int, int]] = []  # (tick, order, status, data1, data2)
    if not track.is_drum:
        events.append((0, 0, 0xC0 | channel, track.program, 0))
    for note in track.notes:
        start = round(note.start * tick)
        events.append((start, 2, 0x90 | channel, note.pitch, note.velocity))
        events.append((max(round(note.end * tick), start + 1), 1, 0x80 | channel, note.pitch, 0))
    end = max([round(track.length * tick)] + [e[0] for e in events])
    events.append((end, 3, 0xB0 | channel, 123, 0))  # CC 123, all notes off: REAPER's end-of-source marker
    lines, previous = [], 0
    for at, _, status, data1, data2 in sorted(events):
        lines.append(["E", at - previous, f"{status:02x}", f"{data1:02x}", f"{data2:02x}"])
        previous = at
    return lines


def _midi_track(track: MidiTrack, quarter_bpm: float) -> Any:
    from rpp import Element

    element = _track(track.name, track.color, 0.0, 0.0, False, False)
    source = Element(
        "SOURCE", ["MIDI"], [["HASDATA", 1, TICKS_PER_QN, "QN"], *midi_events(track, quarter_bpm)]
    )
    element.append(
        Element(
            "ITEM",
            [],
            [
                ["POSITION", _num(track.start)],
                ["LENGTH", _num(track.length)],
                ["NAME", one_line(track.name)],
                source,
            ],
        )
    )
    return element


def project(session: Session, folder: Path) -> Any:
    """The ``REAPER_PROJECT`` element of ``session``, its audio paths relative to ``folder``."""
    from rpp import Element

    tempo = session.tempo
    root = Element(
        "REAPER_PROJECT",
        ["0.1", REAPER_VERSION, 0],
        [
            ["TITLE", one_line(session.title)],
            ["AUTHOR", one_line(session.artist)],
            ["TEMPO", _num(tempo.quarter_bpm), tempo.numerator, tempo.denominator],
            ["MASTER_VOLUME", _num(db_to_linear(session.master_gain_db)), 0, -1, -1, 1],
        ],
    )
    if session.provenance or session.notes:
        root.append(_notes([session.provenance, *session.notes]))
    for index, marker in enumerate(session.markers, start=1):
        root.append(["MARKER", index, _num(marker.seconds), one_line(marker.name), 0])
    for track in session.audio:
        root.append(_audio_track(track, folder))
    if session.reference:
        root.append(_audio_track(session.reference, folder))
    for midi in session.midi:
        root.append(_midi_track(midi, tempo.quarter_bpm))
    return root


def _notes(lines: list[str]) -> Any:
    """The project notes (File > Project settings > Notes), as REAPER stores them: one ``|line`` a line."""
    from rpp import Element

    return Element("NOTES", [0, 2], [f"|{one_line(line)}" for line in lines if line])


def write_reaper(session: Session, path: Path) -> Path:
    """Write ``session`` to ``path`` atomically (UTF-8, as REAPER writes), audio referred to relative to it."""
    import rpp

    text = rpp.dumps(project(session, Path(path).parent))
    write_bytes_atomic(path, text.encode("utf-8"))
    return Path(path)


def relative_path(file: Path, folder: Path) -> str:
    return Path(os.path.relpath(Path(file).resolve(), Path(folder).resolve())).as_posix()


def _num(value: float) -> str:
    return repr(round(float(value), 9))
