"""Transcription accuracy on a set generated at run time: MIDI we write, rendered by fluidsynth.

Per instrument family: random (seeded) melodies, bass lines, chord progressions and piano pieces
at a constant tempo, rendered with ``fluidsynth -ni -F out.wav -r 22050 FluidR3_GM.sf2 in.mid``,
transcribed with basic-pitch's default settings and with ours (for the GM instrument each clip is
rendered with, as a user would name it: ``clip_settings``), scored with
``mir_eval.transcription`` (onset-only F1 at 50 ms; and with offsets, 20 % / 50 ms). Drums: GM
channel-10 patterns, onset F1 per drum class (50 ms).

Run: ``.venv/bin/python bench/eval_transcription.py [--quick] [--seeds 100 101 102] [--no-real]`` (prints
JSON). The table in stems/transcription/settings.py was tuned on seeds 0-2; the report uses seeds 100-102.
The output's ``real_music`` is ``bench/real_music.py``'s report split (public-domain scores, per group).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stems.audio import Audio, read_audio
from stems.transcription.midi import Note
from stems.transcription.settings import BASIC_PITCH_DEFAULTS, TranscriptionSettings
from stems.transcription.transcriber import get_transcriber, settings_for

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RENDER_RATE = 22050
ONSET_TOLERANCE = 0.05  # mir_eval / MIREX note-tracking tolerance, seconds
# GM programs (0-based) used to RENDER each family; several per family so one timbre is not tuned to.
RENDER_PROGRAMS: dict[str, tuple[int, ...]] = {
    "bass": (33, 34, 38),  # finger, pick, synth bass 1
    "piano": (0, 1),  # acoustic grand, bright
    "keys": (4, 5, 7),  # electric pianos, clavinet (a drawbar organ sounds 16' an octave low)
    "guitar": (24, 25, 27),  # nylon, steel, clean electric
    "lead": (80, 81),  # square, saw lead
    "strings": (48, 49),  # string ensembles
    "pad": (89, 88),  # warm pad, new age pad
    "vocals": (52, 53, 54),  # choir aahs, voice oohs, synth voice
    "brass": (61, 56, 57),  # brass section, trumpet, trombone
    "woodwind": (73, 71, 68),  # flute, clarinet, oboe
}
# Pitch ranges (MIDI) and texture per family: "mono" line, "chords", or "piano" (melody + chords).
FAMILY_SHAPE: dict[str, tuple[int, int, str]] = {
    "bass": (28, 52, "mono"),
    "piano": (36, 84, "piano"),
    "keys": (48, 79, "chords"),
    "guitar": (40, 76, "chords"),
    "lead": (60, 86, "mono"),
    "strings": (43, 84, "chords"),
    "pad": (48, 76, "chords"),
    "vocals": (48, 76, "mono"),
    "brass": (46, 74, "mono"),
    "woodwind": (60, 88, "mono"),
}
DRUM_CLASSES: dict[str, tuple[int, ...]] = {"kick": (36,), "snare": (38,), "hihat": (42,), "cymbal": (49, 51)}
PITCHED_FAMILIES = tuple(FAMILY_SHAPE)
INDEX = {f: i for i, f in enumerate(("drums",) + PITCHED_FAMILIES)}  # decorrelates the seeds of families


@dataclass(frozen=True)
class Clip:
    family: str
    seed: int
    notes: tuple[Note, ...]
    audio: Audio
    bpm: float
    program: int = 0  # GM program (0-based) it was rendered with: the instrument it is transcribed as


def _line(rng: np.random.Generator, lo: int, hi: int, beat: float, seconds: float) -> list[Note]:
    """A stepwise monophonic line of eighths/quarters/halves with small rests."""
    notes, t, pitch = [], 0.25, int(rng.integers(lo + 4, hi - 4))
    while t < seconds - 0.5:
        length = beat * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
        pitch = int(np.clip(pitch + rng.choice([-4, -2, -1, 1, 2, 3, 5, -5, 7]), lo, hi))
        notes.append(Note(t, t + length * 0.9, pitch, int(rng.integers(70, 115))))
        t += length
    return notes


def _chords(rng: np.random.Generator, lo: int, hi: int, beat: float, seconds: float) -> list[Note]:
    """Triads and sevenths held one or two beats, root in the lower half of the range."""
    notes, t = [], 0.25
    while t < seconds - 0.5:
        length = beat * float(rng.choice([1.0, 2.0, 2.0]))
        root = int(rng.integers(lo, max(lo + 1, (lo + hi) // 2)))
        shape = [0, 4, 7] if rng.random() < 0.5 else [0, 3, 7, 10]
        velocity = int(rng.integers(70, 110))
        notes += [Note(t, t + length * 0.95, root + i, velocity) for i in shape if root + i <= hi]
        t += length
    return notes


def _score_notes(family: str, rng: np.random.Generator, bpm: float, seconds: float) -> list[Note]:
    lo, hi, shape = FAMILY_SHAPE[family]
    beat = 60.0 / bpm
    if shape == "mono":
        return _line(rng, lo, hi, beat, seconds)
    if shape == "chords":
        return _chords(rng, lo, hi, beat, seconds)
    return _line(rng, 64, hi, beat, seconds) + _chords(rng, lo, 60, beat * 2, seconds)


def _drum_notes(rng: np.random.Generator, bpm: float, seconds: float) -> list[Note]:
    """A 16th-note grid: kick on 1 and 3 (+ random 16ths), snare 2 and 4, hats on 8ths, crash/ride."""
    step = 60.0 / bpm / 4
    notes = []
    for k in range(int((seconds - 0.5) / step)):
        t, pos = 0.25 + k * step, k % 16
        hits = []
        if pos in (0, 8) or rng.random() < 0.08:
            hits.append(36)
        if pos in (4, 12) or rng.random() < 0.04:
            hits.append(38)
        if pos == 0 and k % 64 == 0:
            hits.append(49)
        elif pos % 2 == 0:
            hits.append(51 if (k // 32) % 2 else 42)
        notes += [Note(t, t + 0.1, p, int(rng.integers(60, 120))) for p in hits]
    return notes


def render(notes: list[Note], program: int, is_drum: bool, work: Path, soundfont: Path = SOUNDFONT) -> Audio:
    """Write the notes as MIDI (pretty_midi) and render them with the fluidsynth CLI."""
    import pretty_midi

    if shutil.which("fluidsynth") is None or not soundfont.is_file():
        raise RuntimeError(f"fluidsynth and {soundfont} are needed for the evaluation")
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
    inst.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start, n.end) for n in notes]
    midi.instruments.append(inst)
    mid, wav = work / "in.mid", work / "out.wav"
    midi.write(str(mid))
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-g",
            "0.5",
            "-F",
            str(wav),
            "-r",
            str(RENDER_RATE),
            str(soundfont),
            str(mid),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return read_audio(wav)


def make_clip(family: str, seed: int, seconds: float) -> Clip:
    rng = np.random.default_rng(seed * 1000 + (INDEX.get(family, 99)))
    bpm = float(rng.integers(80, 140))
    program = RENDER_PROGRAMS[family][seed % len(RENDER_PROGRAMS[family])] if family != "drums" else 0
    with tempfile.TemporaryDirectory() as tmp:
        if family == "drums":
            notes = _drum_notes(rng, bpm, seconds)
            audio = render(notes, 0, True, Path(tmp))
        else:
            notes = _score_notes(family, rng, bpm, seconds)
            audio = render(notes, program, False, Path(tmp))
    return Clip(family, seed, tuple(sorted(notes, key=lambda n: (n.start, n.pitch))), audio, bpm, program)


def clip_settings(clip: Clip) -> TranscriptionSettings:
    """Our settings for the clip's GM instrument, named as a user would name it (``string ensemble 1``): the
    instrument's own row where it has one (stems.transcription.settings), else the clip's family's. An instrument
    GM files under another family (the clavinet is a GM piano) is transcribed as the clip's family."""
    from stems.instruments import resolve_instrument

    found = resolve_instrument(clip.program + 1)  # GM tables number programs from 1
    return settings_for(found if found.family == clip.family else clip.family)


