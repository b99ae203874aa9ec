"""Chords per beat (:func:`recognize_chords`) and how often they are the planned ones (:func:`chord_adherence`).

Approximate note transcription, then templates and smoothing (Mauch and Dixon 2010, "Approximate note
transcription for the improved identification of difficult chords", ISMIR; the method of Chordino/NNLS
Chroma): a constant-Q spectrum of three bins per semitone (tuned by librosa's estimate), whitened against
its running mean and spread over an octave, is averaged over each beat and unmixed by non-negative least
squares into 84 notes (A0..G#7) whose partials fall off by ``HARMONIC_DECAY``. The notes give a treble and
a bass chroma per beat; each of the 24 major and minor triads scores the treble chroma's cosine with its
template plus the bass on its tones, and a Viterbi path with a self-transition prior smooths the labels.
The constants were chosen on bench/chords.py's tuning split only (10 Bach chorales, FluidR3_GM).
A beat with too little energy is "N" (no chord). Memory stays bounded: the CQT runs in chunks of
``CHUNK_S`` seconds and keeps only 252 magnitudes per ``HOP``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from stems.audio import Audio, check_finite, convert_audio
from stems.conform.analysis import ANALYSIS_RATE, SILENCE_DBFS

Quality = Literal["maj", "min"]
QUALITIES: tuple[Quality, ...] = ("maj", "min")
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
NO_CHORD = "N"  # the MIREX / Harte label for no chord
TRIAD_INTERVALS: dict[Quality, tuple[int, int, int]] = {"maj": (0, 4, 7), "min": (0, 3, 7)}

RATE = ANALYSIS_RATE  # librosa's default rate, as the beat analysis uses: one decode serves both
HOP = 2048  # 93 ms: several frames per beat up to 200 bpm; a multiple of 2**6 for a 7-octave CQT
CHUNK_S = 60.0  # seconds of audio per CQT call (plus MARGIN_S each side): bounds memory on long stems
TUNING_S = 30.0  # seconds the tuning is estimated on (librosa keeps their whole spectrogram: ~60 MB)
MARGIN_S = 3.0  # longer than half the A0 filter (1.9 s at 36 bins per octave)
LOWEST_NOTE = 21  # A0, MIDI
NOTES = 84  # A0..G#7
BINS_PER_SEMITONE = 3
# How the constants below were chosen, on bench/chords.py's tuning split only (fraction of the 380 maj/min
# beats right on the score's beats): first guesses (decay 0.6, root-only bass 0.5 centred on E2, self 0.3)
# 0.72; no bass term 0.81, as chorales put a third or fifth in the bass on many beats; decay 0.8 and self
# 0.1 0.85; the bass on the root and (half as much) on the third and fifth 0.88; bass centred on G#2 0.91.
HARMONIC_DECAY = 0.8  # partial k has amplitude s**(k-1) (Mauch and Dixon try 0.6-0.9)
HARMONICS = 20
WHITEN_OCTAVES = 1.0  # running mean and spread of the log spectrum over this span (Mauch and Dixon)
# Notes weigh into the bass and treble chroma by Gaussians over MIDI pitch (Chordino's bass and treble
# profiles, smooth): bass around G#2, treble around D4.
BASS_CENTRE, BASS_WIDTH = 44, 10.0
TREBLE_CENTRE, TREBLE_WIDTH = 62, 15.0
# A triad scores its template's cosine with the treble chroma plus these fractions of the bass chroma (peak
# 1) on its root and on its third and fifth.
BASS_ROOT_WEIGHT = 0.25
BASS_TONE_WEIGHT = 0.12
# Viterbi prior of a chord lasting into the next beat (25 states, so 0.04 is no prior): chorales change
# chord almost every beat (0.3 did worse than 0.1), a held chord keeps through a beat that leans elsewhere.
SELF_TRANSITION = 0.1
SHARPNESS = 10.0  # scores -> likelihoods: exp(SHARPNESS * score) (3 and 30 did worse)
# A beat whose RMS is below this is no chord (as the conform analysis calls a whole signal below -60 dBFS
# silent).
NO_CHORD_DBFS = SILENCE_DBFS


@dataclass(frozen=True)
class BeatChord:
    """The chord recognised from ``time`` to ``end`` (seconds): a root pitch class (0 = C) and a quality,
    or neither (no chord)."""

    time: float
    end: float
    root: int | None
    quality: Quality | None

    @property
    def label(self) -> str:
        """``"C:maj"``, ``"A:min"`` or ``"N"`` (Harte et al. 2005 syntax, as mir_eval reads it)."""
        if self.root is None or self.quality is None:
            return NO_CHORD
        return f"{PITCH_NAMES[self.root]}:{self.quality}"


class Planned(Protocol):
    """A planned chord: seconds ``[start, end)``, root pitch class (0 = C) and maj/min class ("maj", "min";
    anything else is not scored). ``stems.score``'s ``TimedChord`` is one: its quality reduces sixths,
    sevenths and ninths to their triad (``G7`` maj, ``Am7`` min) and calls dim, aug, m7b5, sus "other"."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def root_pc(self) -> int: ...
    @property
    def quality(self) -> str: ...


