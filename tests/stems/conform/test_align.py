"""Aligning audio to its part (issue 24 point 2): real scores of the music21 corpus played by FluidSynth off their
written tempo, where the true place of every onset is known (``bench/conform.py``'s performances)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from stems.conform import Grid
from stems.conform import align as al
from stems.conform.analysis import ANALYSIS_RATE
from stems.conform.scored import conform_to_score, score_map
from stems.streaming import as_signal
from tests.support.bench_scripts import load_bench

WITHIN = 0.05  # s: the onset tolerance of the bench's F1


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("conform")


def _played(bench: ModuleType, piece: Any, performance: Callable[[Any], Any], seconds: float = 20.0) -> tuple:
    ex = bench.excerpt(piece, seconds)
    audio = bench.play(piece, ex, performance(ex))
    return ex, audio, bench.notes_at(piece, ex)


def test_the_row_wise_dtw_finds_librosa_s_path() -> None:
    """The banded DTW over a full band is the textbook DTW: librosa's, same steps and weights."""
    import librosa

    rng = np.random.default_rng(3)
    a = al.Features(
        al._unit(rng.random((12, 40)).astype(np.float32)), rng.random((12, 40)).astype(np.float32)
    )
    s = al.Features(
        al._unit(rng.random((12, 55)).astype(np.float32)), rng.random((12, 55)).astype(np.float32)
    )
    cost = al._cost_rows(a, s)
    matrix = np.stack([cost.row(i, 0, 55) for i in range(40)])
    path, _ = al._dtw(cost, np.zeros(40, int), np.full(40, 55))
    total, wp = librosa.sequence.dtw(C=matrix)
    assert total[-1, -1] == pytest.approx(matrix[path[:, 0], path[:, 1]].sum())
    assert np.array_equal(path, wp[::-1])


def test_a_string_chorale_off_tempo_with_a_slow_passage_is_placed_onset_by_onset(bench: ModuleType) -> None:
    """Bowed strings 5 % slow, a 150 ms lead and bars 3-4 played twice as slowly: the beat tracker has no steady
    beat to follow there; the aligner places the onsets, the slow bars included (the string ensemble's slow
    attack is corrected by the strings' median latency, so some onsets stay a few tens of ms off)."""
    piece = bench.Piece("bach/bwv269", 88.0, "strings", (48, 48, 49, 48))
    period = 60.0 / 88.0 / 0.95
    slow = (8.0, 16.0)  # quarters

    def timing(ex: Any) -> Callable[[np.ndarray | float], np.ndarray]:
        def at(beat: np.ndarray | float) -> np.ndarray:
            b = np.asarray(beat, dtype=float)
            stretched = np.clip(b, *slow) - slow[0]
            return 0.15 + period * (b + stretched)

        return at

    ex, audio, notes = _played(bench, piece, timing)
    found = score_map(as_signal(audio, ANALYSIS_RATE), audio.duration, notes, family="strings")
    truth = timing(ex)(found.alignment.score * 88.0 / 60.0)
    error = np.abs(found.alignment.audio - truth)
    assert found.alignment.matched >= 0.9
    assert np.median(error) <= 0.035 and np.mean(error <= WITHIN) >= 0.6, np.round(error, 3)
    in_slow = (found.alignment.score * 88.0 / 60.0 >= slow[0]) & (
        found.alignment.score * 88.0 / 60.0 < slow[1]
    )
    assert in_slow.sum() >= 4 and np.median(error[in_slow]) <= 0.035, "the slow bars are placed too"


def test_a_passage_the_audio_leaves_out_is_said_and_the_rest_stays_placed(bench: ModuleType) -> None:
    """The part asks for 4 bars the audio does not play (it jumps from bar 3 to bar 7): the longest stretch that
    matches is kept, the other one follows its tempo, the disagreement is said, and the kept anchors are where
    the notes were played (measured: the path spreads the jump over bars 2-6; bars 7-9 are kept)."""
    piece = bench.Piece("bach/bwv66.6", 96.0, "piano", (0,))
    ex = bench.excerpt(piece, 30.0)
    cut = (8.0, 24.0)  # quarters left out of the audio
    played = replace(ex, notes=tuple(n for n in ex.notes if not cut[0] <= n[0] < cut[1]))
    period = 60.0 / 96.0

    def timing(beat: np.ndarray | float) -> np.ndarray:
        b = np.asarray(beat, dtype=float)
        return 0.1 + period * np.where(b >= cut[1], b - (cut[1] - cut[0]), b)

    audio = bench.play(piece, played, timing)
    notes = bench.notes_at(piece, ex)
    found = score_map(as_signal(audio, ANALYSIS_RATE), audio.duration, notes, family="piano").alignment
    beats = found.score / period
    assert not ((beats >= cut[0]) & (beats < cut[1] - 1.0)).any(), "nothing kept inside the missing bars"
    played_at = found.score >= cut[1] * period
    error = np.abs(found.audio[played_at] - timing(beats[played_at]))
    assert played_at.sum() >= 10 and np.mean(error <= WITHIN) >= 0.9, np.round(error, 3)
    assert found.matched < 0.9
    assert found.unmatched and found.unmatched[0][0] < 3.0, "the disagreement is said"


