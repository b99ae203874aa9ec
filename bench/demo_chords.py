"""How closely the demo's mix follows its own chord chart (issue 23 point 7), by two recognisers. Prints JSON.

- ours: ``stems.conform.chords`` (an approximate note transcription's chroma after Mauch and Dixon 2010, chord
  templates, Viterbi) on mix.wav, one chord per beat of the arrangement's grid, as the render's manifest has it;
- an independent one, sharing no code with ours: librosa's ``chroma_cqt`` (its defaults) averaged over each beat
  and matched to the 24 binary major/minor triad templates by cosine (Fujishima 1999's pitch-class profile
  method), no smoothing;
- a second independent one, tried first and kept because it says something: basic-pitch (a neural note
  transcriber) transcribes mix.wav, and on each beat music21 names the chord (``Chord.root()``,
  ``Chord.quality``) of the pitch classes that sound for at least a quarter of the beat (notes under
  ``MIN_NOTE_S`` are taken for drum hits). It misses thirds in this mix (Dm read as D and A, so music21 says
  "other"), which is the transcriber's weakness on a full mix, not the mix's.

Both are scored on the beats whose planned chord is a major or minor triad (7ths as their triad), as
``stems.conform.chords.chord_adherence`` counts them. The goal is 0.85 of beats.

    .venv/bin/python bench/demo_chords.py                  # renders arrangements/demo.yaml first (~1 min)
    .venv/bin/python bench/demo_chords.py --render renders/demo-groove
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flows.pipeline import adherence
from flows.schema import load_arrangement
from flows.schema.score import arrangement_score
from stems.audio import Audio, read_audio
from stems.conform.chords import BeatChord, chord_adherence, recognize_chords
from stems.transcription.midi import Note

DEMO = REPO / "arrangements" / "demo.yaml"
MIN_NOTE_S = 0.08  # shorter transcribed notes are taken for drum hits and left out
MIN_SHARE = 0.25  # of a beat: a pitch class sounding less is a passing note
GOAL = 0.85


def render_demo(out: Path) -> Path:
    from flows.cli import main

    assert main(["render", str(DEMO), "-o", str(out), "--quiet", "--force"]) == 0
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return folder


def music21_chords(notes: list[Note], beats: list[float], beat: float) -> list[BeatChord]:
    """The independent recogniser: music21's name for the chord of each beat's sounding pitch classes."""
    from music21 import chord

    out = []
    for start in beats:
        end = start + beat
        share: dict[int, float] = {}
        for n in notes:
            overlap = min(n.end, end) - max(n.start, start)
            if n.end - n.start >= MIN_NOTE_S and overlap > 0:
                share[n.pitch % 12] = share.get(n.pitch % 12, 0.0) + overlap
        classes = [pc for pc, seconds in share.items() if seconds >= MIN_SHARE * beat]
        root, quality = None, None
        if len(classes) >= 2:
            named = chord.Chord(classes)
            kind = {"major": "maj", "minor": "min"}.get(named.quality)
            if kind is not None:
                root, quality = named.root().pitchClass, kind
        out.append(BeatChord(start, end, root, quality))  # type: ignore[arg-type]
    return out


def template_chords(audio: Audio, beats: list[float], beat: float) -> list[BeatChord]:
    """The independent recogniser: librosa chroma per beat against binary triad templates (cosine)."""
    import librosa
    import numpy as np

    from stems.audio import convert_audio

    rate = 22_050
    y = convert_audio(audio, rate, 1).samples[0]
    chroma = librosa.feature.chroma_cqt(y=y, sr=rate, hop_length=512)
    times = librosa.frames_to_time(np.arange(chroma.shape[1]), sr=rate, hop_length=512)
    templates = []
    for root in range(12):
        for quality, third in (("maj", 4), ("min", 3)):
            t = np.zeros(12)
            t[[root, (root + third) % 12, (root + 7) % 12]] = 1.0
            templates.append((root, quality, t / np.linalg.norm(t)))
    out = []
    for start in beats:
        frames = chroma[:, (times >= start) & (times < start + beat)]
        profile = frames.mean(axis=1) if frames.size else np.zeros(12)
        if not profile.any():
            out.append(BeatChord(start, start + beat, None, None))
            continue
        root, quality, _ = max(templates, key=lambda r: float(r[2] @ profile))
        out.append(BeatChord(start, start + beat, root, quality))  # type: ignore[arg-type]
    return out


def measure(folder: Path) -> dict[str, object]:
    from stems.transcription.transcriber import get_transcriber

    arrangement = load_arrangement(DEMO)
    planned = arrangement_score(arrangement)
    assert planned is not None
    beats = adherence.grid_beats(arrangement)
    mix = read_audio(folder / "mix.wav")
    ours = chord_adherence(recognize_chords(mix, beats), planned.chords)
    beat = 60.0 / arrangement.bpm
    templates = chord_adherence(template_chords(mix, beats, beat), planned.chords)
    track = get_transcriber().transcribe(mix, "piano", "mix")
    transcribed = chord_adherence(music21_chords(list(track.notes), beats, beat), planned.chords)
    return {
        "render": str(folder),
        "beats_counted": ours.counted,
        "ours": ours.fraction,
        "independent_librosa_chroma_templates": templates.fraction,
        "independent_basic_pitch_music21": transcribed.fraction,
        "transcribed_notes": len(track.notes),
        "goal": GOAL,
        "goals": {
            "ours": (ours.fraction or 0.0) >= GOAL,
            "independent": (templates.fraction or 0.0) >= GOAL,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--render", type=Path, help="a finished render of arrangements/demo.yaml")
    args = parser.parse_args()
    if args.render is not None:
        print(json.dumps(measure(args.render), indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="demo-chords-") as tmp:
        print(json.dumps(measure(render_demo(Path(tmp))), indent=2))


if __name__ == "__main__":
    main()
