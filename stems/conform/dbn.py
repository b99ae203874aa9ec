"""Beats that follow the tempo: Viterbi decoding of a beat-pointer dynamic Bayesian network.

The state space is Krebs, Boeck and Widmer's (ISMIR 2015, as in madmom's ``DBNBeatTrackingProcessor``): one
state per frame of a beat period for every whole-frame period in the tempo range, so a beat is where the path
re-enters position 0, and the tempo may change only there, by a factor ``exp(-TRANSITION_LAMBDA * |ratio - 1|)``.
Observations: the first ``1 / OBSERVATION_LAMBDA`` of a beat is the beat region, scored by the activation, the
rest by its complement. Added here: a per-beat log-normal prior around the expected tempo (``prior_octaves``),
so the path keeps to the tempo level asked for instead of locking onto a 3:4 or 2:3 pulse that the onsets also
carry (without it, a +-50 % range tracked 4 of 16 bench pieces at such a ratio).

Why in-project: librosa's tracker (Ellis 2007) keeps one tempo for the whole signal, so a piece played 3-4 %
off the tempo it estimated slides off the beat within bars (bench/conform.py seed 0: Schubert's Lindenbaum,
tracker beat F 0.52; Mozart K. 155 0.70), and it follows a rag's syncopation half a beat off. madmom's DBN
does not build here (its sdist needs Cython at setup and predates numpy 2). Measured as the fraction of the
performance's true beats within 70 ms (bench/conform.py seed 0, 10 pieces / --held-out --seed 1, 6 pieces):
librosa plus the phase fixes 0.77 / 0.79; this network 0.998 / 0.975. Decoding 300 s of activation takes
0.5 s centred on 120 bpm and 1.2 s on 60 bpm (the slower the tempo, the more states) on this 2-core box.
"""

from __future__ import annotations

import numpy as np

TRANSITION_LAMBDA = 100.0  # madmom's default: tempo changes of a few percent per beat are cheap
OBSERVATION_LAMBDA = 16  # the beat region is the first 1/16 of a beat period (madmom's default)
RANGE = 1.5  # tempo states from expected / RANGE to expected * RANGE
PRIOR_OCTAVES = 0.15  # standard deviation of the per-beat tempo prior: 8 % off costs 0.27 nats a beat
# Activation floor: the log-likelihood of a beat region over frames with no onset is log(FLOOR). Chosen on
# bench/conform.py's tuning pieces alone (PIECES, seed 0, beats.LATENCY and FAMILY_LATENCY as fitted there):
# true beats tracked within 70 ms 0.992 for every floor from 1e-6 to 0.05 (0.1: 0.763); conformed beats
# within 70 ms (after / placed) 1e-6 0.994 / 0.996, 0.01 0.911 / 0.915, 0.03 0.912 / 0.916, 0.05 0.912 /
# 0.919 (American Hornpipe's output tracked half a beat off, so left as is), 0.1 0.654 / 0.682. The last round
# took 0.03 from the held-out pieces, where 1e-6 had tracked 0.945 of the true beats against 0.975.
FLOOR = 1e-6


def decode(
    activation: np.ndarray, fps: float, expected_bpm: float, *, prior_octaves: float = PRIOR_OCTAVES
) -> np.ndarray:
    """Frames of the beats on the most likely path through ``activation`` (0..1 per frame, a beat's
    likelihood) at ``fps`` frames per second, with tempi within ``RANGE`` of ``expected_bpm``."""
    act = np.clip(np.asarray(activation, dtype=np.float64), FLOOR, 1.0 - FLOOR)
    if len(act) < 2:
        return np.zeros(0, dtype=np.int64)
    lo = max(2, int(np.floor(60.0 * fps / (expected_bpm * RANGE))))
    hi = max(lo, int(np.ceil(60.0 * fps / (expected_bpm / RANGE))))
    periods = np.arange(lo, hi + 1)
    first = np.concatenate(([0], np.cumsum(periods)[:-1]))
    last = first + periods - 1
    position = np.concatenate([np.arange(p) for p in periods])
    region = np.maximum(1, periods // OBSERVATION_LAMBDA)  # beat region per period, as _beats_on_path's
    in_beat = position < np.repeat(region, periods)
    # log P(period j at the next beat | period i now) plus the tempo prior of j, per beat.
    log_move = -TRANSITION_LAMBDA * np.abs(periods[None, :] / periods[:, None] - 1.0)
    log_move -= np.log(np.exp(log_move).sum(axis=1, keepdims=True))
    bpm = 60.0 * fps / periods
    log_move += -0.5 * (np.log2(bpm / expected_bpm) / prior_octaves) ** 2
    log_beat, log_other = np.log(act), np.log((1.0 - act) / (OBSERVATION_LAMBDA - 1))
    moving = np.flatnonzero(position > 0)
    score = np.where(in_beat, log_beat[0], log_other[0]) - np.log(len(position))
    # One back-pointer per frame and tempo: int16 holds any index into ``periods`` and halves this, the one
    # table here that grows with the signal (20 minutes at 120 bpm: 103,000 frames x 38 tempi).
    came_from = np.zeros((len(act), len(periods)), dtype=np.int16 if len(periods) < 2**15 else np.int32)
    columns = np.arange(len(periods))
    for t in range(1, len(act)):
        entry = score[last][:, None] + log_move
        best = np.argmax(entry, axis=0)
        came_from[t] = best
        new = np.empty_like(score)
        new[moving] = score[moving - 1]
        new[first] = entry[best, columns]
        new += np.where(in_beat, log_beat[t], log_other[t])
        score = new
    beats, regions = _beats_on_path(int(np.argmax(score)), came_from, first, periods)
    # Each beat goes to the activation's peak within its beat region, as madmom's ``correct`` does: the path
    # enters a beat at the region's start, up to a sixteenth of a beat before the onset.
    return np.array([b + int(np.argmax(act[b : b + r])) for b, r in zip(beats, regions)], dtype=np.int64)


def _beats_on_path(
    state: int, came_from: np.ndarray, first: np.ndarray, periods: np.ndarray
) -> tuple[list[int], list[int]]:
    """Walk the best path back from its last ``state``: each frame where it is at position 0 is a beat, with
    the length of its beat region."""
    j = int(np.searchsorted(first, state, side="right") - 1)
    pos = state - int(first[j])
    beats, regions = [], []
    for t in range(len(came_from) - 1, -1, -1):
        if pos > 0:
            pos -= 1
            continue
        beats.append(t)
        regions.append(max(1, int(periods[j]) // OBSERVATION_LAMBDA))
        if t > 0:
            j = int(came_from[t, j])
            pos = int(periods[j]) - 1
    return beats[::-1], regions[::-1]
