"""What conforming hands on: the analysis of a stem, the grid it goes to, and the result (manifest records).

Light module (numpy only) so the schema, the manifest and the CLI can import the types without librosa.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stems.audio import Audio


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


@dataclass(frozen=True)
class Analysis:
    """Tempo, beats, downbeat, tuning and key of one piece of audio, each with a confidence in 0..1."""

    duration: float  # seconds
    tempo_bpm: float | None  # None: no beat found
    tempo_confidence: float
    beats: tuple[float, ...]  # beat times, seconds
    downbeat: float | None  # time of the first downbeat (bar 1 beat 1), seconds
    downbeat_confidence: float
    tuning_cents: float  # offset from A440 equal temperament, -50..50
    tuning_confidence: float
    key: str | None  # "A minor": the arrangement schema's "Tonic mode" form
    key_confidence: float
    beats_per_bar: int = 4
    warnings: tuple[str, ...] = field(default=())  # what the analysis met (silence, a changed metrical level)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, for the manifest and ``musicmaker analyze --json``."""
        return {
            "duration": _r(self.duration),
            "tempo_bpm": _r(self.tempo_bpm, 2),
            "tempo_confidence": _r(self.tempo_confidence, 3),
            "beats": [_r(b) for b in self.beats],
            "downbeat": _r(self.downbeat),
            "downbeat_confidence": _r(self.downbeat_confidence, 3),
            "tuning_cents": _r(self.tuning_cents, 1),
            "tuning_confidence": _r(self.tuning_confidence, 3),
            "key": self.key,
            "key_confidence": _r(self.key_confidence, 3),
            "beats_per_bar": self.beats_per_bar,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Analysis:
        """What :meth:`to_dict` wrote, read leniently: a key missing (an older manifest) or of the wrong type reads
        as ``None``, 0 or empty."""

        def num(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

        beats, warnings, per_bar, key = (data.get(k) for k in ("beats", "warnings", "beats_per_bar", "key"))
        return cls(
            duration=num("duration") or 0.0,
            tempo_bpm=num("tempo_bpm"),
            tempo_confidence=num("tempo_confidence") or 0.0,
            beats=tuple(float(b) for b in beats if isinstance(b, (int, float)))
            if isinstance(beats, list)
            else (),
            downbeat=num("downbeat"),
            downbeat_confidence=num("downbeat_confidence") or 0.0,
            tuning_cents=num("tuning_cents") or 0.0,
            tuning_confidence=num("tuning_confidence") or 0.0,
            key=str(key) if key else None,
            key_confidence=num("key_confidence") or 0.0,
            beats_per_bar=per_bar if isinstance(per_bar, int) and not isinstance(per_bar, bool) else 4,
            warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
        )


@dataclass(frozen=True)
class Grid:
    """The tempo grid (and key) a stem is conformed to.

    ``origin`` is the output time of a bar line of the grid: grid beat ``k`` is at ``origin + k * 60 / bpm``.
    Where the stem's first downbeat goes on it is one of three modes:

    - ``keep_pickup=False`` (the arrangement's grid, bar 1 beat 1 at 0 s, the default): the grid bar line
      nearest where the downbeat lands at the new tempo, so a stem whose bar 1 starts 80 ms late gets bar 1 at
      ``origin``; what comes before it is kept before it, cut where it would fall before 0 s.
    - ``keep_pickup=True`` (``musicmaker conform``): the first bar line at or after 0 s that leaves room for
      the beats tracked before the downbeat (a pickup), which become the grid beats before that line; only a
      lead-in shorter than a beat (or silence) before the first tracked beat is cut.
    - ``origin=None`` (``musicmaker conform --keep-lead-in``): bar 1 goes right after the input's lead-in (the
      audio before its first downbeat, at the new tempo), on no grid from 0 s.
    """

    bpm: float
    beats_per_bar: int = 4
    duration: float | None = None  # output length in s; None: the input's length at the new tempo (CLI)
    key: str | None = None  # target key for retuning, "A minor"
    origin: float | None = 0.0
    keep_pickup: bool = False  # the beats before the first downbeat are kept on the grid, not cut at 0 s

    @property
    def beat_period(self) -> float:
        return 60.0 / self.bpm

    def to_dict(self) -> dict[str, Any]:
        return {
            "bpm": self.bpm,
            "beats_per_bar": self.beats_per_bar,
            "duration": self.duration,
            "key": self.key,
            "origin": self.origin,
            "keep_pickup": self.keep_pickup,
        }


@dataclass(frozen=True)
class ConformResult:
    """A conformed stem, or the input left as is, with the reason either way."""

    audio: Audio  # input rate and channels; exactly round(grid.duration * rate) samples when duration is set
    applied: bool  # False: left as is (audio is then the input, fitted to the length)
    reason: str  # what was done, or why nothing was done (for the user and the manifest)
    before: Analysis
    after: Analysis | None  # analysis of the output (None when not applied)
    error_before_ms: float | None  # mean |beat - nearest grid beat| in ms, before
    error_after_ms: float | None
    stretch: float  # mean time ratio applied (output / input time; 1.0 when none)
    shift_cents: float  # pitch shift applied (0 when key is off or for unpitched stems)
    grid_origin: float | None = (
        None  # output time of the grid's bar line bar 1 beat 1 went to (None: not applied)
    )
    engine: str | None = None  # the stretcher used ("rubberband R3 (--fine)")
    # (input s, output s) anchors of the warp, for checks against known beats; not in to_dict (600 per 300 s)
    time_map: tuple[tuple[float, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, without the audio (the manifest records the file)."""
        return {
            "applied": self.applied,
            "reason": self.reason,
            "error_before_ms": _r(self.error_before_ms, 1),
            "error_after_ms": _r(self.error_after_ms, 1),
            "stretch": _r(self.stretch, 5),
            "shift_cents": _r(self.shift_cents, 1),
            "grid_origin": _r(self.grid_origin),
            "engine": self.engine,
            "before": self.before.to_dict(),
            "after": None if self.after is None else self.after.to_dict(),
        }