def _arrays(notes: tuple[Note, ...] | list[Note]) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    if not notes:
        return np.zeros((0, 2)), np.zeros(0)
    intervals = np.array([[n.start, max(n.end, n.start + 1e-3)] for n in notes])
    return intervals, librosa.midi_to_hz(np.array([n.pitch for n in notes]))


def score(reference: tuple[Note, ...], estimate: tuple[Note, ...]) -> dict[str, float]:
    """mir_eval note-tracking F1: onset-only (50 ms) and with offsets (max(20 %, 50 ms))."""
    import mir_eval

    ref_i, ref_p = _arrays(reference)
    est_i, est_p = _arrays(estimate)
    if len(ref_p) == 0 or len(est_p) == 0:
        return {"onset_f1": 0.0, "offset_f1": 0.0}
    onset = mir_eval.transcription.precision_recall_f1_overlap(
        ref_i, ref_p, est_i, est_p, onset_tolerance=ONSET_TOLERANCE, offset_ratio=None
    )
    full = mir_eval.transcription.precision_recall_f1_overlap(
        ref_i, ref_p, est_i, est_p, onset_tolerance=ONSET_TOLERANCE, offset_ratio=0.2
    )
    return {"onset_f1": float(onset[2]), "offset_f1": float(full[2])}


def drum_scores(reference: tuple[Note, ...], estimate: tuple[Note, ...]) -> dict[str, float]:
    """Onset F1 per drum class (mir_eval.onset.f_measure, 50 ms window)."""
    import mir_eval

    out = {}
    for name, pitches in DRUM_CLASSES.items():
        ref = np.unique(np.round([n.start for n in reference if n.pitch in pitches], 4))
        est = np.unique(np.round([n.start for n in estimate if n.pitch in pitches], 4))
        if len(ref) == 0 and len(est) == 0:
            continue
        out[name] = float(mir_eval.onset.f_measure(ref, est, window=ONSET_TOLERANCE)[0]) if len(est) else 0.0
    return out


