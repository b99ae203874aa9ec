"""Instrument-aware transcription settings: one row per instrument family, overridable per stem.

Frequency ranges are the instruments' playing ranges (standard orchestration tables; piano A0-C8
needs no bound, bass guitar B0-G4, guitar E2-E6, voice E2-C6) with a small margin. Thresholds were
chosen by coordinate descent on onset-F1 over a fluidsynth-rendered tuning set (seeds 0-2 of
bench/eval_transcription.py; its report uses seeds 100-102), with two musical limits: minimum note
length at most ~a sixteenth at 120 bpm (128 ms) except for strings and pads, and monophonic only
for lines that are (bass, lead, woodwind). Notable findings: the melodia trick (notes without an
onset) mostly adds false notes on plucked/struck sounds; slow attacks want high onset thresholds.
The rows that use the note tracker (``note_tracking``: bass, piano, guitar, strings, brass, woodwind and
solo strings) were then retuned, by the same descent on onset F1 + with-offset F1 (+ half the worst
excerpt's onset F1), over the tuning split of bench/real_music.py (public-domain scores; its report split
is never tuned on), piano and guitar jointly with the synthetic seeds 0-2 so neither set regresses.
Their ``min_note_ms`` (70 ms, 20 ms for piano and solo strings) are the lengths tuned as 80 and 30 ms when
the tracker kept a note of exactly the minimum's frames: it now keeps only longer notes, as basic-pitch's
note creation does, so each minimum is one frame (11.6 ms) lower for the same notes.
basic-pitch's own defaults are :data:`BASIC_PITCH_DEFAULTS`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from stems.audio import Audio
from stems.errors import UserInputError
from stems.instruments import FAMILY_PROGRAMS as _GM
from stems.instruments import INSTRUMENT_FAMILIES, Instrument, resolve_instrument

# -80 dBFS: below the 16-bit noise floor (~-96 dBFS) plus headroom; nothing audible is lost.
SILENCE_PEAK = 10 ** (-80 / 20)


@dataclass(frozen=True)
class Range:
    """The values a setting takes: ``low`` to ``high``, each end excluded where it is open."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    unit: str = ""

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def text(self) -> str:
        if self.low_open and self.high_open:
            words = f"between {self.low:g} and {self.high:g}, both excluded"
        else:
            low = f"above {self.low:g}" if self.low_open else f"from {self.low:g}"
            words = f"{low} to {'below ' if self.high_open else ''}{self.high:g}"
        return f"{words} {self.unit}".rstrip()


# What each setting a stem may override takes (``flows.schema.models.Transcription`` takes the same bounds).
SETTING_RANGES = {
    "onset_threshold": Range(0, 1, low_open=True, high_open=True),
    "frame_threshold": Range(0, 1, low_open=True, high_open=True),
    "min_note_ms": Range(0, 2000, unit="ms"),  # 0 keeps every note
    "min_frequency": Range(0, 20000, low_open=True, unit="Hz"),
    "max_frequency": Range(0, 20000, low_open=True, unit="Hz"),
    "rise_weight": Range(0, 50),
    "release_ratio": Range(0, 1, high_open=True),
    "release_ms": Range(0, 500, unit="ms"),
    "reonset_threshold": Range(0, 1, high_open=True),  # 0: off
}


