"""``conform``: warp a stem's beats onto the grid and optionally retune it, or leave it as is and say why."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from stems.audio import Audio
from stems.conform import timemap, warp
from stems.conform.analysis import analyze
from stems.conform.beats import to_level
from stems.conform.keys import semitones_toward
from stems.conform.records import Analysis, ConformResult, Grid

log = logging.getLogger(__name__)

MIN_TEMPO_CONFIDENCE = 0.30  # below this the onset envelope has no steady period (noise measures ~0.05)
MIN_TUNING_CONFIDENCE = 0.30  # circular resultant of the peaks' offsets; noise and drums measure < 0.1
MIN_KEY_CONFIDENCE = 0.30
MIN_DOWNBEAT_CONFIDENCE = 0.30  # below this bar 1 goes to the nearest grid beat, not the nearest bar line
MIN_BARS = 2
MIN_SHIFT_CENTS = 3.0  # a smaller shift is inaudible and not worth a pass through the stretcher
_TEMPO_LEFT = "tempo left as is: "


@dataclass(frozen=True)
class _Plan:
    """What ``conform`` decided before touching audio."""

    warp: bool
    cents: float
    notes: tuple[str, ...]  # what the reason says about it


@dataclass(frozen=True)
class Decision:
    """What conforming does to a piece, decided from its analysis and length alone (no samples): the
    in-memory :func:`conform` and the file-level ``conform_file`` act on the same decision."""

    as_is: str | None  # why it is left as is; None: it is rendered
    plan: _Plan
    tmap: timemap.TimeMap | None
    level: str | None  # the metrical level note of ``to_level``


@dataclass(frozen=True)
class Placement:
    """How the stretcher's output goes on the grid: the time map's anchors (seconds), the samples of
    silence before it (``start`` > 0) or cut from its head (< 0), and the output's length in samples."""

    source: np.ndarray
    target: np.ndarray
    start: int
    length: int


def _check_input(grid: Grid) -> None:
    if not (np.isfinite(grid.bpm) and 20.0 <= grid.bpm <= 400.0):
        raise ValueError(f"grid bpm must be 20 to 400, got {grid.bpm}")
    if grid.beats_per_bar < 1:
        raise ValueError(f"beats_per_bar must be positive, got {grid.beats_per_bar}")
    if grid.duration is not None and not (np.isfinite(grid.duration) and grid.duration > 0):
        raise ValueError(f"grid duration must be positive seconds, got {grid.duration}")


def _tempo_problem(analysis: Analysis, duration: float, grid: Grid) -> str | None:
    """Why the tempo cannot be conformed, or None."""
    two_bars = MIN_BARS * grid.beats_per_bar * grid.beat_period
    if analysis.warnings and analysis.warnings[0].startswith("silent"):
        return analysis.warnings[0]
    if duration < two_bars:
        return f"shorter than two bars ({duration:.2f} s < {two_bars:.2f} s at {grid.bpm:g} bpm)"
    if analysis.tempo_bpm is None or analysis.tempo_confidence < MIN_TEMPO_CONFIDENCE:
        return f"no steady beat: confidence {analysis.tempo_confidence:.2f} below {MIN_TEMPO_CONFIDENCE:.2f}"
    if len(analysis.beats) < MIN_BARS * grid.beats_per_bar:
        return f"no steady beat: only {len(analysis.beats)} beats found, fewer than two bars"
    return None


def _shift_cents(analysis: Analysis, grid: Grid) -> tuple[float, list[str]]:
    """Pitch shift toward A440 and the grid's key: (cents, what to say about it)."""
    if analysis.tuning_confidence < MIN_TUNING_CONFIDENCE:
        return 0.0, [f"not retuned: no clear pitch (tuning confidence {analysis.tuning_confidence:.2f})"]
    cents, notes = -analysis.tuning_cents, [f"tuning {analysis.tuning_cents:+.0f} cents"]
    if grid.key and analysis.key:
        if analysis.key_confidence >= MIN_KEY_CONFIDENCE:
            semis = semitones_toward(analysis.key, grid.key)
            cents += 100.0 * semis
            notes.append(f"key {analysis.key} -> {grid.key} ({semis:+d} semitones)")
        else:
            notes.append(f"key {analysis.key} too uncertain ({analysis.key_confidence:.2f}) to transpose")
    return (cents if abs(cents) >= MIN_SHIFT_CENTS else 0.0), notes


