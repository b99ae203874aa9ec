"""Melody from a full mix: how often MusicGen-melody's chroma argmax is the melody's pitch class.

Mixtures come from the transcription set's generators (``bench/eval_transcription.py``): per seed, one tempo,
a monophonic melody (lead, woodwind, vocals or brass GM programs), a bass line, a chord part (keys, guitar,
strings or pad) and a drum pattern, each rendered by fluidsynth and summed at the level it renders at. The
melody's notes are known, so each chroma frame (``stems.musicgen.chroma.melody_chroma``: hop 4096 at 32 kHz, frame
``i`` centred at ``i * 0.128`` s) where a melody note sounds has a true pitch class. Accuracy is the share of
those frames whose one-hot chroma is that pitch class, for:

* ``full_mix``: the mixture as a user would pass it as ``melody:``;
* ``oracle_vocals_other``: melody + chords, the mixture without bass and drums, which is what a perfect
  htdemucs split into ``vocals + other`` returns (audiocraft's ``ChromaStemConditioner``);
* ``melody_only``: the melody alone (the ceiling of the chroma itself);
* ``cheap_split``: a stand-in without weights: librosa's harmonic/percussive split keeps the harmonic part,
  then a 4th-order 150 Hz Butterworth high-pass removes most of the bass;
* ``debug_demucs_vocals_other``: the production path (``stems.separation.separator.separate_sum``) with the tiny random
  ``debug`` Demucs. Its weights are random, so the figure only shows the path runs, not what htdemucs does.

Bass and drums are mixed at their rendered level (0 dB) and 6 dB louder, as in mixes where the kick and the
bass lead (``--rhythm-gains-db``).

Measured (16 mixtures of 20 s, seeds 0-15; ``.venv/bin/python bench/melody_stems.py``):

=========================  ============  =============
condition                  rhythm 0 dB   rhythm +6 dB
=========================  ============  =============
full_mix                   0.510         0.343
oracle_vocals_other        0.551         0.551
melody_only                0.737         0.737
cheap_split                0.536         0.419
debug_demucs_vocals_other  0.025 (4)     -
=========================  ============  =============

The oracle beats the full mix on 16 of 16 mixtures at 0 dB and 13 of 16 at +6 dB: dropping bass and drums
helps by 4 points when they are quieter than the melody (as rendered, bass and drums sit 3 and 8 dB under
it) and by 21 when they lead. What is
left to the ceiling is the chord part, which ``other`` keeps. Hence the default of ``melody_stems`` (null):
every source but drums and bass of the arrangement's ``separation_model`` for trained MusicGen models, as
audiocraft trains and runs MusicGen-melody; debug and ``random:`` models use the file as it is (they learnt
no chroma, and offline runs need no Demucs weights). Real htdemucs weights were not available where this was
measured, so how close htdemucs comes to the oracle is not measured here; the cheap stand-in gets 0.536 / 0.419.

Run: ``.venv/bin/python bench/melody_stems.py [--quick] [--seeds 0 1 ...] [--seconds 20]`` (prints JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from eval_transcription import (  # noqa: E402  (a sibling script, not a package)
    FAMILY_SHAPE,
    RENDER_PROGRAMS,
    _chords,
    _drum_notes,
    _line,
    render,
)

from stems.audio import Audio, convert_audio  # noqa: E402
from stems.musicgen.chroma import CHROMA_SAMPLE_RATE, HOP, melody_chroma  # noqa: E402
from stems.transcription.midi import Note  # noqa: E402

MELODY_FAMILIES = ("lead", "woodwind", "vocals", "brass")
CHORD_FAMILIES = ("keys", "guitar", "strings", "pad")
HIGHPASS_HZ = 150.0  # above a bass line's fundamentals (E1-E3 sit at 41-165 Hz), under most melodies
SEPARATION_MODEL = "debug"
CONDITIONS = ("full_mix", "oracle_vocals_other", "melody_only", "cheap_split", "debug_demucs_vocals_other")


@dataclass(frozen=True)
class Mixture:
    seed: int
    bpm: float
    melody_family: str
    chord_family: str
    melody_notes: tuple[Note, ...]
    parts: dict[str, Audio]  # melody, chords, bass, drums at one rate, equal length


def _program(family: str, seed: int) -> int:
    programs = RENDER_PROGRAMS[family]
    return programs[seed % len(programs)]


def make_mixture(seed: int, seconds: float) -> Mixture:
    """One seeded song: a melody over chords, bass and drums at one tempo."""
    rng = np.random.default_rng(10_000 + seed)
    bpm = float(rng.integers(80, 140))
    beat = 60.0 / bpm
    melody_family, chord_family = MELODY_FAMILIES[seed % 4], CHORD_FAMILIES[(seed // 4) % 4]
    lo, hi, _ = FAMILY_SHAPE[melody_family]
    scores = {
        "melody": (_line(rng, lo, hi, beat, seconds), _program(melody_family, seed), False),
        "chords": (
            _chords(rng, *FAMILY_SHAPE[chord_family][:2], beat, seconds),
            _program(chord_family, seed),
            False,
        ),
        "bass": (_line(rng, *FAMILY_SHAPE["bass"][:2], beat, seconds), _program("bass", seed), False),
        "drums": (_drum_notes(rng, bpm, seconds), 0, True),
    }
    parts: dict[str, Audio] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (notes, program, is_drum) in scores.items():
            parts[name] = render(notes, program, is_drum, Path(tmp))
    length = int(seconds * parts["melody"].sample_rate)
    parts = {k: Audio(_fit(v.samples, length), v.sample_rate) for k, v in parts.items()}
    melody = tuple(sorted(scores["melody"][0], key=lambda n: n.start))
    return Mixture(seed, bpm, melody_family, chord_family, melody, parts)


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros((x.shape[0], length), dtype=np.float32)
    out[:, : min(length, x.shape[1])] = x[:, :length]
    return out


def summed(mixture: Mixture, names: tuple[str, ...]) -> Audio:
    first = mixture.parts[names[0]]
    return Audio(np.sum([mixture.parts[n].samples for n in names], axis=0), first.sample_rate)


def true_pitch_classes(notes: tuple[Note, ...], frames: int) -> np.ndarray:
    """Per chroma frame, the melody's sounding pitch class (0 = C), or -1 where no note sounds."""
    truth = np.full(frames, -1)
    centres = np.arange(frames) * HOP / CHROMA_SAMPLE_RATE
    for note in notes:
        truth[(centres >= note.start) & (centres < note.end)] = note.pitch % 12
    return truth


