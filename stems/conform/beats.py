"""Tempo, beat times and the downbeat of mono audio.

Beats come from a beat-pointer network that follows tempo changes (:mod:`stems.conform.dbn`), centred on
the arrangement's tempo level, over an activation of all onsets plus the bass onsets and bass-note changes
that mark a beat rather than the off-beat (:func:`activation`); a robust local line through each beat's
neighbours then gives sub-frame times. Placed beats within 70 ms on bench/conform.py: librosa's
fixed-tempo tracker with the earlier phase fixes 0.77 (seed 0) / 0.79 (--held-out --seed 1); this 0.98 / 0.97.
The tempo confidence also counts the bass notes' periodicity, so bowed strings without sharp attacks are
conformed (Haydn op. 74/1 iii confidence 0.03 -> 0.55; noise and a pad stay below 0.1).
Where there is no bass to ask (a keyboard piece's running treble), a path that began on the first note and
settled half a beat off is moved back by that first note (:func:`fix_start_phase`, vetoed by chord changes
on the tracked beats). Kept on the tuning pieces alone (bench/conform.py seed 0, with the constants below):
without it the conformed American Hornpipe's beats are tracked half a beat off and the piece is left as is
(its beats within 70 ms 0.19 after, 1.00 with it); the ten pieces' after 0.913 -> 0.994, placed 0.916 ->
0.996, no piece worse.
The downbeat is the beat phase (0..beats_per_bar-1) whose beats carry the most bass onset energy and harmonic
change; librosa has no downbeat tracker.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from stems.conform import dbn, spectra
from stems.streaming import Signal

HOP = 256  # analysis hop at 22.05 kHz: 11.6 ms
N_FFT = 1024  # 46 ms: shorter than librosa's 2048 default, so onsets smear less in time
# The onset envelope peaks after the note starts (librosa pads it by n_fft / 2 and the flux of log power
# rises over the attack), and a beat is put on the activation's peak. Fitted on bench/conform.py's tuning
# pieces alone (PIECES, seed 0, 30 s; ``beat_offset_ms`` there is what is left of it): with no correction the
# beat network's (``dbn``) beats sat a median +28.3 ms after the true beats' note-ons over the 7 plucked,
# struck and blown pieces (piece medians +23.1 to +31.2 ms). With no latency at all (nor the strings') the
# conformed beats within 70 ms fall from 0.994 to 0.823 (after) and from 0.996 to 0.893 (placed).
LATENCY = 0.028
# Bowed strings swell in, so their onset envelope peaks later still: +52.8 ms, the median over the three
# string pieces of the tuning set (bach/bwv269 on string ensemble +42.5, Haydn op. 74/1 iii +52.8, Mozart
# K. 155 +56.6 ms). With LATENCY for them too, the ten pieces' true beats tracked within 70 ms 0.989, not 0.992.
FAMILY_LATENCY = {"strings": 0.053}
# A click track or a sparse bass or percussion part has clean attacks: silence before each note. There the
# latency is measured instead (:func:`attack_latency`): a beat goes where the sound starts, the first sample
# rising through ATTACK_LEVEL (-40 dB) of the note's peak, after CLEAN_BEFORE s under that level (up to
# CLEAN_GAP s before it), at CLEAN_SHARE of the beats at least. On a woodblock click track LATENCY left every
# click 13-18 ms late of its grid line; measured, within 2.3 ms (``tests/flows/cli/test_conform_grid.py``; at
# 5 % or 2 % of the peak a bass note's start, a cycle long, is found 11 or 8 ms late). Notes that ring into
# the next are not clean: none of bench/conform.py's tuning pieces is, and its figures are unchanged.
ATTACK_LEVEL = 0.01
CLEAN_BEFORE, CLEAN_GAP, CLEAN_SHARE = 0.03, 0.005, 0.8
# The rise is looked for this far before the onset envelope's peak and after it.
_ATTACK_BEFORE, _ATTACK_AFTER = 0.05, 0.03
_ATTACK_BEATS = 64  # beats sampled evenly over the stem
# A beat more than this fraction of a beat away from the line through its neighbours is a tracking error.
_OUTLIER = 0.2
_TRIM = 0.2
_SMOOTH_BEATS = 4  # neighbours each side in the local line (slow drift is linear over 9 beats)
BASS_FMIN = 32.70  # C1 in Hz: the lowest bin of the bass CQT
BASS_BINS = 36  # C1..B3, semitone bins: where bass notes (and so chord changes) sound
# Bowed strings swell in: their broadband onset envelope has no period at the beat (measured 0.00-0.04 on
# three string pieces of bench/conform.py, as low as noise), but the onsets of their bass notes do (0.10-0.19,
# against 0.03-0.04 for noise and a synth pad). This scale makes 0.09 of bass periodicity meet the 0.30 of
# ``apply.MIN_TEMPO_CONFIDENCE``.
BASS_CONFIDENCE_SCALE = 0.30 / 0.09
_START_BEATS = 16  # beats past _START_SKIP through which the start check fits its line
# The start check fits its line to beats from the _START_SKIP-th (past the first bars, over which a tracker
# that started on the first note drifts to the off-beat), takes the first frame with an onset of
# _START_ONSET of the loudest, and calls it midway when it is over _START_OFF of a beat off that line.
_START_SKIP = 8
_START_ONSET = 0.3
_START_OFF = 0.3
# ... provided those beats keep to the line within this fraction of a beat (a tracker still wandering in
# phase there gives no line to run back).
_START_STEADY = 0.1
# Chord changes at the tracked beats leading those midway by this log ratio keep the beats as they are.
_HARMONY_MARGIN = 0.15


@dataclass(frozen=True)
class Beats:
    tempo_bpm: float | None
    confidence: float
    times: np.ndarray  # seconds
    # Onset strength midway between beats over that at the beats (1: a pulse twice as fast).
    offbeat: float = 0.0


class Features:
    """The onset and harmony features of one mono signal, each computed when first asked for and then kept:
    the tracker, its start check and the downbeat read the same ones. Each is computed a chunk of frames at
    a time (:mod:`stems.conform.spectra`), so a long signal never has its whole spectrogram in memory."""

    def __init__(self, signal: Signal) -> None:
        self.signal, self.sr = signal, signal.sample_rate

    @functools.cached_property
    def env(self) -> np.ndarray:
        return onset_envelope(self.signal)

    @functools.cached_property
    def low(self) -> np.ndarray:
        return low_onsets(self.signal)

    @functools.cached_property
    def bass(self) -> np.ndarray:
        return bass_onsets(self.signal)

    @functools.cached_property
    def chroma(self) -> np.ndarray:
        return spectra.chroma_stft(self.signal, HOP)


def onset_envelope(signal: Signal) -> np.ndarray:
    """``librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP, n_fft=N_FFT)``, in two passes over chunks
    of frames (:func:`spectra.onset_strength`), so that its 128 mel bands are never all in memory."""
    sr = signal.sample_rate

    def mel_chunks() -> Iterator[np.ndarray]:
        import librosa

        for power in spectra.power_chunks(signal, N_FFT, HOP):
            yield librosa.feature.melspectrogram(S=power, sr=sr, fmax=0.5 * sr)  # onset_strength's own fmax

    return spectra.onset_strength(mel_chunks, sr, HOP, N_FFT)


def bass_onsets(signal: Signal) -> np.ndarray:
    """Superflux-style onset envelope (Boeck and Widmer 2013) of the bass octaves of a CQT: rises of log
    magnitude against two hops back after a 3-bin maximum across frequency, so a note that swells in (a bowed
    string) counts when its pitch arrives, and vibrato does not."""
    import librosa

    sr = signal.sample_rate

    def magnitude(y: np.ndarray) -> np.ndarray:
        return np.abs(librosa.cqt(y, sr=sr, hop_length=HOP, fmin=BASS_FMIN, n_bins=BASS_BINS))

    db = librosa.amplitude_to_db(spectra.cqt_frames(signal, HOP, magnitude), ref=np.max)
    return np.asarray(librosa.onset.onset_strength(S=db, sr=sr, hop_length=HOP, lag=2, max_size=3))


def low_onsets(signal: Signal) -> np.ndarray:
    """Onset strength of the lowest 8 of 64 mel bands (up to about 250 Hz): the bass and kick drum."""
    import librosa

    sr = signal.sample_rate
    low = spectra.frames(
        librosa.feature.melspectrogram(S=p, sr=sr, n_mels=64, fmax=8000)[:8]
        for p in spectra.power_chunks(signal, 2048, HOP)  # melspectrogram's default n_fft
    )
    return np.asarray(librosa.onset.onset_strength(S=librosa.power_to_db(low), sr=sr, hop_length=HOP))


def latency(family: str | None) -> float:
    """Seconds from a note-on to the onset envelope's peak for an instrument family (None: a mix or unknown)."""
    return FAMILY_LATENCY.get(family or "", LATENCY)


