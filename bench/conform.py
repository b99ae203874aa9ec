"""Conforming measured on public-domain scores played off their written tempo; prints one JSON object.

Each piece of the music21 corpus (``PIECES``) is cut to whole bars of about ``--seconds`` from its first
full bar (a pickup is dropped) and played, per part with a GM program, by fluidsynth (``bench/corpus.py``,
as the transcription evaluation plays its scores) as a performance: 2-8 % off the written tempo, 50-200 ms of silence before
bar 1 and a tempo drifting linearly by 1-3 % over the excerpt (all seeded). The written score is the
target: its grid has bar 1 beat 1 at 0 s and beat k at k * 60 / bpm (``Grid.origin`` = 0).

Measured against that grid:

- beat F-measure (``mir_eval.beat.f_measure``, 70 ms, no 5 s trim) of the beats ``analyze`` finds in the
  conformed audio (``after``; a stem left as is is its input), and of those it finds in the performance
  itself (``before``, the unconformed baseline); ``placed``: of the performance's true beats where the
  conforming put them (a click track warped with the music's time map), which a tracker that errs the
  same way before and after cannot flatter; ``tracker``: ``before``'s beats against the true beats;
- note-onset F1 of basic-pitch transcription (``eval_transcription.score``, 50 ms) of the conformed audio,
  of the performance as it is, and of a rendering at the written tempo with no offset (``unwarped``);
- key and tuning ``analyze`` reads from the performance transposed by one semitone (seeded sign, tuning
  truth 0 cents) and retuned by 30 cents (resampled, seeded sign; key unchanged): right when the tonic and
  mode match music21's ``analyze('key')`` of the excerpt, and the cents are within 15 of the truth;
- seconds to conform a 300 s stereo 32 kHz performance (one piece looped) on this machine;
- ``beat_offset_ms``: median of the beats found in the performance less the true beats, what is left of
  the onsets' latency (``stems.conform.beats.LATENCY`` is fitted on it). ``--no-onset`` skips transcription.

``--score`` aligns to the score instead (``stems.conform.conform_to_score``, to the excerpt's notes on the
grid). Its pieces (``SCORE_PIECES``, held out ``SCORE_HELD_OUT``) are bowed strings, chorales on a string
ensemble and slow pads, which the beat tracker cannot follow, and a piano; each performance has, besides the
tempo, lead and drift above, ``SLOW_BARS`` bars played twice as slowly at a seeded bar. Per piece: onset F1 of
the unwarped rendering, of the performance, of its beat-tracking conform, of its score conform and of the
performance warped by its true time map (``true_map``: what the stretcher alone costs); the gap (unwarped less
score-conformed) and each conform's reason, and where each time map puts the played notes against their grid
times (``map_error_ms``, free of transcription). Goals: a mean gap within 0.05, no piece
losing more than 0.10 (strings included), and a 300 s stereo 32 kHz stem conformed to its part (the piece and
its notes looped) in 0.25x real time.

    .venv/bin/python bench/conform.py            # 10 pieces x 30 s, speed on 300 s
    .venv/bin/python bench/conform.py --quick    # 3 pieces x 15 s, speed on 60 s (CI-sized)
    .venv/bin/python bench/conform.py --held-out --seed 1   # pieces and performances not tuned on
    .venv/bin/python bench/conform.py --score [--quick | --held-out --seed 1]

Every constant is chosen on the tuning pieces (seed 0) alone; the held-out set is run once, after.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stems.audio import Audio, convert_audio, resample
from stems.transcription.midi import Note
from tests.support.bench_scripts import load_bench

if TYPE_CHECKING:
    from stems.conform import ConformResult, Grid

corpus = load_bench("corpus")
score = load_bench("eval_transcription").score

BEAT_WINDOW = 0.07  # mir_eval.beat F-measure tolerance (MIREX), seconds
OFFSET_REACH = 0.12  # s: a found beat farther than this from a true beat is a miss, not a latency
TUNING_TOLERANCE = 15.0  # cents
SPEED_RATE = 32_000  # MusicGen's rate: the stems conforming meets
GOALS = {"beat_f": 0.95, "onset_f1_gap": 0.05, "key_tuning_accuracy": 0.90, "realtime_factor": 0.25}


@dataclass(frozen=True)
class Piece:
    """A corpus score, its written tempo (quarter notes per minute), transcription family, GM programs."""

    path: str
    bpm: float
    family: str
    programs: tuple[int, ...]  # per part, cycled: 0 piano, 4 e-piano, 24/25 guitar, 40-42 violin/viola/cello

    @property
    def score(self) -> Any:
        """The score as bench/corpus.py plays it (all parts, as written)."""
        return corpus.Piece(self.path, self.bpm, self.programs)


# Quarter-note meters only, so a beat is a quarter. The tempo is the score's metronome mark where it has one
# a beat tracker can follow at the quarter (the chorales' 96, K. 545's 132, the rag's 100), else a usual one.
PIECES = (
    Piece("bach/bwv66.6", 96.0, "piano", (0,)),
    Piece("mozart/k545/movement1_exposition", 132.0, "piano", (0,)),
    Piece("joplin/maple_leaf_rag", 100.0, "piano", (0,)),
    Piece("bach/bwv7.7", 96.0, "keys", (4, 4, 5, 4)),
    Piece("bach/bwv269", 88.0, "strings", (48, 48, 49, 48)),
    Piece("bach/bwv84.5", 92.0, "guitar", (24, 25, 24, 25)),
    Piece("mozart/k155/movement1", 126.0, "strings", (40, 40, 41, 42)),
    Piece("haydn/opus74no1/movement3", 138.0, "strings", (40, 40, 41, 42)),
    Piece("schubert/Lindenbaum", 84.0, "piano", (73, 0, 0)),
    Piece("ryansMammoth/AmericanHornpipe", 100.0, "guitar", (24,)),
)
QUICK = 3
# Never looked at while tuning the analysis (``--held-out``): other composers, meters and textures, so a
# change that only fits ``PIECES`` shows here. The tempi are usual ones for the movements' markings.
HELD_OUT = (
    Piece("bach/bwv26.6", 92.0, "keys", (4, 4, 5, 4)),
    Piece("haydn/opus74no1/movement1", 120.0, "strings", (40, 40, 41, 42)),
    Piece("mozart/k458/movement2", 132.0, "strings", (40, 40, 41, 42)),
    Piece("cpebach/h186", 100.0, "piano", (0,)),
    Piece("ryansMammoth/AlbemarleHornpipe", 100.0, "guitar", (24,)),
    Piece("mozart/k156/movement2", 72.0, "strings", (40, 40, 41, 42)),
)


Excerpt = Any  # corpus.Excerpt (a bench script's type, so not importable for annotations)


def excerpt(piece: Piece, seconds: float) -> Excerpt:
    """``corpus.excerpt`` with its key, in a quarter-note meter (a beat is a quarter)."""
    ex = corpus.excerpt(piece.score, seconds, key=True)
    if not ex.meter.endswith("/4"):
        raise ValueError(f"{piece.path}: {ex.meter} is not a quarter-note meter")
    return ex


SLOWDOWN = 2.0  # the slow passage of ``--score`` is played at half the tempo
SLOW_BARS = 4  # its length in bars (fewer where the excerpt has no room, with a bar before and after)


@dataclass(frozen=True)
class Performance:
    """Where beat b is played: tempo ``factor`` x written at bar 1, changing linearly by ``drift`` over
    ``beats``; ``lead`` s of silence first; and ``slow_beats`` beats from beat ``slow_start`` played
    ``SLOWDOWN`` times slower (0: none)."""

    bpm: float
    factor: float
    drift: float
    lead: float
    beats: float
    slow_start: float = 0.0
    slow_beats: float = 0.0

    def time(self, beat: float | np.ndarray) -> np.ndarray:
        """``lead`` plus the integral of the beat period from 0 to ``beat``, the period ``SLOWDOWN`` times
        longer over the slow passage."""
        at = np.asarray(beat, dtype=float)
        if self.slow_beats <= 0:
            return self.lead + self._steady(at)
        inside = np.clip(at, self.slow_start, self.slow_start + self.slow_beats)
        extra = (SLOWDOWN - 1.0) * (self._steady(inside) - self._steady(np.asarray(self.slow_start)))
        return self.lead + self._steady(at) + extra

    def _steady(self, beat: np.ndarray) -> np.ndarray:
        """Integral of 60 / (bpm * factor * (1 + drift * b / beats)) from 0 to ``beat``."""
        period = 60.0 / (self.bpm * self.factor)
        if abs(self.drift) < 1e-9:
            return period * beat
        scale = self.beats / self.drift
        return period * scale * np.log1p(beat / scale)


def performance(
    piece: Piece, beats: float, rng: np.random.Generator, bar: float | None = None
) -> Performance:
    """Seeded: tempo 2-8 % off, drift 1-3 %, lead 50-200 ms; with ``bar`` (quarters), also a passage of
    ``SLOW_BARS`` whole bars played twice as slowly, at a seeded bar with at least one bar before and after
    (drawn last, so the other draws are those of the beat mode)."""
    sign = rng.choice([-1.0, 1.0], size=2)
    perf = Performance(
        bpm=piece.bpm,
        factor=1.0 + sign[0] * rng.uniform(0.02, 0.08),
        drift=sign[1] * rng.uniform(0.01, 0.03),
        lead=rng.uniform(0.05, 0.20),
        beats=beats,
    )
    if bar is None:
        return perf
    bars = int(beats // bar)
    length = max(1, min(SLOW_BARS, bars - 2))
    first = int(rng.integers(1, max(2, bars - length)))  # bar index (0: bar 1)
    return replace(perf, slow_start=first * bar, slow_beats=length * bar)


def play(piece: Piece, ex: Excerpt, timing: Callable[[Any], np.ndarray]) -> Audio:
    return corpus.play(piece.score, ex, timing=timing)


def notes_at(piece: Piece, ex: Excerpt) -> list[Note]:
    """The excerpt's notes on the target grid: bar 1 beat 1 at 0 s."""
    return list(corpus.reference_notes(piece.score, ex))