def evaluate_pitched(clip: Clip, settings: TranscriptionSettings) -> dict[str, float]:
    track = get_transcriber().transcribe(clip.audio, clip.family, clip.family, settings=settings)
    return score(clip.notes, track.notes)


def evaluate(seeds: list[int], seconds: float, families: tuple[str, ...] | None = None) -> dict[str, object]:
    families = families or ("drums",) + PITCHED_FAMILIES
    rows: dict[str, dict[str, float]] = {}
    for family in families:
        clips = [make_clip(family, s, seconds) for s in seeds]
        if family == "drums":
            per = [
                drum_scores(c.notes, get_transcriber().transcribe(c.audio, "drums", "d").notes) for c in clips
            ]
            rows[family] = {k: float(np.mean([p[k] for p in per if k in p])) for k in DRUM_CLASSES}
            continue
        default = [evaluate_pitched(c, BASIC_PITCH_DEFAULTS) for c in clips]
        ours = [evaluate_pitched(c, clip_settings(c)) for c in clips]
        rows[family] = {
            "default_onset_f1": float(np.mean([d["onset_f1"] for d in default])),
            "ours_onset_f1": float(np.mean([d["onset_f1"] for d in ours])),
            "default_offset_f1": float(np.mean([d["offset_f1"] for d in default])),
            "ours_offset_f1": float(np.mean([d["offset_f1"] for d in ours])),
            "reference_notes": int(np.mean([len(c.notes) for c in clips])),
        }
    return {"seeds": seeds, "seconds_per_clip": seconds, "families": rows, "summary": _summary(rows)}


def _summary(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    pitched = [r for f, r in rows.items() if f != "drums"]
    out: dict[str, float] = {}
    if pitched:
        for key in ("default_onset_f1", "ours_onset_f1", "default_offset_f1", "ours_offset_f1"):
            out[f"mean_{key}"] = round(float(np.mean([r[key] for r in pitched])), 4)
        out["mean_onset_f1_gain"] = round(out["mean_ours_onset_f1"] - out["mean_default_onset_f1"], 4)
    if "drums" in rows:
        out["drums_mean_class_f1"] = round(float(np.mean(list(rows["drums"].values()))), 4)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 8 s clips")
    parser.add_argument("--seeds", type=int, nargs="*", default=[100, 101, 102])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--families", nargs="*", default=None)
    parser.add_argument("--no-real", action="store_true", help="skip the real-music report split")
    args = parser.parse_args(argv)
    seeds, seconds = ([args.seeds[0]], 8.0) if args.quick else (args.seeds, args.seconds)
    result = evaluate(seeds, seconds, tuple(args.families) if args.families else None)
    if not args.no_real:
        result["real_music"] = _real_music()
    print(json.dumps(result, indent=2))


def _real_music() -> dict[str, object]:
    """bench/real_music.py's report split, per group and overall (excerpts left out: see that script)."""
    from tests.support.bench_scripts import load_bench

    real = load_bench("real_music")
    with tempfile.TemporaryDirectory() as tmp:
        out = real.evaluate(real.prepare(c, Path(tmp)) for c in real.cases("report"))
    return {"groups": out["groups"], "summary": out["summary"]}


if __name__ == "__main__":
    main()
