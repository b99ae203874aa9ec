"""Chord recognition (issue 23 point 6): triads of harmonic tones, smoothing, scoring, a chorale rendered.

The synthetic chords are sums of harmonic tones (partials falling off by 0.6 per harmonic, 4 s decay) with
the root in the bass, so the right label of every beat is known; the real-music test plays a Bach chorale
with FluidSynth as bench/chords.py does and scores against music21's chordified score.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from stems.audio import Audio
from stems.conform import BeatChord, PlannedChord, chord_adherence, recognize_chords
from stems.conform import chords as chordlib
from stems.score import parse_symbol
from tests.support.bench_scripts import load_bench

RATE = 22_050
BEAT = 0.5  # seconds: 120 bpm
# (root pitch class, quality), two beats each: every root once, major and minor, relative pairs (C / Am,
# F / Dm) and chords a fifth apart (C / G), which share two tones.
PROGRESSION = (
    (0, "maj"),
    (9, "min"),
    (5, "maj"),
    (2, "min"),
    (7, "maj"),
    (4, "min"),
    (10, "maj"),
    (11, "min"),
    (3, "maj"),
    (6, "min"),
    (8, "maj"),
    (1, "min"),
)


def tone(midi: int, seconds: float, amplitude: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    partials = sum(0.6 ** (k - 1) * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 9) if f0 * k < RATE / 2)
    return amplitude * np.asarray(partials) * np.exp(-t / 4.0)


def triad(root: int, quality: str, seconds: float) -> np.ndarray:
    """The root in the bass (C2..B2) and the triad in the middle (from C4)."""
    upper = {"maj": (0, 4, 7), "min": (0, 3, 7)}[quality]
    return tone(36 + root, seconds) + sum(tone(60 + root + i, seconds, 0.7) for i in upper)


def progression(chords: tuple[tuple[int, str], ...], beats_each: int = 2) -> tuple[Audio, np.ndarray]:
    y = np.concatenate([triad(r, q, beats_each * BEAT) for r, q in chords])
    audio = Audio((0.1 * y / np.abs(y).max())[None].astype(np.float32), RATE)
    return audio, np.arange(len(chords) * beats_each) * BEAT


def labels(chords: tuple[tuple[int, str], ...], beats_each: int = 2) -> list[str]:
    return [f"{chordlib.PITCH_NAMES[r]}:{q}" for r, q in chords for _ in range(beats_each)]


def test_triads_of_harmonic_tones_are_recognised_on_every_beat() -> None:
    audio, beats = progression(PROGRESSION)
    found = recognize_chords(audio, beats, tuning_cents=0.0)
    assert [c.label for c in found] == labels(PROGRESSION)
    assert [c.time for c in found] == pytest.approx(list(beats))
    assert found[-1].end == pytest.approx(beats[-1] + BEAT)  # the last beat lasts the median beat


def test_a_quarter_tone_sharp_recording_is_read_in_its_own_tuning() -> None:
    """Resampled 40 cents flat of A440 (a recording off concert pitch): the tuning estimate recentres the
    semitone bins, so the chords are still right."""
    audio, beats = progression(PROGRESSION[:6])
    flat = Audio(audio.samples, round(RATE * 2 ** (-40 / 1200)))
    found = recognize_chords(flat, beats / 2 ** (-40 / 1200))
    assert [c.label for c in found] == labels(PROGRESSION[:6])


def test_smoothing_keeps_a_held_chord_through_a_beat_that_leans_elsewhere() -> None:
    """Eight beats of C major whose fifth beat scores A minor a little higher (a passing A over C and E):
    the self-transition prior keeps C major; without it (uniform transitions) the path follows the noise."""
    scores = np.full((25, 8), 0.2)
    scores[0] = 0.8  # C:maj
    scores[12 + 9, 4] = 0.85  # A:min, beat 5
    scores[24] = -np.inf  # nothing is silent
    assert list(chordlib.decode(scores)) == [0] * 8
    uniform = pytest.MonkeyPatch()
    uniform.setattr(chordlib, "SELF_TRANSITION", 1 / 25)
    try:
        assert list(chordlib.decode(scores)) == [0] * 4 + [21] + [0] * 3
    finally:
        uniform.undo()


def test_noise_added_to_a_held_chord_does_not_move_it() -> None:
    """C major held for eight beats with white noise 10 dB under it: every beat stays C major."""
    audio, beats = progression(((0, "maj"),), beats_each=8)
    noise = np.random.default_rng(0).normal(size=audio.num_samples).astype(np.float32)
    noise *= np.sqrt(np.mean(audio.samples**2)) / np.sqrt(np.mean(noise**2)) * 10 ** (-10 / 20)
    noisy = Audio(audio.samples + noise[None], RATE)
    assert {c.label for c in recognize_chords(noisy, beats, tuning_cents=0.0)} == {"C:maj"}


def test_silence_is_no_chord_and_bad_beats_are_refused() -> None:
    """Dither at -80 dBFS under a C major chord's last two beats: those beats are no chord."""
    chord, _ = progression(((0, "maj"),), beats_each=2)
    dither = 1e-4 * np.random.default_rng(1).uniform(-1, 1, size=(1, 2 * RATE)).astype(np.float32)
    audio = Audio(np.concatenate([chord.samples, dither], axis=1), RATE)
    found = recognize_chords(audio, [0.0, 0.5, 1.0, 2.0], tuning_cents=0.0)
    assert [c.label for c in found] == ["C:maj", "C:maj", "N", "N"]
    assert (found[-1].root, found[-1].quality) == (None, None)
    silence = Audio(np.zeros((1, 4 * RATE), dtype=np.float32), RATE)
    assert recognize_chords(silence, []) == ()
    with pytest.raises(ValueError, match="strictly increasing"):
        recognize_chords(silence, [0.0, 1.0, 1.0])