def retune(audio: Audio, cents: float) -> Audio:
    """Played ``cents`` sharp (flat when negative): resampled as if recorded at rate x 2^(cents/1200)."""
    played_at = round(audio.sample_rate * 2 ** (cents / 1200))
    return Audio(resample(audio.samples, played_at, audio.sample_rate), audio.sample_rate)


def beat_f(reference: np.ndarray, estimate: tuple[float, ...] | np.ndarray) -> float:
    import mir_eval

    estimate = np.asarray(estimate, dtype=float)
    if len(estimate) == 0:
        return 0.0
    return float(mir_eval.beat.f_measure(reference, estimate, f_measure_threshold=BEAT_WINDOW))


def clicks(times: np.ndarray, like: Audio) -> Audio:
    """5 ms 2 kHz bursts at ``times``, as long as ``like``: the performance's true beats as audio."""
    rate, burst = like.sample_rate, int(0.005 * like.sample_rate)
    x = np.zeros(like.num_samples, dtype=np.float32)
    tone = 0.5 * np.sin(2 * np.pi * 2000.0 * np.arange(burst) / rate) * np.hanning(burst)
    for start in np.round(np.asarray(times) * rate).astype(int):
        x[start : start + burst] += tone[: max(0, like.num_samples - start)]
    return Audio(x[None], rate)