@dataclass(frozen=True)
class TranscriptionSettings:
    """How one stem is transcribed.

    ``onset_threshold``/``frame_threshold``/``min_note_ms``/``melodia_trick`` are basic-pitch's own
    parameters (a note is kept when longer than ``min_note_ms`` rounded to frames, as its ``min_note_len``); ``min_frequency``/``max_frequency`` (Hz) bound the pitches; ``monophonic`` keeps one
    note at a time (the strongest); ``pitch_bends`` writes basic-pitch's contour as pitch-wheel
    events (monophonic tracks only: MIDI bends a whole channel); ``min_velocity`` drops faint notes
    (mostly harmonics); ``octave_ghosts`` drops notes an octave or twelfth above a louder note that
    covers them (partials the model mistakes for notes); ``onset_backtrack_ms`` moves onsets back (at most
    that far) to where the note's activation started rising, for slow attacks. ``note_tracking`` uses
    :mod:`stems.transcription.tracking` instead of basic-pitch's note creation, with ``rise_weight`` (onsets
    also from the rise of the note activation), ``release_ratio`` (a note ends when its activation falls
    below that fraction of its peak), ``release_ms`` (ends moved earlier by the reverb's tail) and
    ``reonset_threshold`` (0: off; weaker onset peaks that re-start a held pitch whose activation dipped).
    """

    family: str
    program: int
    is_drum: bool = False
    min_frequency: float | None = None
    max_frequency: float | None = None
    onset_threshold: float = 0.5
    frame_threshold: float = 0.3
    min_note_ms: float = 127.70
    melodia_trick: bool = True
    monophonic: bool = False
    pitch_bends: bool = False
    min_velocity: int = 0
    octave_ghosts: bool = False
    onset_backtrack_ms: float = 0.0
    note_tracking: bool = False
    rise_weight: float = 0.0
    release_ratio: float = 0.0
    release_ms: float = 0.0
    reonset_threshold: float = 0.0

    def __post_init__(self) -> None:
        for field, allowed in SETTING_RANGES.items():
            value = getattr(self, field)
            if value is not None and value not in allowed:
                raise UserInputError(f"{field} = {value!r} is out of range; use a value {allowed.text()}")
        if not 0 <= self.program <= 127:
            raise UserInputError(f"program = {self.program!r} is out of range; use a GM program 0-127")
        lo, hi = self.min_frequency, self.max_frequency
        if lo is not None and hi is not None and not 0 < lo < hi:
            raise UserInputError(
                f"frequency range {lo!r}-{hi!r} Hz is empty; min_frequency must be below max_frequency"
            )


# basic_pitch.inference.predict's defaults, used as the baseline of the evaluation.
BASIC_PITCH_DEFAULTS = TranscriptionSettings(family="default", program=4)

# Each family's default General MIDI program is stems.instruments.FAMILY_PROGRAMS.
# fmt: off
_TABLE: dict[str, TranscriptionSettings] = {
    "drums": TranscriptionSettings("drums", _GM["drums"], is_drum=True),
    "bass": TranscriptionSettings(
        "bass", _GM["bass"], min_frequency=29.0, max_frequency=420.0, onset_threshold=0.7,
        frame_threshold=0.4, min_note_ms=70.0, melodia_trick=False, monophonic=True, pitch_bends=True,
        octave_ghosts=True, onset_backtrack_ms=30.0, note_tracking=True, release_ms=60.0),
    "piano": TranscriptionSettings(
        "piano", _GM["piano"], onset_threshold=0.7, frame_threshold=0.1, min_note_ms=20.0,
        melodia_trick=False, note_tracking=True, release_ratio=0.4, release_ms=40.0),
    "keys": TranscriptionSettings(
        "keys", _GM["keys"], min_frequency=40.0, max_frequency=2200.0, onset_threshold=0.6,
        frame_threshold=0.5, min_note_ms=100.0, melodia_trick=False),
    "guitar": TranscriptionSettings(
        "guitar", _GM["guitar"], min_frequency=78.0, max_frequency=1400.0, onset_threshold=0.7,
        frame_threshold=0.4, min_note_ms=70.0, melodia_trick=False, octave_ghosts=True, note_tracking=True,
        release_ratio=0.7),
    "lead": TranscriptionSettings(
        "lead", _GM["lead"], min_frequency=98.0, max_frequency=2200.0, onset_threshold=0.6,
        frame_threshold=0.15, min_note_ms=80.0, monophonic=True, pitch_bends=True, min_velocity=30),
    "strings": TranscriptionSettings(
        "strings", _GM["strings"], min_frequency=40.0, max_frequency=3600.0, onset_threshold=0.7,
        frame_threshold=0.05, min_note_ms=70.0, melodia_trick=False, min_velocity=30, onset_backtrack_ms=130.0,
        note_tracking=True, rise_weight=8.0, release_ratio=0.7, release_ms=20.0),
    "pad": TranscriptionSettings(
        "pad", _GM["pad"], min_frequency=40.0, max_frequency=2200.0, onset_threshold=0.7,
        frame_threshold=0.15, min_note_ms=127.7, min_velocity=30, octave_ghosts=True,
        onset_backtrack_ms=50.0),
    "vocals": TranscriptionSettings(
        "vocals", _GM["vocals"], min_frequency=78.0, max_frequency=1100.0, onset_threshold=0.8,
        frame_threshold=0.2, min_note_ms=100.0, octave_ghosts=True),
    "brass": TranscriptionSettings(
        "brass", _GM["brass"], min_frequency=40.0, max_frequency=1400.0, onset_threshold=0.8,
        frame_threshold=0.5, min_note_ms=70.0, melodia_trick=False, onset_backtrack_ms=80.0,
        note_tracking=True, rise_weight=8.0, release_ratio=0.7, release_ms=40.0),
    "woodwind": TranscriptionSettings(
        "woodwind", _GM["woodwind"], min_frequency=58.0, max_frequency=2400.0, onset_threshold=0.8,
        frame_threshold=0.5, min_note_ms=70.0, monophonic=True, pitch_bends=True, melodia_trick=False,
        onset_backtrack_ms=20.0, note_tracking=True, rise_weight=12.0, release_ratio=0.7),
}
# Rows for GM instruments that sound unlike their family's row: a solo bowed string (violin, viola,
# cello, contrabass, fiddle) plays a line; a string section named as one (string ensembles, synth
# strings) swells slowly and holds, which basic-pitch's own note creation with a long minimum note
# follows better (synthetic held chords: onset F1 0.45, against 0.28 with the "strings" row, which
# real quartets were tuned on). Its frame threshold, minimum length and backtrack were then chosen jointly on
# the real tuning chorale and synthetic seeds 0-2 (onset / with-offset F1 there 0.40 / 0.05 -> 0.42 / 0.15 and
# 0.46 / 0.18 -> 0.48 / 0.32; report chorale 0.41 / 0.02 -> 0.41 / 0.04, seeds 100-102 0.45 / 0.13 -> 0.49 / 0.26).
SOLO_STRING_PROGRAMS = frozenset({40, 41, 42, 43, 110})
ENSEMBLE_STRING_PROGRAMS = frozenset({48, 49, 50, 51})
_ENSEMBLE_STRINGS = TranscriptionSettings(
    "strings", 48, min_frequency=40.0, max_frequency=3600.0, onset_threshold=0.8, frame_threshold=0.25,
    min_note_ms=300.0, min_velocity=30, octave_ghosts=True, onset_backtrack_ms=50.0)