def test_adherence_counts_beats_by_their_middle_and_leaves_out_other_chords() -> None:
    """Planned: C for 2 s, Am7 (min) 2 s, Bdim (other) 1 s; 12 beats of 0.5 s, the last two after the plan.
    Right: beats 0-2 (C), beats 4-5 (A minor); wrong: beat 3 (A minor under C), beats 6-7 (C under Am7).
    Left out: beats 8-9 (Bdim) and 10-11 (no plan). A late beat from 1.7 s to 2.4 s, A minor, is judged at
    its middle (2.05 s: Am7), so it is right."""
    planned = [
        PlannedChord(0.0, 2.0, 0, parse_symbol("C").quality),
        PlannedChord(2.0, 4.0, 9, parse_symbol("Am7").quality),
        PlannedChord(4.0, 5.0, 11, parse_symbol("Bdim").quality),
    ]
    said = [(0, "maj")] * 3 + [(9, "min")] * 3 + [(0, "maj")] * 2 + [(11, "min")] * 2 + [(0, "maj")] * 2
    beats = [BeatChord(0.5 * i, 0.5 * (i + 1), r, q) for i, (r, q) in enumerate(said)]  # type: ignore[arg-type]
    result = chord_adherence([*beats, BeatChord(1.7, 2.4, 9, "min")], planned)
    assert (result.right, result.counted, result.excluded) == (6, 9, 4)
    assert result.fraction == 6 / 9
    assert chord_adherence([], planned).fraction is None


def test_a_progression_scored_against_another_plan_is_a_negative_control() -> None:
    """The recognised progression scores 1.0 against its own plan and 0 against the same plan shifted by
    one chord (each beat then planned as the chord before it)."""
    audio, beats = progression(PROGRESSION)
    found = recognize_chords(audio, beats, tuning_cents=0.0)
    step = 2 * BEAT
    own = [PlannedChord(i * step, (i + 1) * step, r, q) for i, (r, q) in enumerate(PROGRESSION)]
    late = [PlannedChord((i + 1) * step, (i + 2) * step, r, q) for i, (r, q) in enumerate(PROGRESSION)]
    assert chord_adherence(found, own).fraction == 1.0
    assert chord_adherence(found, late).fraction == 0.0


def test_the_spectrum_in_chunks_equals_the_spectrum_in_one_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    """CHUNK_S bounds memory on long stems; the chunks' frames join into those of one CQT (within 1 % of
    the peak: the margins hold the filters and resamplers)."""
    audio, _ = progression(PROGRESSION)  # 12 s
    y = audio.samples[0]
    whole = chordlib.log_spectrum(y, 0.0)
    monkeypatch.setattr(chordlib, "CHUNK_S", 5.0)
    chunked = chordlib.log_spectrum(y, 0.0)
    assert chunked.shape == whole.shape
    assert np.abs(chunked - whole).max() <= 0.01 * whole.max()


SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
# bwv140.7 (of bench/chords.py's tuning split), piano at 91 bpm, its first 11 bars (44 beats, 39 of them a
# major or minor triad), on the score's beats: 35 of 39 right (0.897) measured. The floor leaves 0.10
# (four beats) for another FluidSynth, soundfont or librosa build.
CHORALE_FLOOR = 0.80


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("fluidsynth") is None or not SOUNDFONT.is_file(), reason="needs fluidsynth")
def test_a_bach_chorale_played_by_fluidsynth_is_recognised_on_most_beats() -> None:
    bench = load_bench("chords")
    case = bench.make_case(bench.chorale("bach/bwv140.7", 0), 30.0, SOUNDFONT)
    assert (len(case.beats) - 1, len(case.reference)) == (44, 39)  # beats; those of a maj/min slice
    found = recognize_chords(case.audio, case.beats[:-1])
    result = chord_adherence(found, case.reference)
    assert result.fraction is not None and result.fraction >= CHORALE_FLOOR, result