def click_times(audio: Audio, gap: float = 0.1) -> np.ndarray:
    """Where the bursts rise through a quarter of the peak (no two within ``gap`` s)."""
    level = np.abs(audio.samples).max(axis=0)
    above = np.flatnonzero(level >= 0.25 * max(float(level.max()), 1e-9))
    if len(above) == 0:
        return above.astype(float)
    starts = above[np.concatenate([[True], np.diff(above) > gap * audio.sample_rate])]
    return starts / audio.sample_rate


def placed_beats(case: Case, result: ConformResult) -> np.ndarray:
    """Where conforming put the performance's true beats: a click track at them, conformed with the time
    map of the music (``conform(..., analysis=result.before)``), read back. Independent of the beat tracker
    on the output, so ``beat_f.placed`` below ``after`` means the tracker, not the warp, missed."""
    from stems.conform import conform

    if not result.applied:
        return case.true_beats
    out = conform(clicks(case.true_beats, case.audio), grid(case), tempo=True, analysis=result.before)
    return click_times(out.audio)


def onset_f1(reference: list[Note], audio: Audio, family: str) -> float:
    from stems.transcription.transcriber import get_transcriber

    track = get_transcriber().transcribe(audio, family, family)
    return score(tuple(reference), track.notes)["onset_f1"]


_NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def key_class(name: str | None) -> tuple[int, str] | None:
    """``"F# minor"`` / ``"Bb major"`` -> (pitch class, mode); None when unreadable."""
    if not name or len(name.split()) != 2 or name[0].upper() not in _NAMES:
        return None
    tonic, mode = name.split()
    shift = sum({"#": 1, "♯": 1, "b": -1, "♭": -1, "-": -1}.get(c, 0) for c in tonic[1:])
    return (_NAMES[tonic[0].upper()] + shift) % 12, mode.lower()


def _mean(values: list[float]) -> float:
    return round(float(np.mean(values)), 4) if values else float("nan")


@dataclass(frozen=True)
class Case:
    """One piece as the bench plays it."""

    piece: Piece
    excerpt: Excerpt
    performance: Performance
    audio: Audio  # the performance
    seed: int

    @property
    def grid_beats(self) -> np.ndarray:
        return np.arange(int(self.excerpt.quarters)) * 60.0 / self.piece.bpm

    @property
    def true_beats(self) -> np.ndarray:
        """Where the performance plays the written beats."""
        return self.performance.time(np.arange(int(self.excerpt.quarters)))

    @property
    def reference(self) -> list[Note]:
        return notes_at(self.piece, self.excerpt)


def _index(piece: Piece) -> int:
    """The piece's number in the seeds: its place in the first of PIECES, HELD_OUT, SCORE_PIECES and
    SCORE_HELD_OUT that has it, plus 0, 100, 200 or 300 (a piece in two lists is played alike in both)."""
    for offset, catalog in enumerate((PIECES, HELD_OUT, SCORE_PIECES, SCORE_HELD_OUT)):
        if piece in catalog:
            return 100 * offset + catalog.index(piece)
    raise ValueError(f"{piece.path} is in no list of this bench")


def make_case(piece: Piece, seconds: float, seed: int, *, slow: bool = False) -> Case:
    """The piece played as a seeded performance; ``slow``: with a passage played twice as slowly."""
    ex = excerpt(piece, seconds)
    rng = np.random.default_rng([seed, _index(piece)])
    perf = performance(piece, ex.quarters, rng, bar=ex.bar if slow else None)
    return Case(piece, ex, perf, play(piece, ex, perf.time), seed)


def grid(case: Case) -> Grid:
    from stems.conform import Grid

    length = case.excerpt.quarters * 60.0 / case.piece.bpm + 1.0  # the last notes ring a second
    return Grid(case.piece.bpm, int(case.excerpt.bar), duration=length)


def beat_offset_ms(found: np.ndarray, truth: np.ndarray) -> float | None:
    """Median of (beat found - true beat) over the true beats with one found within ``OFFSET_REACH``, ms:
    what is left of the onsets' latency after ``beats.latency`` (the beats' LATENCY was fitted on it)."""
    if len(found) == 0:
        return None
    nearest = found[np.argmin(np.abs(found[None, :] - truth[:, None]), axis=1)] - truth
    near = nearest[np.abs(nearest) < OFFSET_REACH]
    return round(1000.0 * float(np.median(near)), 1) if len(near) else None


def unwarped_f1(case: Case) -> float:
    """Onset F1 of a rendering at the written tempo with bar 1 at 0 s: what the conformed audio aims at."""
    unwarped = play(case.piece, case.excerpt, corpus.steady(case.piece.bpm))
    return round(onset_f1(case.reference, unwarped, case.piece.family), 4)


def tempo_row(case: Case, onsets: bool = True) -> dict[str, Any]:
    """Beat F before and after conforming; with ``onsets``, onset F1 too, and on the unwarped rendering."""
    from stems.conform import conform

    result = conform(case.audio, grid(case), tempo=True, family=case.piece.family)
    after = result.after if result.after is not None else result.before  # left as is: output = input
    family, reference = case.piece.family, case.reference
    row = {
        "piece": case.piece.path,
        "tempo_factor": round(case.performance.factor, 4),
        "drift": round(case.performance.drift, 4),
        "lead_s": round(case.performance.lead, 3),
        "applied": result.applied,
        "reason": result.reason,
        "stretch": round(result.stretch, 4),
        "grid_origin": result.grid_origin,
        "error_ms": {"before": result.error_before_ms, "after": result.error_after_ms},
        "beat_f": {
            "before": round(beat_f(case.grid_beats, result.before.beats), 4),
            "after": round(beat_f(case.grid_beats, after.beats), 4),
            "placed": round(beat_f(case.grid_beats, placed_beats(case, result)), 4),
            "tracker": round(beat_f(case.true_beats, result.before.beats), 4),
        },
        "beat_offset_ms": beat_offset_ms(np.array(result.before.beats), case.true_beats),
    }
    if onsets:
        row["onset_f1"] = {
            "unwarped": unwarped_f1(case),
            "before": round(onset_f1(reference, case.audio, family), 4),
            "conformed": round(onset_f1(reference, result.audio, family), 4),
        }
    return row