_SOLO_STRINGS = TranscriptionSettings(
    "strings", 40, min_frequency=40.0, max_frequency=3600.0, onset_threshold=0.7, frame_threshold=0.15,
    min_note_ms=20.0, melodia_trick=False, monophonic=True, pitch_bends=True, min_velocity=30,
    octave_ghosts=True, onset_backtrack_ms=130.0, note_tracking=True, rise_weight=8.0, release_ratio=0.6,
    release_ms=60.0, reonset_threshold=0.6)
# fmt: on
assert tuple(_TABLE) == INSTRUMENT_FAMILIES


def settings_for(instrument: str | int | Instrument, **overrides: object) -> TranscriptionSettings:
    """The row of the instrument's family with the instrument's GM program and ``overrides`` applied
    (e.g. ``onset_threshold=0.3``); ``instrument`` is anything :func:`resolve_instrument` takes."""
    found = instrument if isinstance(instrument, Instrument) else resolve_instrument(instrument)
    names = {f.name for f in dataclasses.fields(TranscriptionSettings)} - {"family", "is_drum"}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise UserInputError(
            f"unknown transcription setting(s) {unknown} for {found.name}; allowed: {', '.join(sorted(names))}"
        )
    base = dataclasses.replace(_row(found), program=found.program)
    return _checked_replace(base, overrides)


def _row(found: Instrument) -> TranscriptionSettings:
    """The instrument's own row where it has one, else its family's (a family's name takes its family's)."""
    if found.program in SOLO_STRING_PROGRAMS:
        return _SOLO_STRINGS
    if found.name != found.family and found.program in ENSEMBLE_STRING_PROGRAMS:
        return _ENSEMBLE_STRINGS
    return _TABLE[found.family]


def _checked_replace(base: TranscriptionSettings, overrides: dict[str, object]) -> TranscriptionSettings:
    for name, value in overrides.items():
        current = getattr(base, name)
        ok = value is None or isinstance(value, (bool, int, float))
        if isinstance(current, bool):
            ok = isinstance(value, bool)
        if not ok:
            raise UserInputError(
                f"transcription setting {name} = {value!r} has the wrong type; expected like {current!r}"
            )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def is_silent(audio: Audio) -> bool:
    return audio.num_samples == 0 or float(np.max(np.abs(audio.samples))) < SILENCE_PEAK
