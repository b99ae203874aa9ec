"""The mix bus: per-stem loudness normalisation, gain, constant-power pan, mute/solo, float sum.

Each audible stem is first brought to a common integrated loudness (``reference_lufs``, BS.1770-4 via
mixing.loudness), then its own ``gain_db`` is applied, so arrangement gains are relative levels that do not
depend on how loud the generator happened to make a stem. The sum is float32 and sample-aligned (all stems
must have the same rate and length); nothing is clipped here, the master's limiter handles peaks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mixing._parallel import parallel_map
from mixing.loudness import LoudnessReport, integrated_loudness, measure
from stems.audio import Audio, check_finite
from stems.errors import UserInputError

log = logging.getLogger(__name__)

GAIN_RANGE_DB = (-60.0, 24.0)
REFERENCE_RANGE_LUFS = (-60.0, 0.0)


@dataclass(frozen=True)
class Track:
    """One stem as it enters the mix. ``pan`` is -1 (left) .. 1 (right); mono stems are panned."""

    name: str
    audio: Audio
    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    solo: bool = False


@dataclass(frozen=True)
class MixResult:
    audio: Audio
    stem_gain_db: dict[str, float]  # total gain applied to each audible stem (normalisation + gain_db)
    silent: tuple[str, ...] = ()  # audible stems that were digital silence (left un-normalised)
    muted: tuple[str, ...] = ()  # stems left out by mute or by another stem's solo
    stem_reports: dict[str, LoudnessReport] = field(default_factory=dict)  # only with measure_stems=True


def pan_gains(pan: float, source_channels: int) -> tuple[float, float]:
    """Left/right gains of the constant-power (sine/cosine) pan law, -3 dB per side at centre.

    A stereo source gets the same law scaled by sqrt(2) (a balance control): unity at centre, and the
    total power of a source with equal channel powers stays constant as it moves.
    """
    theta = (pan + 1.0) * math.pi / 4.0
    left, right = math.cos(theta), math.sin(theta)
    if source_channels == 2:
        left, right = left * math.sqrt(2.0), right * math.sqrt(2.0)
    return left, right


def _check_track(track: Track, first: Track) -> None:
    name = track.name
    if track.audio.sample_rate != first.audio.sample_rate:
        raise UserInputError(
            f"stem {name!r} is at {track.audio.sample_rate} Hz but {first.name!r} is at "
            f"{first.audio.sample_rate} Hz; resample every stem to one rate before mixing"
        )
    if track.audio.num_samples != first.audio.num_samples:
        raise UserInputError(
            f"stem {name!r} has {track.audio.num_samples} samples but {first.name!r} has "
            f"{first.audio.num_samples}; stems must be sample-aligned (trim or pad them to the same length)"
        )
    if track.audio.channels not in (1, 2):
        raise UserInputError(
            f"stem {name!r} has {track.audio.channels} channels; only mono or stereo stems mix"
        )
    if not (math.isfinite(track.gain_db) and GAIN_RANGE_DB[0] <= track.gain_db <= GAIN_RANGE_DB[1]):
        raise UserInputError(f"stem {name!r}: gain_db {track.gain_db} is out of range; use {GAIN_RANGE_DB}")
    if not (math.isfinite(track.pan) and -1.0 <= track.pan <= 1.0):
        raise UserInputError(f"stem {name!r}: pan {track.pan} is out of range; use -1 (left) .. 1 (right)")
    check_finite(track.audio, f"stem {name!r}")


def _check_tracks(tracks: Sequence[Track], reference_lufs: float, channels: int) -> None:
    if not tracks:
        raise UserInputError("nothing to mix: no stems were given; add at least one stem")
    names = [t.name for t in tracks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserInputError(f"stem names must be unique; repeated: {', '.join(dupes)}")
    if channels not in (1, 2):
        raise UserInputError(f"mix channels must be 1 or 2, got {channels}")
    lo, hi = REFERENCE_RANGE_LUFS
    if not (math.isfinite(reference_lufs) and lo <= reference_lufs <= hi):
        raise UserInputError(f"reference loudness {reference_lufs} LUFS is out of range; use {lo} .. {hi}")
    for track in tracks:
        _check_track(track, tracks[0])


def _add_track(bus: np.ndarray, audio: Audio, gain: float, pan: float) -> None:
    """bus += gain * pan * stem, in place on our own bus (BLAS saxpy: no temporary per stem)."""
    from scipy.linalg.blas import saxpy

    x = np.ascontiguousarray(audio.samples)
    if bus.shape[0] == 1:
        for c in range(audio.channels):
            saxpy(x[c], bus[0], a=gain / audio.channels)
        return
    left, right = pan_gains(pan, audio.channels)
    saxpy(x[0], bus[0], a=gain * left)
    saxpy(x[-1], bus[1], a=gain * right)


def _levels(
    tracks: Sequence[Track], audible: Sequence[Track], full: bool
) -> tuple[list[float | None], dict[str, LoudnessReport]]:
    """Integrated loudness of each audible stem (one per core); with ``full``, every stem's full report."""
    if not full:
        return parallel_map(integrated_loudness, [t.audio for t in audible]), {}
    reports = dict(
        zip([t.name for t in tracks], parallel_map(measure, [t.audio for t in tracks]), strict=True)
    )
    return [reports[t.name].integrated_lufs for t in audible], reports


def mix(
    tracks: Sequence[Track], reference_lufs: float = -23.0, channels: int = 2, *, measure_stems: bool = False
) -> MixResult:
    """Normalise, gain, pan and sum ``tracks``; ``measure_stems`` also returns a full report per stem."""
    _check_tracks(tracks, reference_lufs, channels)
    soloed = any(t.solo for t in tracks)
    audible = [t for t in tracks if not t.mute and (t.solo or not soloed)]
    bus = np.zeros((channels, tracks[0].audio.num_samples), dtype=np.float32)
    gains: dict[str, float] = {}
    levels, reports = _levels(tracks, audible, measure_stems)
    silent: list[str] = []
    for track, level in zip(audible, levels):
        if level is None:
            silent.append(track.name)
            log.info("stem %r is silent; it adds nothing to the mix", track.name)
        gains[track.name] = (0.0 if level is None else reference_lufs - level) + track.gain_db
        _add_track(bus, track.audio, 10.0 ** (gains[track.name] / 20.0), track.pan)
    muted = tuple(t.name for t in tracks if t.name not in gains)
    return MixResult(Audio(bus, tracks[0].audio.sample_rate), gains, tuple(silent), muted, reports)