def detuned_rows(case: Case) -> list[dict[str, Any]]:
    """Key and tuning ``analyze`` reads on the performance a semitone and 30 cents off."""
    from stems.conform import analyze

    rng = np.random.default_rng([case.seed, 7, _index(case.piece)])
    semitone, cents = int(rng.choice([-1, 1])), float(rng.choice([-30.0, 30.0]))
    transposed = play(case.piece, case.excerpt.transposed(semitone), case.performance.time)
    variants = (
        (f"{semitone:+d} semitone", transposed, semitone, 0.0),
        (f"{cents:+.0f} cents", retune(case.audio, cents), 0, cents),
    )
    rows = []
    for name, audio, transpose, truth_cents in variants:
        found = analyze(audio, beats_per_bar=int(case.excerpt.bar))
        tonic, mode = case.excerpt.key
        truth = ((tonic + transpose) % 12, mode)
        rows.append(
            {
                "piece": case.piece.path,
                "variant": name,
                "key": found.key,
                "key_right": key_class(found.key) == truth,
                "tuning_cents": round(found.tuning_cents, 1),
                "tuning_right": abs(found.tuning_cents - truth_cents) <= TUNING_TOLERANCE,
            }
        )
    return rows


def speed(case: Case, seconds: float) -> dict[str, float]:
    """Wall seconds to conform ``seconds`` of the performance looped, stereo at 32 kHz (analysis included)."""
    from stems.conform import Grid, conform

    stereo = convert_audio(case.audio, SPEED_RATE, 2)
    reps = int(np.ceil(seconds * SPEED_RATE / stereo.num_samples))
    long = Audio(np.tile(stereo.samples, reps)[:, : int(seconds * SPEED_RATE)], SPEED_RATE)
    start = time.perf_counter()
    conform(long, Grid(case.piece.bpm, int(case.excerpt.bar)), tempo=True)
    took = time.perf_counter() - start
    return {"seconds": round(took, 2), "realtime_factor": round(took / seconds, 4)}


def summary(
    rows: list[dict[str, Any]], detuned: list[dict[str, Any]], timing: dict[str, float], seconds: float
) -> dict[str, Any]:
    def mean(section: str, key: str) -> float:
        return _mean([r[section][key] for r in rows])

    onsets = all("onset_f1" in r for r in rows)  # not with --no-onset
    offsets = [r["beat_offset_ms"] for r in rows if r["beat_offset_ms"] is not None]
    out: dict[str, Any] = {
        "pieces": len(rows),
        "beat_f": {k: mean("beat_f", k) for k in ("before", "after", "placed", "tracker")},
        "beat_offset_ms": round(float(np.median(offsets)), 1) if offsets else None,  # median of the pieces'
        **(
            {"onset_f1": {k: mean("onset_f1", k) for k in ("unwarped", "before", "conformed")}}
            if onsets
            else {}
        ),
        "key_accuracy": _mean([float(r["key_right"]) for r in detuned]),
        "tuning_accuracy": _mean([float(r["tuning_right"]) for r in detuned]),
        "speed_audio_s": seconds,  # stereo, 32 kHz
        "conform_s": timing["seconds"],
        "realtime_factor": timing["realtime_factor"],
    }
    goals = {
        "beat_f_after": out["beat_f"]["after"] >= GOALS["beat_f"],
        "beat_f_placed": out["beat_f"]["placed"] >= GOALS["beat_f"],
    }
    if onsets:
        onset = out["onset_f1"]
        goals["onset_f1_within"] = onset["conformed"] >= onset["unwarped"] - GOALS["onset_f1_gap"]
    out["goals"] = {
        **goals,
        "key_accuracy": out["key_accuracy"] >= GOALS["key_tuning_accuracy"],
        "tuning_accuracy": out["tuning_accuracy"] >= GOALS["key_tuning_accuracy"],
        "realtime_factor": timing["realtime_factor"] <= GOALS["realtime_factor"],
    }
    return out