@dataclass(frozen=True)
class PlannedChord:
    """A :class:`Planned` chord given by its numbers (the benchmark's reference, tests)."""

    start: float
    end: float
    root_pc: int
    quality: str


@dataclass(frozen=True)
class Adherence:
    """How many recognised beats fall on their planned major or minor triad.

    ``counted``: beats whose planned chord is major or minor; ``excluded``: beats under no planned chord
    or under another (diminished, augmented, suspended, power chords)."""

    right: int
    counted: int
    excluded: int

    @property
    def fraction(self) -> float | None:
        return self.right / self.counted if self.counted else None


def chord_adherence(recognised: Sequence[BeatChord], planned: Sequence[Planned]) -> Adherence:
    """Count each recognised beat against the planned chord sounding at its middle."""
    spans = sorted(planned, key=lambda p: p.start)
    starts = [p.start for p in spans]
    right = counted = 0
    for beat in recognised:
        middle = 0.5 * (beat.time + beat.end)
        index = bisect.bisect_right(starts, middle) - 1
        plan = spans[index] if index >= 0 and middle < spans[index].end else None
        if plan is None or plan.quality not in QUALITIES:
            continue
        counted += 1
        right += int(beat.root == plan.root_pc % 12 and beat.quality == plan.quality)
    return Adherence(right, counted, len(recognised) - counted)


def recognize_chords(
    audio: Audio, beats: Sequence[float] | np.ndarray, tuning_cents: float | None = None
) -> tuple[BeatChord, ...]:
    """One chord per beat of ``beats`` (seconds, increasing; the conform analysis's ``Analysis.beats``):
    the last beat lasts the median beat, and music before the first beat is not labelled. ``tuning_cents``
    (the analysis's ``tuning_cents``; None: estimated here) centres the spectrum's semitones."""
    check_finite(audio, "chord recognition input")
    return recognize_mono(convert_audio(audio, RATE, 1).samples[0], beats, tuning_cents)


