"""The time map: where each detected beat of a stem goes on the grid (pure numpy, seconds).

Each beat goes to its own grid beat, so drift and phase are corrected, not only a constant ratio. Audio
before the first beat keeps the first beat interval's ratio, audio after the last beat the last one's.
Where the first downbeat goes is :func:`downbeat_target`'s: the arrangement's nearest bar line (a pickup cut
at 0 s), ``musicmaker conform``'s first bar line from 0 s with room for the pickup (issue 24: a click track
at 100.5 bpm with a 120 ms lead and a one-beat pickup, to 96 bpm, every click within 3.1 ms of ``k x beat``
plus the tracker's 16 ms lag on it), or right after the lead-in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# A beat interval stretched or squeezed beyond this is a tracking error, not a tempo: its anchor is dropped.
MAX_SEGMENT_RATIO = 1.8


@dataclass(frozen=True)
class TimeMap:
    source: np.ndarray  # anchor times in the input, seconds, increasing, source[0] == 0
    target: np.ndarray  # their times in the output, increasing; target[0] may be < 0 (cut) or > 0 (silence)
    downbeat_at: float  # output time of the first downbeat (a bar line of the grid)
    pickup: int = 0  # grid beats before the first downbeat that land at or after 0 s (kept in the output)

    @property
    def stretch(self) -> float:
        return float((self.target[-1] - self.target[0]) / (self.source[-1] - self.source[0]))

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        """Output time of input time(s) ``t``."""
        return np.interp(t, self.source, self.target)


def beat_indices(beats: np.ndarray) -> np.ndarray:
    """Grid step of each beat from the first: a gap of two beat periods (a beat the tracker skipped) is 2."""
    if len(beats) < 2:
        return np.zeros(len(beats), dtype=int)
    period = float(np.median(np.diff(beats)))
    steps = np.maximum(1, np.round(np.diff(beats) / period)).astype(int)
    return np.concatenate(([0], np.cumsum(steps)))


def downbeat_target(
    first_downbeat: float, ratio: float, bar: float, origin: float | None, pickup: float | None = None
) -> float:
    """Output time of the first downbeat, on the grid lines ``origin + k * bar`` (bar lines, or beats when
    ``bar`` is one beat). Three modes (``records.Grid``):

    - ``pickup`` None: the grid line nearest where the downbeat lands at the new tempo, never before 0 s
      (the arrangement's grid; what falls before 0 s is cut);
    - ``pickup`` in seconds (the beats before the downbeat, at the new tempo): the first grid line at or after
      ``pickup``, so those beats fit between 0 s and it (``musicmaker conform``);
    - no ``origin``: right after the input's lead-in at the new tempo, on no grid."""
    landing = first_downbeat * ratio
    if origin is None:
        return landing
    if pickup is not None:
        return origin + math.ceil((pickup - origin) / bar - 1e-9) * bar
    bars = max(round((landing - origin) / bar), math.ceil(-origin / bar - 1e-9))
    return origin + bars * bar


def build(
    beats: np.ndarray,
    downbeat: float,
    duration: float,
    beat_period: float,
    bar: float,
    origin: float | None,
    keep_pickup: bool = False,
) -> TimeMap:
    """Map ``beats`` (input seconds, at the grid's metrical level) onto the grid; with ``keep_pickup`` the
    beats before the first downbeat are kept as grid beats before its bar line (see :func:`downbeat_target`)."""
    index = beat_indices(beats)
    first = int(np.argmin(np.abs(beats - downbeat)))
    ratio = beat_period / float(np.median(np.diff(beats) / np.diff(index)))
    pickup = float(index[first] * beat_period) if keep_pickup else None
    at = downbeat_target(float(beats[first]), ratio, bar, origin, pickup)
    target = at + (index - index[first]) * beat_period
    kept = int(index[first] - index[int(np.argmax(target >= -1e-9))])  # the downbeat itself is at >= 0 s
    beats, target = _drop_bad_segments(beats, target)
    if len(beats) < 2:  # nothing consistent left: one ratio for the whole piece
        beats = np.array([downbeat, duration])
        target = np.array([at, at + (duration - downbeat) * ratio])
    head = target[0] - beats[0] * (target[1] - target[0]) / (beats[1] - beats[0])
    tail = target[-1] + (duration - beats[-1]) * (target[-1] - target[-2]) / (beats[-1] - beats[-2])
    source = np.concatenate(([0.0], beats, [duration]))
    target = np.concatenate(([head], target, [tail]))
    keep = np.concatenate(([True], np.diff(source) > 1e-6))  # a beat at 0 s or at the very end
    return TimeMap(source[keep], target[keep], at, kept)


def _drop_bad_segments(beats: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop anchors whose interval to the previous kept one would be stretched beyond MAX_SEGMENT_RATIO."""
    keep = [0]
    for i in range(1, len(beats)):
        ratio = (target[i] - target[keep[-1]]) / (beats[i] - beats[keep[-1]])
        if 1 / MAX_SEGMENT_RATIO <= ratio <= MAX_SEGMENT_RATIO:
            keep.append(i)
    return beats[keep], target[keep]


def grid_error_ms(beats: np.ndarray, beat_period: float, origin: float) -> float | None:
    """Mean distance (ms) from each beat to the nearest beat of the grid ``origin + k * beat_period``."""
    if len(beats) == 0:
        return None
    phase = (np.asarray(beats) - origin) / beat_period
    return float(np.mean(np.abs(phase - np.round(phase))) * beat_period * 1000.0)
