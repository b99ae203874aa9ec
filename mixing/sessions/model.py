"""The record a DAW session is written from: tempo, audio and MIDI tracks, markers, master gain.

Times are seconds from the start of the timeline; each writer converts them to its own unit. A "beat" in both
formats is a quarter note (DAWproject's ``beats`` time unit, REAPER's QN and MIDI files all count quarter
notes), so an arrangement at 120 bpm in 6/8 plays at 60 quarter notes per minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from stems.errors import UserInputError

# One colour per instrument family (stems.instruments.INSTRUMENT_FAMILIES), as #rrggbb; stems of no known
# family, MIDI of them and the reference mix take the fallback.
FAMILY_COLORS: dict[str, str] = {
    "drums": "#d9534f",
    "bass": "#f0ad4e",
    "piano": "#5bc0de",
    "keys": "#4a90d9",
    "guitar": "#8bc34a",
    "lead": "#e040fb",
    "strings": "#9c6ade",
    "pad": "#26a69a",
    "vocals": "#ff7043",
    "brass": "#ffca28",
    "woodwind": "#66bb6a",
}
FALLBACK_COLOR = "#9e9e9e"
SESSION_FORMATS: tuple[str, ...] = ("dawproject", "reaper")
SESSION_SUFFIXES: dict[str, str] = {"dawproject": ".dawproject", "reaper": ".rpp"}
SESSION_DIR = "session"


def family_color(family: str | None) -> str:
    return FAMILY_COLORS.get(family or "", FALLBACK_COLOR)


@dataclass(frozen=True)
class Tempo:
    """A constant tempo: ``bpm`` counts the time signature's beats (as the arrangement's ``bpm``)."""

    bpm: float
    numerator: int = 4
    denominator: int = 4

    def __post_init__(self) -> None:
        if not (math.isfinite(self.bpm) and self.bpm > 0) or self.numerator < 1 or self.denominator < 1:
            raise UserInputError(
                f"session tempo {self.bpm} bpm in {self.numerator}/{self.denominator} is not "
                "a tempo; the manifest's arrangement needs a positive bpm and a time signature"
            )

    @property
    def quarter_bpm(self) -> float:
        """Quarter notes per minute: what DAWs and MIDI files call the tempo."""
        return self.bpm * 4.0 / self.denominator

    def beats(self, seconds: float) -> float:
        """``seconds`` in quarter notes."""
        return seconds * self.quarter_bpm / 60.0

    def bar_beats(self, bar: int) -> float:
        """Where 1-based ``bar`` starts, in quarter notes."""
        return (bar - 1) * self.numerator * 4.0 / self.denominator


@dataclass(frozen=True)
class AudioClip:
    """An audio file placed on the timeline at ``start`` for ``length`` seconds (its whole length)."""

    file: Path  # where it is now: REAPER refers to it relative to the session file, DAWproject embeds it
    name: str  # its path in the render folder (stems/drums.wav), unique: the name it is embedded under
    start: float
    length: float
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class AudioTrack:
    name: str
    color: str
    clip: AudioClip
    gain_db: float = 0.0
    pan: float = 0.0  # -1 left .. 1 right
    mute: bool = False
    solo: bool = False
    comment: str = ""


@dataclass(frozen=True)
class MidiNote:
    start: float  # seconds
    end: float
    pitch: int
    velocity: int  # 1-127


@dataclass(frozen=True)
class MidiTrack:
    """Transcribed notes of one stem: GM ``program`` (0-based), drums on GM channel 10 (index 9)."""

    name: str
    color: str
    program: int
    is_drum: bool
    notes: tuple[MidiNote, ...]
    length: float  # seconds: the clip's length, the stem's
    start: float = 0.0

    @property
    def channel(self) -> int:
        return 9 if self.is_drum else 0


@dataclass(frozen=True)
class Marker:
    name: str
    seconds: float
    bar: int | None = None  # 1-based, when the marker sits on the arrangement's bar grid


@dataclass(frozen=True)
class Session:
    """Everything both writers put in a session; ``notes`` says what was left out and why."""

    title: str
    artist: str
    tempo: Tempo
    audio: tuple[AudioTrack, ...]
    midi: tuple[MidiTrack, ...] = ()
    markers: tuple[Marker, ...] = ()
    master_gain_db: float = 0.0
    reference: AudioTrack | None = None  # the finished mix, muted
    notes: tuple[str, ...] = field(default=())
    provenance: str = ""  # which models made the render, under which licences (the render's manifest says)

    @property
    def length(self) -> float:
        clips = [t.clip for t in self.audio] + ([self.reference.clip] if self.reference else [])
        return max([c.start + c.length for c in clips] + [t.start + t.length for t in self.midi] + [0.0])


def db_to_linear(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def one_line(text: str) -> str:
    """``text`` without control characters (a hand-edited manifest may hold them): they would end an RPP line
    and are not allowed in XML 1.0."""
    return "".join(ch if ch.isprintable() else " " for ch in text)
