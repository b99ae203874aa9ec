"""Tuning (cents from A440) and key (Krumhansl-Schmuckler, Albrecht-Shanahan profiles), and the key arithmetic retuning needs.

Tuning is the weighted circular mean of every spectral peak's offset from the nearest equal-tempered
semitone (peaks from ``librosa.piptrack``): a circular mean does not split a tuning near +-50 cents in two as
a histogram does, and its resultant length (0: offsets spread evenly, 1: all the same) is the confidence.
The key is the Krumhansl-Schmuckler correlation (Krumhansl 1990, "Cognitive Foundations of Musical Pitch")
of the tuning-corrected CQT chroma with the 24 rotated Albrecht-Shanahan key profiles.
"""

from __future__ import annotations

import re

import numpy as np

from stems.conform import spectra
from stems.errors import UserInputError
from stems.streaming import Signal

# Albrecht and Shanahan (2013, "The Use of Large Corpora to Train a New Type of Key-Finding Algorithm",
# Music Perception 31(1)) pitch-class distributions, tonic first: on the detuned set of bench/conform.py
# they name 18 of 20 keys right where the Krumhansl-Kessler probe-tone ratings (1982) named 13, which read
# K. 545 and two other major pieces as their dominant or a semitone off (the flat non-scale degrees weigh
# too much there). Adding bass-register chroma made every profile worse (11-15 of 20).
MAJOR_PROFILE = np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081])
MINOR_PROFILE = np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052])
# How a key is spelled when we name it: the spelling with the fewest accidentals in its signature.
MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# Semitones from each mode's tonic down to the tonic of the major scale with the same notes.
MODE_DEGREE = {
    "major": 0,
    "ionian": 0,
    "dorian": 2,
    "phrygian": 4,
    "lydian": 5,
    "mixolydian": 7,
    "minor": 9,
    "aeolian": 9,
    "locrian": 11,
}
_KEY_RE = re.compile(r"^\s*([A-Ga-g])([#b\u266f\u266d]?)\s+([A-Za-z]+)\s*$")
# Spectral peaks below this fraction of a frame's strongest peak are too weak to say anything about tuning.
_PEAK_FLOOR = 0.1
TUNING_N_FFT, TUNING_HOP = 4096, 1024  # 186 ms frames: fine frequency resolution for the peaks' offsets
KEY_HOP = 2048  # the key is one sum over the piece: coarse frames do


def parse_key(text: str) -> tuple[int, str]:
    """("A minor") -> (9, "minor"): the tonic's pitch class and the mode; UserInputError for anything else."""
    match = _KEY_RE.match(text)
    mode = match.group(3).lower() if match else ""
    if match is None or mode not in MODE_DEGREE:
        raise UserInputError(
            f"key {text!r} is not a key; write a tonic A-G with optional # or b, then a mode "
            f'({", ".join(MODE_DEGREE)}), e.g. "A minor", "C# major", "Bb dorian"'
        )
    letter, accidental = match.group(1).upper(), match.group(2)
    shift = {"": 0, "#": 1, "\u266f": 1}.get(accidental, -1)
    return (_LETTERS[letter] + shift) % 12, mode


def key_name(tonic: int, mode: str) -> str:
    names = MINOR_NAMES if mode == "minor" else MAJOR_NAMES
    return f"{names[tonic % 12]} {mode}"


def parent_pitch_class(key: str) -> int:
    """Tonic of the major scale with the same notes: "A minor" -> 0 (C), "D dorian" -> 0."""
    tonic, mode = parse_key(key)
    return (tonic - MODE_DEGREE[mode]) % 12


def semitones_toward(key: str, target: str) -> int:
    """The smallest transposition (-6..5 semitones) that gives ``key`` the notes of ``target``.

    Keys with the same notes (A minor and C major) need none: a relative key is not a wrong key.
    """
    return (parent_pitch_class(target) - parent_pitch_class(key) + 6) % 12 - 6


def estimate_tuning(signal: Signal) -> tuple[float, float]:
    """(cents from A440 in -50..50, confidence 0..1) of a mono signal; the spectral peaks of each chunk of
    frames (:mod:`stems.conform.spectra`) add to one weighted resultant."""
    import librosa

    resultant, total = 0j, 0.0
    for spectrum in spectra.stft_chunks(signal, TUNING_N_FFT, TUNING_HOP):
        pitches, mags = librosa.piptrack(
            S=np.abs(spectrum), sr=signal.sample_rate, n_fft=TUNING_N_FFT, fmin=60.0, fmax=4000.0
        )
        keep = (pitches > 0) & (mags >= _PEAK_FLOOR * mags.max(axis=0, keepdims=True))
        offsets = 12.0 * np.log2(pitches[keep] / 440.0)  # semitones from A440; the fraction is the tuning
        weights = mags[keep].astype(np.float64)
        resultant += complex(np.sum(weights * np.exp(2j * np.pi * offsets)))
        total += float(np.sum(weights))
    if total <= 0:
        return 0.0, 0.0
    resultant /= total
    cents = 100.0 * float(np.angle(resultant)) / (2 * np.pi)
    return float(np.clip(cents, -50.0, 50.0)), float(np.clip(abs(resultant), 0.0, 1.0))


def key_scores(chroma: np.ndarray) -> np.ndarray:
    """Correlation of a 12-bin chroma (C first) with the 24 keys: rows major, minor; columns tonic C..B."""
    scores = np.zeros((2, 12))
    for row, profile in enumerate((MAJOR_PROFILE, MINOR_PROFILE)):
        for tonic in range(12):
            scores[row, tonic] = np.corrcoef(chroma, np.roll(profile, tonic))[0, 1]
    return np.nan_to_num(scores)


def estimate_key(signal: Signal, tuning_cents: float) -> tuple[str | None, float]:
    """(key name, confidence 0..1) of a mono signal; None when it has no pitch content to speak of."""
    import librosa

    def chroma(y: np.ndarray) -> np.ndarray:
        return np.asarray(
            librosa.feature.chroma_cqt(
                y=y, sr=signal.sample_rate, hop_length=KEY_HOP, tuning=tuning_cents / 100.0, norm=None
            )
        )

    if (
        signal.length < KEY_HOP
    ):  # less than one chroma frame: its CQT is mostly padding, and names a random key
        return None, 0.0
    total = spectra.cqt_frames(signal, KEY_HOP, chroma).sum(axis=1)
    if not np.isfinite(total).all() or total.max() <= 0 or np.ptp(total) < 1e-3 * total.max():
        return None, 0.0
    scores = key_scores(total)
    row, tonic = np.unravel_index(int(np.argmax(scores)), scores.shape)
    mode = "major" if row == 0 else "minor"
    best = float(scores[row, tonic])
    return key_name(int(tonic), mode), _key_confidence(scores, best, key_name(int(tonic), mode))


def _key_confidence(scores: np.ndarray, best: float, key: str) -> float:
    """The best correlation, scaled down when a key with other notes comes close (its relative key does not
    count: it has the same notes, and retuning moves both alike)."""
    parent = parent_pitch_class(key)
    rivals = [
        float(scores[r, t]) for r in range(2) for t in range(12) if (t - (0 if r == 0 else 9)) % 12 != parent
    ]
    margin = best - max(rivals)
    return float(np.clip(best, 0.0, 1.0) * np.clip(margin / 0.15, 0.0, 1.0))