def evaluate(
    pieces: tuple[Piece, ...], seconds: float, speed_seconds: float, seed: int, onsets: bool = True
) -> dict[str, Any]:
    cases = [make_case(p, seconds, seed) for p in pieces]
    rows = [tempo_row(c, onsets) for c in cases]
    detuned = [row for c in cases for row in detuned_rows(c)]
    timing = speed(cases[0], speed_seconds)
    result = summary(rows, detuned, timing, speed_seconds)
    return {**result, "seed": seed, "seconds_per_piece": seconds, "per_piece": rows, "detuned": detuned}


# --------------------------------------------------------------------------- score mode (``--score``)

# Bowed strings (a string quartet, GM 40-42), chorales on a string ensemble (48/49) and slow pads (GM 88-95),
# which the beat tracker cannot follow, and a piano as the control that it can. The first QUICK are a chorale
# on strings, a slow quartet and a pad. Tuning set: the aligner's constants are chosen on these alone.
SCORE_PIECES = (
    Piece("bach/bwv269", 88.0, "strings", (48, 48, 49, 48)),
    Piece("haydn/opus1no1/movement3", 60.0, "strings", (40, 40, 41, 42)),  # Adagio
    Piece("bach/bwv13.6", 66.0, "pad", (89,)),  # warm pad
    Piece("mozart/k155/movement1", 126.0, "strings", (40, 40, 41, 42)),
    Piece("haydn/opus74no1/movement3", 138.0, "strings", (40, 40, 41, 42)),
    Piece("bach/bwv10.7", 72.0, "strings", (49, 49, 48, 49)),
    Piece("bach/bwv14.5", 72.0, "pad", (91,)),  # choir pad
    Piece("mozart/k155/movement2", 80.0, "pad", (88,)),  # Andante on the new age pad
    Piece("bach/bwv66.6", 96.0, "piano", (0,)),
)
# Never looked at while the aligner is tuned (``--score --held-out``): other quartets, chorales and pads.
SCORE_HELD_OUT = (
    Piece("bach/bwv2.6", 80.0, "strings", (48, 49, 48, 48)),
    Piece("mozart/k80/movement1", 66.0, "strings", (40, 40, 41, 42)),  # Adagio
    Piece("bach/bwv24.6", 66.0, "pad", (91,)),
    Piece("beethoven/opus59no2/movement2", 56.0, "strings", (40, 40, 41, 42)),  # Molto adagio
    Piece("mozart/k156/movement3", 104.0, "strings", (40, 40, 41, 42)),
    Piece("bach/bwv140.7", 72.0, "pad", (89,)),
    Piece("corelli/opus3no1", 60.0, "pad", (92,)),  # Grave on the bowed pad
    Piece("bach/bwv244.15", 92.0, "piano", (0,)),
)
SCORE_GOALS = {"mean_gap": 0.05, "worst_loss": 0.10, "realtime_factor": 0.25}
MAP_WINDOW = 0.05  # s: a note the time map puts this near its grid time is placed (the onset F1 window)


def map_error_ms(case: Case, result: ConformResult) -> dict[str, float] | None:
    """Where the result's time map puts the performance's note onsets, against their grid times: median and
    95th percentile of the error in ms, the fraction within ``MAP_WINDOW``, and the median signed error
    (``bias``, > 0: late). The map's intent, free of transcription (R3 put clicks within 6 ms of their anchors,
    13-15 ms early after a bar slowed twofold: tests/stems/conform/test_conform_bench.py); None when nothing
    was warped."""
    if not result.applied or len(result.time_map) < 2:
        return None
    source, target = np.array(result.time_map, dtype=float).T
    quarters = np.unique([n[0] for n in case.excerpt.notes])
    signed = np.interp(case.performance.time(quarters), source, target) - quarters * 60.0 / case.piece.bpm
    error = np.abs(signed)
    return {
        "median": round(1000.0 * float(np.median(error)), 1),
        "p95": round(1000.0 * float(np.percentile(error, 95)), 1),
        "within": round(float(np.mean(error <= MAP_WINDOW)), 4),
        "bias": round(1000.0 * float(np.median(signed)), 1),
    }


