"""``conform_to_score``: warp a stem so that each note of its part lands where the part puts it on the grid.

The part is the score (``stems.conform.align``): no steady beat is needed, so bowed strings and pads are placed
too. The time map's anchors are the part's onsets as the aligner found them in the audio; the audio before the
first and after the last kept anchor, and any passage that does not match the part, follow the local tempo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stems.audio import Audio
from stems.conform import timemap, warp
from stems.conform.align import ScoreAlignment, align, audio_features, score_features
from stems.conform.analysis import ANALYSIS_RATE, analyze
from stems.conform.apply import decide, left_as_is, output_length, placement, render_placed
from stems.conform.records import Analysis, ConformResult, Grid
from stems.streaming import Signal, as_signal
from stems.transcription.midi import Note

# Seconds by which the aligner finds a family's onsets after the note starts: a slow attack's pitch energy and
# rises come late. Fitted on bench/conform.py's score tuning pieces (``SCORE_PIECES``, seed 0, 30 s, with the
# time map's signed error at the played notes, no transcription): strings (GM 40-42 quartets, 48 and 49
# ensembles, 5 pieces) lag a median 42 ms with LOG_GAMMA 1000 (pieces 33 to 123 ms: string ensemble 2, GM 49,
# stays 81 ms late); pads (GM 88, 89, 91) 0 (the warm pad, GM 89, lags 119 ms more: one latency cannot fit
# a family whose programs' attacks differ by 0.2 s); the piano control and everything else 0.
ALIGN_LATENCY = {"strings": 0.042}
# Above this contrast (the path's cost over the part's moved by 3, 6 or 9 semitones, ``align.ScoreAlignment``)
# the audio does not follow its part and is left as is. Measured on six tuning pieces (30 s, FluidSynth: piano,
# rag, strings, quartet, warm pad, guitar): against their own part 0.55 to 0.74 (the rag); against another
# piece's part 0.93 to 1.06; white noise 1.03; the threshold is halfway. The fraction of onsets matched does not
# tell them apart (noise: 0.85), nor does the cost against random frame pairs (own to 0.69, a chorale 0.64).
MAX_CONTRAST = 0.83
# How the reason starts then (the conform stage falls back to the stem's beats).
NOT_FOLLOWED = "the audio does not follow its part"
RATIO_SPAN_S = 4.0  # the audio over which the lead-in's and the tail's tempo ratio is taken
# What placed a stem, as records say: its part (here) or its beats (``stems.conform.apply.conform``).
PLACED_BY_SCORE, PLACED_BY_BEATS = "score", "beats"


@dataclass(frozen=True)
class ScoreMap:
    """The alignment and the time map built from it."""

    alignment: ScoreAlignment
    tmap: timemap.TimeMap
    moved_ms: float  # mean |output time - input time| over the anchors


def score_map(
    signal: Signal,
    duration: float,
    notes: Sequence[Note],
    *,
    family: str | None = None,
    tuning_cents: float = 0.0,
) -> ScoreMap:
    """Align the audio (``signal``, ``duration`` s) to ``notes`` (grid seconds) and build the time map."""
    if len({round(n.start, 3) for n in notes}) < 2:
        raise ValueError("the part has fewer than two onsets: nothing to align to")
    audio = audio_features(signal, tuning_cents)
    score = score_features(notes, max(n.end for n in notes))
    found = align(audio, score, notes, duration, ALIGN_LATENCY.get(family or "", 0.0))
    tmap = _time_map(found, duration)
    moved = float(np.mean(np.abs(found.score - found.audio))) * 1000.0
    return ScoreMap(found, tmap, moved)


def _time_map(found: ScoreAlignment, duration: float) -> timemap.TimeMap:
    """Anchors as they are, the head and tail at the ratio of the first and last RATIO_SPAN_S."""
    source, target = found.audio, found.score
    inside = (source > 0.0) & (source < duration)
    source, target = source[inside], target[inside]
    if len(source) < 2:
        raise ValueError("fewer than two of the part's onsets were found inside the audio")
    head_ratio = _edge_ratio(source, target, first=True)
    tail_ratio = _edge_ratio(source, target, first=False)
    head = target[0] - source[0] * head_ratio
    tail = target[-1] + (duration - source[-1]) * tail_ratio
    return timemap.TimeMap(
        np.concatenate(([0.0], source, [duration])),
        np.concatenate(([head], target, [tail])),
        float(target[0]),
    )


def _edge_ratio(source: np.ndarray, target: np.ndarray, *, first: bool) -> float:
    if len(source) < 2:
        return 1.0
    if first:
        k = max(1, int(np.searchsorted(source, source[0] + RATIO_SPAN_S)) - 1)
        return float((target[k] - target[0]) / (source[k] - source[0]))
    k = min(len(source) - 2, int(np.searchsorted(source, source[-1] - RATIO_SPAN_S)))
    return float((target[-1] - target[k]) / (source[-1] - source[k]))


def describe(found: ScoreMap) -> list[str]:
    """What the record says of the alignment."""
    al = found.alignment
    said = [
        f"aligned to the part: {al.matched:.0%} of its onsets matched (contrast {al.contrast:.2f}), moved "
        f"{found.moved_ms:.0f} ms on average, stretch {found.tmap.stretch:.3f}"
    ]
    for start, stop in al.unmatched:
        said.append(f"{start:.2f}-{stop:.2f} s did not match the part and follows the local tempo")
    return said


def not_followed(found: ScoreMap) -> str | None:
    """Why the audio is not warped to its part (it does not follow it), or None."""
    contrast = found.alignment.contrast
    if contrast > MAX_CONTRAST:
        return (
            f"{NOT_FOLLOWED}: aligned to it, it costs {contrast:.2f} of what it costs aligned to the part in "
            f"another key (at most {MAX_CONTRAST:.2f} follows)"
        )
    return None


def unfollowed(done: ConformResult) -> str | None:
    """Why ``done`` (a :func:`conform_to_score` result) was left as is when it is because the audio does not
    follow its part (the caller may place it by its beats instead), else None."""
    where = -1 if done.applied else done.reason.find(NOT_FOLLOWED)
    return None if where < 0 else done.reason[where:]


def result(
    out: Audio, grid: Grid, analysis: Analysis, found: ScoreMap, plan_notes: Sequence[str], cents: float
) -> ConformResult:
    """The ConformResult of a stem warped onto its part (``out``: the audio, or none when it is in a file)."""
    said = describe(found) + list(plan_notes)  # decided with tempo off: tuning and key notes only
    if cents:
        said.append(f"shifted {cents:+.0f} cents")
    return ConformResult(
        audio=out,
        applied=True,
        reason="; ".join(said),
        before=analysis,
        after=None,
        error_before_ms=None,
        error_after_ms=None,
        stretch=found.tmap.stretch,
        shift_cents=cents,
        grid_origin=grid.origin,
        engine=warp.ENGINE_NAME,
        time_map=tuple(zip(found.tmap.source.tolist(), found.tmap.target.tolist())),
    )


def conform_to_score(
    audio: Audio,
    grid: Grid,
    notes: Sequence[Note],
    *,
    key: bool = False,
    pitched: bool = True,
    family: str | None = None,
    analysis: Analysis | None = None,
) -> ConformResult:
    """Warp ``audio`` so that each of ``notes`` (its part, in the grid's seconds: bar 1 beat 1 at 0 s) lands
    where the part puts it, retuned toward A440 and ``grid.key`` with ``key``; or leave it as is, with why."""
    if analysis is None:
        analysis = analyze(audio, bpm_hint=grid.bpm, beats_per_bar=grid.beats_per_bar, family=family)
    length = output_length(audio.duration, audio.sample_rate, grid, None)
    plan = decide(analysis, audio.duration, grid, tempo=False, key=key, pitched=pitched).plan
    try:
        found = score_map(
            as_signal(audio, ANALYSIS_RATE),
            audio.duration,
            notes,
            family=family,
            tuning_cents=analysis.tuning_cents,
        )
    except ValueError as err:
        return left_as_is(audio.fitted(length), grid, analysis, str(err))
    if (why := not_followed(found)) is not None:
        return left_as_is(audio.fitted(length), grid, analysis, why)
    out = render_placed(audio, placement(audio.duration, audio.sample_rate, grid, found.tmap), plan.cents)
    return result(out, grid, analysis, found, plan.notes, plan.cents)