class Samples(Protocol):
    """Mono samples at RATE that can be sliced: an array, or a file read a slice at a time
    (``stems.conform.files.chords_file``), so a long file is never held whole."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice) -> np.ndarray: ...


def recognize_mono(
    y: Samples, beats: Sequence[float] | np.ndarray, tuning_cents: float | None = None
) -> tuple[BeatChord, ...]:
    """:func:`recognize_chords` of mono samples at RATE."""
    bounds = beat_bounds(beats, len(y) / RATE)
    if bounds is None:
        return ()
    spectra = beat_spectra(y, bounds, tuning_cents)
    path = decode(chord_scores(spectra, beat_dbfs(y, bounds) < NO_CHORD_DBFS))
    chords = [_chord(state) for state in path]
    return tuple(
        BeatChord(float(a), float(b), *chord) for a, b, chord in zip(bounds[:-1], bounds[1:], chords)
    )


def beat_bounds(beats: Sequence[float] | np.ndarray, duration: float) -> np.ndarray | None:
    """Each beat's start and the last one's end (it lasts the median beat, within the audio's ``duration``);
    None without beats."""
    times = np.asarray(beats, dtype=np.float64)
    if len(times) == 0:
        return None
    if np.any(np.diff(times) <= 0):
        raise ValueError("beat times must be strictly increasing")
    last = float(np.median(np.diff(times))) if len(times) > 1 else duration - times[0]
    return np.append(times, min(times[-1] + max(last, 1e-3), max(duration, times[-1] + 1e-3)))


def beat_pitch_classes(
    audio: Audio, beats: Sequence[float] | np.ndarray, tuning_cents: float | None = None
) -> np.ndarray:
    """(12, beats): the note salience of each beat of ``beats`` (as :func:`recognize_chords` reads it) folded to
    pitch classes, every octave alike; a beat under NO_CHORD_DBFS is all zeros."""
    check_finite(audio, "pitch class input")
    y = convert_audio(audio, RATE, 1).samples[0]
    bounds = beat_bounds(beats, len(y) / RATE)
    if bounds is None:
        return np.zeros((12, 0))
    salience = notes(beat_spectra(y, bounds, tuning_cents))
    folded = chroma(salience, 0.0, np.inf)
    folded[:, beat_dbfs(y, bounds) < NO_CHORD_DBFS] = 0.0
    return folded


def _chord(state: int) -> tuple[int | None, Quality | None]:
    if state == 2 * 12:
        return None, None
    return state % 12, QUALITIES[state // 12]


def _chunks(n: int) -> Iterator[tuple[int, int, int, int]]:
    """(first sample, end sample, frames to skip, frames to keep) of each CHUNK_S of ``n`` samples with
    MARGIN_S around it, HOP-aligned, so the kept frames join into those of one CQT of the whole."""
    step = int(CHUNK_S * RATE) // HOP * HOP
    margin = int(MARGIN_S * RATE) // HOP * HOP
    for start in range(0, max(n, 1), step):
        first = max(0, start - margin)
        yield first, min(n, start + step + margin), (start - first) // HOP, -(-min(step, n - start) // HOP)


def log_spectrum(y: Samples, tuning_cents: float | None = None) -> np.ndarray:
    """Constant-Q magnitudes, three bins per semitone from A0 (centre bin of each semitone tuned), shaped
    (NOTES * 3, frames at HOP); computed a chunk at a time."""
    import librosa

    # Semitones off A440 (estimated on the first TUNING_S when not given); bin 3n + 1 is note n's centre.
    if tuning_cents is None:
        tuning = float(librosa.estimate_tuning(y=y[: int(TUNING_S * RATE)], sr=RATE))
    else:
        tuning = tuning_cents / 100.0
    fmin = librosa.midi_to_hz(LOWEST_NOTE) * 2.0 ** (tuning / 12 - 1 / (12 * BINS_PER_SEMITONE))
    frames = []
    for first, end, skip, keep in _chunks(len(y)):
        cqt = librosa.cqt(
            y[first:end],
            sr=RATE,
            hop_length=HOP,
            fmin=fmin,
            n_bins=NOTES * BINS_PER_SEMITONE,
            bins_per_octave=12 * BINS_PER_SEMITONE,
            tuning=0.0,
        )
        frames.append(np.abs(cqt[:, skip : skip + keep]).astype(np.float32))
    return np.concatenate(frames, axis=1)


def beat_spectra(y: Samples, bounds: np.ndarray, tuning_cents: float | None = None) -> np.ndarray:
    """The log spectrum averaged over each beat (bins, beats); a beat shorter than a hop takes its frame."""
    spectrum = log_spectrum(y, tuning_cents)
    edges = np.clip(np.round(bounds * RATE / HOP).astype(int), 0, spectrum.shape[1] - 1)
    out = np.zeros((spectrum.shape[0], len(bounds) - 1), dtype=np.float32)
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        out[:, i] = spectrum[:, a : max(b, a + 1)].mean(axis=1)
    return out


def _whiten(spectra: np.ndarray) -> np.ndarray:
    """Mauch and Dixon's standardisation: the spectrum less its running mean over an octave, over its
    running standard deviation, floored at 0 (partials stand out of the noise and the spectral tilt)."""
    from scipy.ndimage import uniform_filter1d

    size = int(WHITEN_OCTAVES * 12 * BINS_PER_SEMITONE) | 1
    mean = uniform_filter1d(spectra, size, axis=0, mode="nearest")
    spread = np.sqrt(np.maximum(uniform_filter1d(spectra**2, size, axis=0, mode="nearest") - mean**2, 0))
    return np.maximum(spectra - mean, 0.0) / np.maximum(spread, 1e-9)


def note_dictionary() -> np.ndarray:
    """(bins, NOTES): each note's partials at their log-frequency bins, amplitude HARMONIC_DECAY**(k-1),
    unit norm."""
    bins = NOTES * BINS_PER_SEMITONE
    out = np.zeros((bins, NOTES))
    for note in range(NOTES):
        for k in range(1, HARMONICS + 1):
            at = BINS_PER_SEMITONE * (note + 12 * np.log2(k)) + 1
            low = int(np.floor(at))
            for b, w in ((low, 1 - (at - low)), (low + 1, at - low)):
                if b < bins:
                    out[b, note] += w * HARMONIC_DECAY ** (k - 1)
    return out / np.linalg.norm(out, axis=0)


def notes(spectra: np.ndarray) -> np.ndarray:
    """(NOTES, beats) note salience by non-negative least squares against :func:`note_dictionary`."""
    from scipy.optimize import nnls

    dictionary = note_dictionary()
    white = _whiten(spectra)
    return np.stack([nnls(dictionary, column)[0] for column in white.T], axis=1)


def chroma(salience: np.ndarray, centre: float, width: float) -> np.ndarray:
    """(12, beats): note salience weighted by a Gaussian over MIDI pitch around ``centre``, folded to pitch
    classes."""
    midi = LOWEST_NOTE + np.arange(NOTES)
    weights = np.exp(-0.5 * ((midi - centre) / width) ** 2)
    out = np.zeros((12, salience.shape[1]))
    np.add.at(out, midi % 12, salience * weights[:, None])
    return out


def templates() -> np.ndarray:
    """(24, 12): binary triads, the 12 major then the 12 minor, with 1 on the root, third and fifth."""
    out = np.zeros((24, 12))
    for q, quality in enumerate(QUALITIES):
        for root in range(12):
            out[12 * q + root, [(root + i) % 12 for i in TRIAD_INTERVALS[quality]]] = 1.0
    return out


def beat_dbfs(y: Samples, bounds: np.ndarray) -> np.ndarray:
    """RMS level of each beat in dB full scale (-inf for digital silence)."""
    edges = np.clip(np.round(bounds * RATE).astype(int), 0, len(y))
    power = [np.mean(np.square(y[a:b], dtype=np.float64)) if b > a else 0.0 for a, b in zip(edges, edges[1:])]
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.asarray(power))


def chord_scores(spectra: np.ndarray, silent: np.ndarray) -> np.ndarray:
    """(25, beats) scores: the 24 triads, then no chord (the only state of a ``silent`` beat)."""
    salience = notes(spectra)
    treble = chroma(salience, TREBLE_CENTRE, TREBLE_WIDTH)
    bass = chroma(salience, BASS_CENTRE, BASS_WIDTH)
    treble = treble / np.maximum(np.linalg.norm(treble, axis=0), 1e-12)
    bass = bass / np.maximum(bass.max(axis=0), 1e-12)
    triads = templates()
    roots = np.tile(np.eye(12), (2, 1))
    scores = (
        triads @ treble / np.sqrt(3.0)
        + BASS_ROOT_WEIGHT * (roots @ bass)
        + BASS_TONE_WEIGHT * ((triads - roots) @ bass)
    )
    scores[:, silent] = -np.inf
    return np.vstack([scores, np.where(silent, 0.0, -np.inf)])


def decode(scores: np.ndarray) -> np.ndarray:
    """Viterbi path through ``scores`` (states, beats) with a SELF_TRANSITION prior (librosa)."""
    import librosa

    finite = np.where(np.isfinite(scores), scores, -1e3)
    likelihood = np.exp(SHARPNESS * (finite - finite.max(axis=0)))
    likelihood /= likelihood.sum(axis=0)
    transition = librosa.sequence.transition_loop(scores.shape[0], SELF_TRANSITION)
    return np.asarray(librosa.sequence.viterbi(likelihood, transition))
