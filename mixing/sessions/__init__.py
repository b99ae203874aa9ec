"""DAW sessions of a render: a :class:`Session` record and one writer per format (DAWproject, REAPER)."""

from __future__ import annotations

from pathlib import Path

from mixing.sessions.dawproject import write_dawproject
from mixing.sessions.model import (
    FAMILY_COLORS,
    SESSION_DIR,
    SESSION_FORMATS,
    SESSION_SUFFIXES,
    AudioClip,
    AudioTrack,
    Marker,
    MidiNote,
    MidiTrack,
    Session,
    Tempo,
    family_color,
)
from mixing.sessions.reaper import write_reaper

__all__ = [
    "FAMILY_COLORS",
    "SESSION_DIR",
    "SESSION_FORMATS",
    "SESSION_SUFFIXES",
    "AudioClip",
    "AudioTrack",
    "Marker",
    "MidiNote",
    "MidiTrack",
    "Session",
    "Tempo",
    "family_color",
    "write_session",
]


def write_session(session: Session, fmt: str, path: Path) -> Path:
    """Write ``session`` as ``fmt`` (one of SESSION_FORMATS) to ``path``."""
    writers = {"dawproject": write_dawproject, "reaper": write_reaper}
    assert fmt in writers, fmt
    return writers[fmt](session, path)