def true_warp(case: Case) -> Audio:
    """The performance warped by its true time map (each quarter to its grid time, the lead-in and the tail
    at the neighbouring tempo) with the same stretcher: the best an aligner can give, so ``unwarped`` less
    this is what the stretching itself costs."""
    from stems.conform.warp import stretch

    quarters = np.arange(int(np.floor(case.excerpt.quarters)) + 1, dtype=float)
    played, written = case.performance.time(quarters), quarters * 60.0 / case.piece.bpm
    end = case.audio.duration
    played, written = played[played < end - 0.01], written[played < end - 0.01]
    ratio = (written[-1] - written[-2]) / (played[-1] - played[-2])
    source = np.concatenate(([0.0], played, [end]))
    head, tail = -played[0] * case.performance.factor, written[-1] + (end - played[-1]) * ratio
    out = stretch(case.audio, source, np.concatenate(([head], written, [tail])))
    cut = round(-head * out.sample_rate)  # the lead-in falls before 0 s
    length = round(float(grid(case).duration or 0.0) * out.sample_rate)
    return Audio(out.samples[:, cut:], out.sample_rate).fitted(length)


def _method(result: ConformResult, case: Case) -> dict[str, Any]:
    return {
        "applied": result.applied,
        "reason": result.reason,
        "stretch": round(result.stretch, 4),
        "map_error_ms": map_error_ms(case, result),
    }