def test_conform_to_score_puts_a_drifting_performance_on_the_grid(bench: ModuleType) -> None:
    """The conformed audio, aligned again, has its onsets where the part puts them; its length is the grid's."""
    piece = bench.Piece("mozart/k155/movement1", 126.0, "strings", (40, 40, 41, 42))
    ex = bench.excerpt(piece, 15.0)
    perf = bench.Performance(126.0, 1.06, 0.02, 0.12, ex.quarters)
    audio = bench.play(piece, ex, perf.time)
    notes = bench.notes_at(piece, ex)
    grid = Grid(126.0, 4, duration=ex.quarters * 60.0 / 126.0 + 1.0)
    result = conform_to_score(audio, grid, notes, family="strings")
    assert result.applied, result.reason
    assert result.audio.num_samples == round(grid.duration * audio.sample_rate)
    again = score_map(as_signal(result.audio, ANALYSIS_RATE), result.audio.duration, notes, family="strings")
    error = np.abs(again.alignment.audio - again.alignment.score)
    assert np.median(error) <= 0.03 and np.mean(error <= WITHIN) >= 0.85, np.round(error, 3)


def test_audio_that_does_not_play_its_part_is_left_as_is(bench: ModuleType) -> None:
    """Noise (a debug model's stem) or a rag against a chorale's part: the path always finds some onsets to match
    (noise: 85 %), so its cost against the part's in other keys decides; the piece's own part passes."""
    from stems.audio import Audio

    piece, other = bench.PIECES[0], bench.PIECES[2]
    ex, ex_other = bench.excerpt(piece, 20.0), bench.excerpt(other, 20.0)
    audio = bench.play(piece, ex, bench.corpus.steady(piece.bpm, 0.1))
    noise = Audio(
        (np.random.default_rng(0).standard_normal((1, audio.num_samples)) * 0.1).astype(np.float32),
        audio.sample_rate,
    )
    grid = Grid(piece.bpm, 4, duration=audio.duration)
    for stranger in (noise, bench.play(other, ex_other, bench.corpus.steady(other.bpm, 0.1))):
        result = conform_to_score(stranger, grid, bench.notes_at(piece, ex))
        assert not result.applied and "does not follow its part" in result.reason, result.reason
    assert conform_to_score(audio, grid, bench.notes_at(piece, ex)).applied


def test_a_passage_the_audio_adds_is_said_and_the_rest_stays_placed(bench: ModuleType) -> None:
    """The audio plays bars 2-3 twice (4 s the part does not have): the longer matching stretch is kept, the
    extra audio follows the local tempo and is said, and the kept anchors are where the notes were played."""
    piece = bench.Piece("bach/bwv66.6", 96.0, "piano", (0,))
    ex = bench.excerpt(piece, 30.0)
    again = (4.0, 12.0)  # quarters played a second time right after themselves
    extra = again[1] - again[0]
    repeat = tuple(
        (s + extra, e + extra, p, v, part) for s, e, p, v, part in ex.notes if again[0] <= s < again[1]
    )
    later = tuple((s + extra, e + extra, p, v, part) for s, e, p, v, part in ex.notes if s >= again[1])
    early = tuple(n for n in ex.notes if n[0] < again[1])
    played = replace(ex, notes=early + repeat + later, quarters=ex.quarters + extra)
    period = 60.0 / 96.0

    def timing(beat: np.ndarray | float) -> np.ndarray:
        return 0.1 + period * np.asarray(beat, dtype=float)

    audio = bench.play(piece, played, timing)
    found = score_map(as_signal(audio, ANALYSIS_RATE), audio.duration, bench.notes_at(piece, ex)).alignment
    beats = found.score / period
    # where a kept score onset was played: before the repeat as written, after it `extra` quarters later
    truth = timing(np.where(beats >= again[1], beats + extra, beats))
    error = np.abs(found.audio - truth)
    assert np.mean(error <= WITHIN) >= 0.9, np.round(error, 3)
    assert found.unmatched, "the extra audio is said"
    start, stop = found.unmatched[0]
    assert start < timing(again[1] + extra) and stop > timing(again[1]), found.unmatched