def accuracy(audio: Audio, notes: tuple[Note, ...]) -> float:
    """Share of melody frames whose chroma argmax is the melody's pitch class."""
    chroma = melody_chroma(audio)
    truth = true_pitch_classes(notes, len(chroma))
    sounding = truth >= 0
    return float(np.mean(chroma.argmax(axis=1)[sounding] == truth[sounding]))


def cheap_split(audio: Audio) -> Audio:
    """Harmonic part (librosa HPSS, median filters) high-passed at HIGHPASS_HZ: drums and bass mostly gone."""
    import librosa
    from scipy.signal import butter, sosfiltfilt

    mono = convert_audio(audio, audio.sample_rate, 1).samples[0]
    harmonic = librosa.effects.harmonic(mono)
    sos = butter(4, HIGHPASS_HZ, btype="highpass", fs=audio.sample_rate, output="sos")
    return Audio(sosfiltfilt(sos, harmonic)[None].astype(np.float32), audio.sample_rate)


def debug_demucs(audio: Audio) -> Audio:
    from stems.separation.separator import melody_sources, separate_sum

    return separate_sum(audio, melody_sources(SEPARATION_MODEL), SEPARATION_MODEL)


def conditions(mixture: Mixture, rhythm_gain_db: float, with_demucs: bool) -> dict[str, Callable[[], Audio]]:
    rhythm = summed(mixture, ("bass", "drums"))
    top = summed(mixture, ("melody", "chords"))
    full = Audio(top.samples + rhythm.samples * np.float32(10 ** (rhythm_gain_db / 20)), top.sample_rate)
    out: dict[str, Callable[[], Audio]] = {
        "full_mix": lambda: full,
        "oracle_vocals_other": lambda: top,
        "melody_only": lambda: mixture.parts["melody"],
        "cheap_split": lambda: cheap_split(full),
    }
    if with_demucs:
        out["debug_demucs_vocals_other"] = lambda: debug_demucs(full)
    return out


def _rms_db(audio: Audio) -> float:
    return float(10 * np.log10(np.mean(audio.samples.astype(np.float64) ** 2) + 1e-12))


def evaluate(seeds: list[int], seconds: float, demucs_seeds: int, gains_db: list[float]) -> dict[str, object]:
    """Accuracy per condition (mean over mixtures) for each gain of bass + drums against their rendered level."""
    started = time.perf_counter()
    per: dict[float, dict[str, list[float]]] = {g: {c: [] for c in CONDITIONS} for g in gains_db}
    levels: dict[str, list[float]] = {p: [] for p in ("melody", "chords", "bass", "drums")}
    for index, seed in enumerate(seeds):
        mixture = make_mixture(seed, seconds)
        for part, audio in mixture.parts.items():
            levels[part].append(_rms_db(audio))
        for gain in gains_db:
            with_demucs = index < demucs_seeds and gain == gains_db[0]
            for name, make in conditions(mixture, gain, with_demucs).items():
                per[gain][name].append(accuracy(make(), mixture.melody_notes))
    by_gain = {
        f"{g:g}": {n: round(float(np.mean(v)), 4) for n, v in rows.items() if v} for g, rows in per.items()
    }
    first = per[gains_db[0]]
    return {
        "seeds": seeds,
        "seconds_per_mixture": seconds,
        "separation_model": SEPARATION_MODEL,
        "mixtures_with_demucs": min(demucs_seeds, len(seeds)),
        "rhythm_gains_db": gains_db,
        "accuracy": by_gain[f"{gains_db[0]:g}"],
        "accuracy_by_rhythm_gain_db": by_gain,
        "oracle_beats_full_mix": {
            f"{g:g}": int(np.sum(np.array(r["oracle_vocals_other"]) > np.array(r["full_mix"])))
            for g, r in per.items()
        },
        "accuracy_per_mixture": {name: [round(x, 3) for x in v] for name, v in first.items() if v},
        "part_rms_db": {part: round(float(np.mean(v)), 1) for part, v in levels.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 mixtures of 10 s, debug Demucs on one")
    parser.add_argument("--seeds", type=int, nargs="*", default=list(range(16)))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--demucs-seeds", type=int, default=4, help="mixtures also run through debug Demucs")
    parser.add_argument(
        "--rhythm-gains-db",
        type=float,
        nargs="+",
        default=[0.0, 6.0],
        help="gains of bass + drums against their rendered level (the first is the headline figure)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.seconds, args.demucs_seeds = args.seeds[:3], 10.0, 1
    print(json.dumps(evaluate(args.seeds, args.seconds, args.demucs_seeds, args.rhythm_gains_db), indent=2))


if __name__ == "__main__":
    main()