def score_row(case: Case) -> dict[str, Any]:
    """Onset F1 of the unwarped rendering, the performance, its beat-tracking conform and its score conform
    (``conform_to_score`` to the excerpt's notes on the grid), and what each conform did."""
    from stems.conform import conform, conform_to_score

    family, reference, perf = case.piece.family, case.reference, case.performance
    beats = conform(case.audio, grid(case), tempo=True, family=family)
    aligned = conform_to_score(case.audio, grid(case), reference, family=family)
    f1 = {
        "unwarped": unwarped_f1(case),
        "before": round(onset_f1(reference, case.audio, family), 4),
        "beats": round(onset_f1(reference, beats.audio, family), 4),
        "score": round(onset_f1(reference, aligned.audio, family), 4),
        "true_map": round(onset_f1(reference, true_warp(case), family), 4),
    }
    slow = int(perf.slow_start // case.excerpt.bar) + 1, int(perf.slow_beats // case.excerpt.bar)
    return {
        "piece": case.piece.path,
        "family": family,
        "programs": list(case.piece.programs),
        "tempo_factor": round(perf.factor, 4),
        "drift": round(perf.drift, 4),
        "lead_s": round(perf.lead, 3),
        "slow_bars": {"from": slow[0], "bars": slow[1]},  # played SLOWDOWN times slower
        "onset_f1": f1,
        "loss": round(f1["unwarped"] - f1["score"], 4),  # what the score conform loses against the unwarped
        "score": _method(aligned, case),
        "beats": _method(beats, case),
    }


def looped(case: Case, seconds: float) -> tuple[Audio, list[Note], float]:
    """``seconds`` of the performance looped (stereo, 32 kHz; each loop cut where the excerpt's last bar ends
    in the performance) and its notes looped alike on the grid; the grid seconds they span."""
    played = float(case.performance.time(case.excerpt.quarters))
    written = case.excerpt.quarters * 60.0 / case.piece.bpm
    one = convert_audio(case.audio, SPEED_RATE, 2).samples[:, : round(played * SPEED_RATE)]
    reps = int(np.ceil(seconds / played))
    audio = Audio(np.tile(one, reps)[:, : round(seconds * SPEED_RATE)], SPEED_RATE)
    span = seconds * written / played
    notes = [
        Note(n.start + k * written, n.end + k * written, n.pitch, n.velocity)
        for k in range(reps)
        for n in case.reference
        if n.start + k * written < span
    ]
    return audio, notes, span


def score_speed(case: Case, seconds: float) -> dict[str, float]:
    """Wall seconds for ``conform_to_score`` of ``seconds`` of the piece looped to its notes looped (its
    analysis, the alignment and the warp)."""
    from stems.conform import Grid, conform_to_score

    audio, notes, span = looped(case, seconds)
    start = time.perf_counter()
    conform_to_score(
        audio, Grid(case.piece.bpm, int(case.excerpt.bar), duration=span), notes, family=case.piece.family
    )
    took = time.perf_counter() - start
    return {"seconds": round(took, 2), "realtime_factor": round(took / seconds, 4)}


def _losses(rows: list[dict[str, Any]]) -> dict[str, Any]:
    worst = max(rows, key=lambda r: r["loss"])
    return {
        "pieces": len(rows),
        "mean_gap": _mean([r["loss"] for r in rows]),  # unwarped - score conformed, averaged
        "worst_loss": worst["loss"],
        "worst_piece": worst["piece"],
    }


def score_summary(rows: list[dict[str, Any]], timing: dict[str, float], seconds: float) -> dict[str, Any]:
    """Means, the gap and the worst loss (all pieces and per family), how many each conform warped, the time
    maps' median error, the speed, and the goals."""
    families = sorted({r["family"] for r in rows})
    per_family = {f: _losses([r for r in rows if r["family"] == f]) for f in families}
    errors = {
        m: [r[m]["map_error_ms"]["median"] for r in rows if r[m]["map_error_ms"] is not None]
        for m in ("score", "beats")
    }
    out: dict[str, Any] = {
        "pieces": len(rows),
        "onset_f1": {
            k: _mean([r["onset_f1"][k] for r in rows])
            for k in ("unwarped", "before", "beats", "score", "true_map")
        },
        **_losses(rows),
        "families": per_family,
        "applied": {m: sum(r[m]["applied"] for r in rows) for m in ("score", "beats")},
        "map_error_ms": {m: round(float(np.median(e)), 1) if e else None for m, e in errors.items()},
        "speed_audio_s": seconds,  # stereo, 32 kHz
        "conform_s": timing["seconds"],
        "realtime_factor": timing["realtime_factor"],
    }
    strings = per_family.get("strings")
    out["goals"] = {
        "mean_gap": out["mean_gap"] <= SCORE_GOALS["mean_gap"],
        "worst_loss": out["worst_loss"] <= SCORE_GOALS["worst_loss"],
        "strings_included": strings is not None and strings["worst_loss"] <= SCORE_GOALS["worst_loss"],
        "realtime_factor": timing["realtime_factor"] <= SCORE_GOALS["realtime_factor"],
    }
    return out


def evaluate_score(
    pieces: tuple[Piece, ...], seconds: float, speed_seconds: float, seed: int
) -> dict[str, Any]:
    cases = [make_case(p, seconds, seed, slow=True) for p in pieces]
    rows = [score_row(c) for c in cases]
    timing = score_speed(cases[0], speed_seconds)
    result = score_summary(rows, timing, speed_seconds)
    return {**result, "mode": "score", "seed": seed, "seconds_per_piece": seconds, "per_piece": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK} pieces x 15 s, speed on 60 s")
    parser.add_argument("--seconds", type=float, default=30.0, help="excerpt length (whole bars)")
    parser.add_argument("--speed-seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pieces", nargs="*", default=None, help="corpus paths, e.g. bach/bwv66.6")
    parser.add_argument(
        "--held-out", action="store_true", help="the held-out pieces instead of the tuning set"
    )
    parser.add_argument(
        "--score", action="store_true", help="align to the score (SCORE_PIECES, a slow passage)"
    )
    parser.add_argument("--no-onset", action="store_true", help="beat figures only (no transcription)")
    args = parser.parse_args(argv)
    catalogs = {(False, False): PIECES, (False, True): HELD_OUT, (True, False): SCORE_PIECES}
    catalog = catalogs.get((args.score, args.held_out), SCORE_HELD_OUT)
    pieces = tuple(p for p in catalog if args.pieces is None or p.path in args.pieces)
    if not pieces:
        parser.error(f"no piece of {[p.path for p in catalog]} was named")
    if args.score and args.no_onset:
        parser.error("--score measures onset F1: --no-onset is for the beat mode")
    if args.quick:
        pieces, args.seconds, args.speed_seconds = pieces[:QUICK], 15.0, 60.0
    if args.score:
        result = evaluate_score(pieces, args.seconds, args.speed_seconds, args.seed)
    else:
        result = evaluate(pieces, args.seconds, args.speed_seconds, args.seed, onsets=not args.no_onset)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