def _plan(analysis: Analysis, duration: float, grid: Grid, tempo: bool, key: bool, pitched: bool) -> _Plan:
    problem = _tempo_problem(analysis, duration, grid) if tempo or key else None
    if problem and not problem.startswith("no steady beat"):
        return _Plan(warp=False, cents=0.0, notes=(problem,))  # silent or too short: nothing to measure
    notes = [f"{_TEMPO_LEFT}{problem}"] if problem and tempo else []
    cents = 0.0
    if key and pitched:
        cents, said = _shift_cents(analysis, grid)
        notes += said
    elif key and not pitched:
        notes.append("not retuned: unpitched stem")
    return _Plan(warp=tempo and problem is None, cents=cents, notes=tuple(notes))


def output_length(duration: float, sample_rate: int, grid: Grid, tmap: timemap.TimeMap | None) -> int:
    """Samples of the output: the grid's duration, else the input's length at the new tempo."""
    if grid.duration is not None:
        return round(grid.duration * sample_rate)
    end = duration if tmap is None else float(tmap.target[-1])
    return max(1, round(end * sample_rate))


def left_as_is(out: Audio, grid: Grid, analysis: Analysis, reason: str) -> ConformResult:
    """The result when nothing is done: ``out`` is the input fitted to the output length (in memory) or
    holds no samples (``conform_file`` writes nothing then)."""
    origin = grid.origin if grid.origin is not None else (analysis.downbeat or 0.0)
    error = timemap.grid_error_ms(np.array(analysis.beats), grid.beat_period, origin)
    return ConformResult(out, False, f"left as is: {reason}", analysis, None, error, None, 1.0, 0.0)


def decide(
    analysis: Analysis, duration: float, grid: Grid, *, tempo: bool, key: bool, pitched: bool
) -> Decision:
    """Whether and how to warp and retune a piece of ``duration`` seconds with this ``analysis``."""
    _check_input(grid)
    if not tempo and not key:
        return Decision("conform is off for this stem", _Plan(False, 0.0, ()), None, None)
    plan = _plan(analysis, duration, grid, tempo, key, pitched)
    if not plan.warp and plan.cents == 0.0:
        said = [note.removeprefix(_TEMPO_LEFT) for note in plan.notes]
        return Decision("; ".join(said) or "nothing to change", plan, None, None)
    beats, level = _beats_at_grid_level(analysis, grid)
    tmap = _time_map(beats, analysis, duration, grid) if plan.warp else None
    return Decision(None, plan, tmap, level)


def conform(
    audio: Audio,
    grid: Grid,
    *,
    tempo: bool = True,
    key: bool = False,
    pitched: bool = True,
    analysis: Analysis | None = None,
    family: str | None = None,
) -> ConformResult:
    """Warp ``audio``'s beats onto ``grid`` (``tempo``) and retune it toward A440 and ``grid.key`` (``key``,
    never when not ``pitched``); or return it fitted to the length, ``applied=False``, with the reason.
    ``family`` is the stem's instrument family (``analyze``'s), for the analysis before and after."""
    _check_input(grid)
    if analysis is None:
        analysis = analyze(audio, bpm_hint=grid.bpm, beats_per_bar=grid.beats_per_bar, family=family)
    rate = audio.sample_rate
    decision = decide(analysis, audio.duration, grid, tempo=tempo, key=key, pitched=pitched)
    if decision.as_is is not None:
        length = output_length(audio.duration, rate, grid, None)
        return left_as_is(audio.fitted(length), grid, analysis, decision.as_is)
    out = render_placed(audio, placement(audio.duration, rate, grid, decision.tmap), decision.plan.cents)
    after = analyze(out, bpm_hint=grid.bpm, beats_per_bar=grid.beats_per_bar, family=family)
    result = verdict(out, grid, analysis, after, decision)
    if isinstance(result, str):
        retune = retune_only(decision, result)
        if retune is None:
            return left_as_is(
                audio.fitted(output_length(audio.duration, rate, grid, None)), grid, analysis, result
            )
        out = render_placed(audio, placement(audio.duration, rate, grid, None), retune.plan.cents)
        after = analyze(out, bpm_hint=grid.bpm, beats_per_bar=grid.beats_per_bar, family=family)
        result = verdict(out, grid, analysis, after, retune)
        assert not isinstance(result, str), "a render without a time map is never refused"
    return result


def retune_only(decision: Decision, why: str) -> Decision | None:
    """When the warp was refused (``why``, from :func:`verdict`), the decision that still applies the key or
    tuning shift with the identity time map; None when no shift was asked (the stem is left as is)."""
    plan = decision.plan
    if plan.cents == 0.0:
        return None
    notes = (f"{_TEMPO_LEFT}{why}",) + plan.notes
    return Decision(None, _Plan(warp=False, cents=plan.cents, notes=notes), None, None)


def _beats_at_grid_level(analysis: Analysis, grid: Grid) -> tuple[np.ndarray, str | None]:
    beats = np.array(analysis.beats)
    if analysis.tempo_bpm is None or len(beats) < 2:
        return beats, None
    return to_level(beats, analysis.tempo_bpm, grid.bpm)