def attack_latency(signal: Signal, peaks: np.ndarray) -> float | None:
    """Seconds from each clean attack's rise to the onset envelope's peak at ``peaks`` (the median), or None
    when fewer than CLEAN_SHARE of the sampled beats have a clean attack."""
    sr = signal.sample_rate
    pick = peaks[
        np.unique(np.linspace(0, len(peaks) - 1, min(len(peaks), _ATTACK_BEATS)).round().astype(int))
    ]
    lags = []
    for t in pick:
        a = round((t - _ATTACK_BEFORE - CLEAN_BEFORE) * sr)
        b = round((t + _ATTACK_AFTER) * sr)
        if a < 0 or b > signal.length:
            continue
        level = np.abs(signal.segment(a, b))
        start = round(CLEAN_BEFORE * sr)
        peak = float(level[start:].max())
        rise = start + int(np.argmax(level[start:] >= ATTACK_LEVEL * peak))
        quiet = level[max(rise - start, 0) : rise - round(CLEAN_GAP * sr)]
        if peak > 0 and len(quiet) and quiet.max() < ATTACK_LEVEL * peak:
            lags.append(t - (a + rise) / sr)
    if len(lags) < CLEAN_SHARE * len(pick):
        return None
    return float(np.median(lags))


def track(features: Features, bpm_hint: float | None, family: str | None = None) -> Beats:
    """Tempo and beats; the tempo is the median beat period's, the confidence the onset periodicity there
    (of the broadband onsets or of the bass notes', whichever is clearer). Beat times are note-on times: the
    measured :func:`attack_latency` of clean attacks is taken off, else the family's :func:`latency`."""
    import librosa

    env, sr = features.env, features.sr
    if env.max() <= 0:
        return Beats(None, 0.0, np.zeros(0))
    bass = features.bass
    salience = _salience(features.low, bass)
    frames = dbn.decode(activation(env, salience), sr / HOP, expected_tempo(env, sr, bpm_hint))
    frames = _trim(env, _extend(env, frames))
    if len(frames) < 3:
        return Beats(None, 0.0, np.zeros(0))
    frames = fix_start_phase(frames, env, features.chroma)
    peaks = librosa.frames_to_time(frames, sr=sr, hop_length=HOP)
    measured = attack_latency(features.signal, peaks)
    times = np.maximum(peaks - (latency(family) if measured is None else measured), 0.0)
    period = float(np.median(np.diff(times)))
    lag = period * sr / HOP
    confidence = max(periodicity(env, lag), min(1.0, BASS_CONFIDENCE_SCALE * periodicity(bass, lag)))
    offbeat = float(
        np.median(_peak_near(env, (frames[:-1] + frames[1:]) // 2))
        / max(float(np.median(_peak_near(env, frames))), 1e-9)
    )
    times = regularise(times, period)
    return Beats(60.0 / float(np.median(np.diff(times))), confidence, times, offbeat)


def expected_tempo(env: np.ndarray, sr: int, bpm_hint: float | None) -> float:
    """The tempo the beat network is centred on: librosa's global estimate, or with a hint the hint's
    metrical level (half, the hint, or double) nearest that estimate. The estimate alone is 3-17 % off on
    bench/conform.py's string pieces and Lindenbaum, while the level it names is right."""
    import librosa

    start = bpm_hint or 120.0
    tempogram = spectra.mean_tempogram(env, sr, HOP)
    estimate = float(librosa.feature.tempo(tg=tempogram, sr=sr, hop_length=HOP, start_bpm=start)[0])
    if bpm_hint is None or estimate <= 0:
        return estimate if estimate > 0 else start
    return bpm_hint * 2.0 ** float(np.clip(np.round(np.log2(estimate / bpm_hint)), -1, 1))


def activation(env: np.ndarray, salience: np.ndarray) -> np.ndarray:
    """A beat's likelihood per frame for :func:`dbn.decode`: all onsets plus half as much of what marks a
    beat rather than the off-beat (bass onsets and bass-note changes), each scaled by its 99th percentile.
    The bass term keeps a rag's loud off-beat chords off the beat (Maple Leaf Rag: beats within 70 ms
    0.44 -> 1.00) and Lindenbaum's beats on its bass (0.88 -> 0.98)."""
    n = min(len(env), len(salience))
    act = _unit_peak(env[:n]) + 0.5 * _unit_peak(salience[:n])
    return np.clip(act / max(float(act.max()), 1e-9), 0.0, 1.0)


def _unit_peak(x: np.ndarray) -> np.ndarray:
    peak = float(np.percentile(x, 99))
    return x / peak if peak > 0 else np.zeros_like(x)


def _salience(*envelopes: np.ndarray) -> np.ndarray:
    """What marks a beat rather than the off-beat: bass onsets and bass-note changes (not all onsets: a
    rag's off-beat chords and a melody's syncopations are louder than its bass), each scaled to mean 1."""
    n = min(len(e) for e in envelopes)
    return np.sum([_unit_mean(e[:n]) for e in envelopes], axis=0)


def fix_start_phase(frames: np.ndarray, env: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """Move every beat to the midway point when the grid the tracker settled on, run back to the start, puts
    the first strong onset midway between beats, and harmony does not change more on the beats than midway.

    Music starts on a beat; a tracker that begins there and drifts half a beat off over the first bars (it
    followed a melody's syncopation or a hornpipe's dotted rhythm, with no bass to call it back) shows as
    that first onset half a period off the steady line through the later beats. Chord changes are the check: where
    they fall on the tracked beats (a piece with a pickup, an upbeat start) the beats stand.
    """
    fit = frames[_START_SKIP : _START_SKIP + _START_BEATS]
    if len(fit) < _START_BEATS // 2:
        return frames
    index = np.arange(_START_SKIP, _START_SKIP + len(fit))
    slope, intercept = np.polyfit(index, fit, 1)
    loud = np.flatnonzero(env >= _START_ONSET * np.percentile(env, 99))
    wander = np.max(np.abs(fit - (slope * index + intercept)))
    if len(loud) == 0 or slope <= 0 or wander > _START_STEADY * slope:
        return frames
    beat = (loud[0] - intercept) / slope
    if abs(beat - round(beat)) < _START_OFF or _harmony_lead(chroma, frames) > _HARMONY_MARGIN:
        return frames
    # The first bars' beats are on their way off: they are laid anew on the shifted line from the first onset.
    early = intercept + slope * (np.arange(round(beat - 0.5), _START_SKIP) + 0.5)
    step = np.diff(frames)
    mids = (frames + np.append(step, step[-1]) // 2)[_START_SKIP:]
    out = np.concatenate((np.round(early).astype(frames.dtype), mids))
    return np.unique(out[(out >= 0) & (out < len(env))])


def _harmony_lead(chroma: np.ndarray, frames: np.ndarray) -> float:
    """Log ratio of the mean chroma change from beat to beat with the spans cut at the beats, to that with
    them cut midway: above 0 when chords change on the beats."""
    n = chroma.shape[1]
    step = np.diff(frames)
    mids = frames + np.append(step, step[-1]) // 2
    on, off = (np.concatenate(([0], f[f < n], [n])) for f in (frames, mids))
    return float(np.log((_span_change(chroma, on) + 1e-9) / (_span_change(chroma, off) + 1e-9)))


def _span_change(chroma: np.ndarray, bounds: np.ndarray) -> float:
    means = [chroma[:, a : max(b, a + 1)].mean(axis=1) for a, b in zip(bounds[:-1], bounds[1:])]
    return float(np.mean([_cosine_distance(a, b) for a, b in zip(means[:-1], means[1:])]))


def _extend(env: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Add the beats a period before the first and after the last while an onset is there (within 2 frames,
    of a fifth of the typical beat's strength, as :func:`_trim` keeps): the network scores a beat over its
    whole beat region, which at the signal's edges runs into silence or past the end (a stem conformed to the
    grid has its first beat at 0 s)."""
    if len(frames) < 2:
        return frames
    floor = _TRIM * float(np.median(_peak_near(env, frames)))
    beats = list(frames)
    for end, step in ((0, beats[0] - beats[1]), (-1, beats[-1] - beats[-2])):
        while step and 0 <= (guess := beats[end] + step) < len(env):
            near = env[max(0, guess - 2) : guess + 3]
            if near.max(initial=0.0) < floor:
                break
            beats.insert(len(beats) if end else 0, max(0, guess - 2) + int(np.argmax(near)))
    return np.array(beats, dtype=frames.dtype)


def _trim(env: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Drop the leading and trailing beats the tracker laid over silence (no onset near them).

    librosa's own ``trim`` also drops soft first beats of music that starts right at 0 s, as a stem
    conformed to the grid does, so this keeps every beat with an onset of a fifth of the typical one.
    """
    if len(frames) == 0:
        return frames
    strength = _peak_near(env, frames)
    heard = np.flatnonzero(strength >= _TRIM * np.median(strength))
    return frames[heard[0] : heard[-1] + 1] if len(heard) else frames[:0]


def periodicity(env: np.ndarray, lag: float) -> float:
    """Normalised autocorrelation at the beat lag of the onset envelope less its running mean over a beat
    (0: no pulse, 1: a click track). Removing the running mean keeps a slowly swelling pad from correlating
    with itself at every short lag."""
    from scipy.ndimage import uniform_filter1d

    if lag < 2 or lag >= len(env) / 2:
        return 0.0
    x = env - uniform_filter1d(env, size=max(3, int(round(lag))), mode="nearest")
    energy = float(np.dot(x, x))
    if energy <= 0:
        return 0.0
    shifts = range(max(1, int(lag) - 1), int(lag) + 3)
    best = max(float(np.dot(x[:-s], x[s:])) / energy * len(x) / (len(x) - s) for s in shifts)
    return float(np.clip(best, 0.0, 1.0))


def regularise(times: np.ndarray, period: float) -> np.ndarray:
    """Drop beats off the line through their neighbours, and move each to that line (sub-frame times)."""
    times = np.asarray(times, dtype=np.float64)
    index = np.concatenate(([0], np.cumsum(np.maximum(1, np.round(np.diff(times) / period))))).astype(int)
    fitted = np.array([_local_line(index, times, i) for i in range(len(times))])
    keep = np.abs(fitted - times) <= _OUTLIER * period
    if keep.sum() < 3:
        return times
    index, times = index[keep], times[keep]
    return np.array([_local_line(index, times, i) for i in range(len(times))])


def _local_line(index: np.ndarray, times: np.ndarray, i: int) -> float:
    """Value at ``index[i]`` of the least-median-ish line through the beats within a few beats of it."""
    near = np.abs(index - index[i]) <= _SMOOTH_BEATS
    k, t = index[near].astype(np.float64), times[near]
    if len(k) < 3:
        return float(times[i])
    slope, intercept = np.polyfit(k, t, 1)
    residual = np.abs(t - (slope * k + intercept))
    inliers = residual <= max(np.median(residual) * 3, 1e-3)
    if inliers.sum() >= 3:
        slope, intercept = np.polyfit(k[inliers], t[inliers], 1)
    return float(slope * index[i] + intercept)


def to_level(times: np.ndarray, bpm: float, target: float) -> tuple[np.ndarray, str | None]:
    """Beats at the metrical level nearest ``target``: halved (every other beat) or doubled (midpoints)."""
    ratio = target / bpm
    if ratio > 2**0.5 and len(times) >= 2:
        mids = (times[:-1] + times[1:]) / 2
        out = np.sort(np.concatenate((times, mids)))
        return out, f"the beat found is {bpm:.1f} bpm, about half of {target:g}: its half beats are used"
    if ratio < 2**-0.5 and len(times) >= 4:
        return times[
            ::2
        ], f"the beat found is {bpm:.1f} bpm, about double {target:g}: every other beat is used"
    return times, None


def downbeat_phase(features: Features, times: np.ndarray, beats_per_bar: int) -> tuple[int, float]:
    """(index of the first downbeat among ``times``, confidence 0..1)."""
    if len(times) < 2 * beats_per_bar or beats_per_bar < 2:
        return 0, 0.0
    strength = _beat_features(features, times)
    phases = np.arange(len(times)) % beats_per_bar
    means = np.array([strength[phases == p].mean() for p in range(beats_per_bar)])
    order = np.argsort(means)[::-1]
    # How many standard errors the best phase leads the runner-up by, mapped to 0..1 (2 -> 0.2, 8 -> 0.8).
    spread = np.sqrt(np.mean([strength[phases == p].var() for p in range(beats_per_bar)]) + 1e-12)
    lead = (means[order[0]] - means[order[1]]) / (spread / np.sqrt(len(times) // beats_per_bar))
    return int(order[0]), float(lead**2 / (lead**2 + 16.0))


def _beat_features(features: Features, times: np.ndarray) -> np.ndarray:
    """Per beat: bass onset strength plus chroma change across it, each scaled to mean 1."""
    import librosa

    frames = np.clip(librosa.time_to_frames(times, sr=features.sr, hop_length=HOP), 0, None)
    chroma = features.chroma
    bounds = np.concatenate(([0], frames, [chroma.shape[1]]))
    means = [chroma[:, a : max(b, a + 1)].mean(axis=1) for a, b in zip(bounds[:-1], bounds[1:])]
    change = np.array([_cosine_distance(means[i], means[i + 1]) for i in range(len(frames))])
    bass = _peak_near(features.low, frames)
    return _unit_mean(bass) + _unit_mean(change) + 0.5 * _unit_mean(_peak_near(features.env, frames))


def _peak_near(env: np.ndarray, frames: np.ndarray, width: int = 2) -> np.ndarray:
    return np.array([env[max(0, f - width) : f + width + 1].max(initial=0.0) for f in frames])


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return 0.0 if norm <= 0 else 1.0 - float(np.dot(a, b)) / norm


def _unit_mean(x: np.ndarray) -> np.ndarray:
    mean = float(np.mean(x))
    return x / mean if mean > 0 else np.zeros_like(x)