def _time_map(beats: np.ndarray, analysis: Analysis, duration: float, grid: Grid) -> timemap.TimeMap:
    """An uncertain downbeat moves the stem to the nearest grid beat, not possibly most of a bar away."""
    downbeat = analysis.downbeat if analysis.downbeat is not None else float(beats[0])
    sure = analysis.downbeat_confidence >= MIN_DOWNBEAT_CONFIDENCE
    bar = grid.beats_per_bar * grid.beat_period if sure else grid.beat_period
    return timemap.build(beats, downbeat, duration, grid.beat_period, bar, grid.origin, grid.keep_pickup)


def placement(duration: float, sample_rate: int, grid: Grid, tmap: timemap.TimeMap | None) -> Placement:
    """Stretch by the time map (or only retune: the identity map), then place the output on the grid:
    silence before a positive start, a cut before a negative one, and exactly the asked length."""
    if tmap is None:
        source = target = np.array([0.0, duration])
    else:
        source, target = tmap.source, tmap.target
    start = round(float(target[0]) * sample_rate)
    return Placement(source, target, start, output_length(duration, sample_rate, grid, tmap))


def render_placed(audio: Audio, where: Placement, cents: float) -> Audio:
    """``audio`` stretched along ``where``'s anchors (and shifted by ``cents``), placed on the grid."""
    out = warp.stretch(audio, where.source, where.target, cents=cents)
    samples = (
        np.pad(out.samples, ((0, 0), (where.start, 0))) if where.start > 0 else out.samples[:, -where.start :]
    )
    return Audio(samples, audio.sample_rate).fitted(where.length)


def _bar_one(tmap: timemap.TimeMap, grid: Grid) -> str:
    """Where the first downbeat went: on which bar of the grid, after how many beats of pickup."""
    at = f"first downbeat at {tmap.downbeat_at:.3f} s"
    if grid.origin is None:
        return f"{at}, right after the input's lead-in (no grid from 0 s)"
    beats = round((tmap.downbeat_at - grid.origin) / grid.beat_period)
    bar, beat = divmod(beats, grid.beats_per_bar)
    on = f"bar {bar + 1}" + (f" beat {beat + 1}" if beat else "")
    said = f"{at}, {on} of the grid (bar 1 at {grid.origin:.3f} s)"
    if tmap.pickup:
        start = tmap.downbeat_at - tmap.pickup * grid.beat_period
        said += f", after a {tmap.pickup}-beat pickup from {start:.3f} s"
    return said


def verdict(
    out: Audio, grid: Grid, before: Analysis, after: Analysis, decision: Decision
) -> ConformResult | str:
    """Compare the output's beats (``after``) with the input's on the grid and say what was done; or, when
    conforming moved the beats away from the grid, why the input is left as is. ``out`` goes into the
    result as it is (``conform_file`` passes one without samples: they are in its file)."""
    plan, tmap, level = decision.plan, decision.tmap, decision.level
    origin = grid.origin if grid.origin is not None else (tmap.downbeat_at if tmap is not None else 0.0)
    error_before = timemap.grid_error_ms(np.array(before.beats), grid.beat_period, origin)
    error_after = timemap.grid_error_ms(np.array(after.beats), grid.beat_period, origin)
    said = list(plan.notes) + [w for w in before.warnings if "bpm" in w] + ([level] if level else [])
    if tmap is not None and before.downbeat_confidence < MIN_DOWNBEAT_CONFIDENCE:
        said.append(f"downbeat uncertain ({before.downbeat_confidence:.2f}): moved to the nearest grid beat")
    if tmap is not None:
        worse = error_before is not None and (error_after is None or error_after > max(error_before, 15.0))
        if worse:
            return (
                f"conforming moved the beats away from the grid (mean error {error_before:.0f} ms -> "
                f"{error_after or float('nan'):.0f} ms)"
            )
        said.insert(0, f"warped {before.tempo_bpm:.1f} -> {grid.bpm:g} bpm, {_bar_one(tmap, grid)}")
    if plan.cents:
        said.append(f"shifted {plan.cents:+.0f} cents")
    return ConformResult(
        audio=out,
        applied=True,
        reason="; ".join(said),
        before=before,
        after=after,
        error_before_ms=error_before,
        error_after_ms=error_after,
        stretch=tmap.stretch if tmap is not None else 1.0,
        shift_cents=plan.cents,
        grid_origin=origin,
        engine=warp.ENGINE_NAME,
        time_map=() if tmap is None else tuple(zip(tmap.source.tolist(), tmap.target.tolist())),
    )
