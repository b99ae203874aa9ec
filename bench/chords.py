"""Chord recognition (``stems.conform.chords``) measured on Bach chorales we did not write; prints one JSON object.

Each chorale of the music21 corpus picked (``chorales``: a fixed shuffle of the corpus's four-part chorales
in a quarter-note meter, the first ``SPLIT_SIZE`` the tuning split, the next ``SPLIT_SIZE`` the held-out
one) is cut to whole bars of about ``--seconds`` from its first full bar and played by fluidsynth
(``bench/corpus.py``, as bench/conform.py plays its scores) at a seeded tempo with one of
``PROGRAM_SETS`` (piano, strings, organ, choir, e-piano, string quartet, wind quartet, by its place).

The reference is music21's reading of the score: ``chordify()`` the same bars, and per beat (a quarter)
the chordified slice sounding longest in it (the first on a tie), whose ``root()`` and ``quality`` give
the chord; a seventh's quality is its triad's (a dominant seventh is major), as ``stems.score`` reduces
a planned 7th. Beats whose slice is not major or minor (diminished, augmented, "other", a rest) are left
out and counted by kind under ``reference.excluded``.

Measured: the fraction of counted beats recognised right (root and quality, pooled over the split), with
the beats of the score (``true_beats``: the recogniser alone) and with those the conform analysis finds
in the rendering (``tracked_beats``: as ``musicmaker analyze`` would run it; each tracked beat is judged
against the reference chord at its middle).

    .venv/bin/python bench/chords.py                          # tuning split: constants chosen on it only
    .venv/bin/python bench/chords.py --held-out               # held-out split, run once, as it came out
    .venv/bin/python bench/chords.py --held-out --soundfont musescore   # MuseScore General (Debian)
    .venv/bin/python bench/chords.py --other --seconds 20     # three pieces that are not chorales
    .venv/bin/python bench/chords.py --quick                  # 2 chorales x 15 s
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stems.audio import Audio
from stems.conform import PlannedChord, chord_adherence, recognize_chords
from tests.support.bench_scripts import load_bench

corpus = load_bench("corpus")

SPLIT_SEED = 23  # the shuffle that makes the splits (issue 23)
SPLIT_SIZE = 10
QUICK = 2
GOAL = 0.80  # issue 23 point 6
TEMPO_RANGE = (72.0, 100.0)  # quarter notes per minute, seeded per chorale
# GM programs (0-based), cycled over the parts: piano, string ensemble, church organ, choir aahs, e-piano,
# string quartet (violin, violin, viola, cello), wind quartet (flute, oboe, clarinet, bassoon).
PROGRAM_SETS = ((0,), (48,), (19,), (52,), (4,), (40, 40, 41, 42), (73, 68, 71, 70))
SOUNDFONTS = {
    "fluidr3": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),  # fluid-soundfont-gm, as bench/ renders
    "musescore": Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),  # musescore-general-soundfont-small
}
_CHORALE = re.compile(r"bach/bwv\d+\.\d+$")
# Not chorales (``--other``, never tuned on): an Alberti bass, a rag's stride bass and a string quartet's
# minuet, as bench/conform.py plays them. Their accompaniments break chords into single notes, so a beat's
# reference chord is that of every pitch sounding WHOLE_BEAT_SHARE of the beat or more.
OTHER_PIECES = (
    ("mozart/k545/movement1_exposition", 132.0, (0,)),
    ("joplin/maple_leaf_rag", 100.0, (0,)),
    ("haydn/opus74no1/movement3", 138.0, (40, 40, 41, 42)),
)
WHOLE_BEAT_SHARE = 0.25


def chorales(count: int) -> list[str]:
    """The first ``count`` corpus chorales (``bach/bwvN.M``) of a SPLIT_SEED shuffle that have four parts
    and a quarter-note meter."""
    from music21 import corpus as m21corpus
    from music21 import meter

    paths = sorted(
        f"bach/{Path(str(p)).stem}" for p in m21corpus.getComposer("bach") if Path(str(p)).suffix == ".mxl"
    )
    paths = [p for p in paths if _CHORALE.match(p)]
    picked = []
    for index in np.random.default_rng(SPLIT_SEED).permutation(len(paths)):
        score = m21corpus.parse(paths[index])
        signatures = score.recurse().getElementsByClass(meter.TimeSignature)
        if len(score.parts) == 4 and signatures and signatures[0].ratioString.endswith("/4"):
            picked.append(paths[index])
        if len(picked) == count:
            break
    return picked


@dataclass(frozen=True)
class Case:
    piece: Any  # corpus.Piece
    beats: np.ndarray  # the score's beats in the rendering, seconds (plus the end of the last)
    reference: tuple[PlannedChord, ...]  # one per beat whose slice is major or minor
    excluded: Counter[str]  # beats left out of the reference, by kind
    audio: Audio


def reference(
    piece: Any, quarters: float, whole_beat: bool = False
) -> tuple[list[tuple[int, str] | None], Counter[str]]:
    """Per beat (quarter) from bar 1: (root pitch class, "maj"/"min") of the longest chordified slice
    (``whole_beat``: of every pitch sounding a quarter of the beat or more), or None; and the kinds of the
    beats that are None."""
    from music21 import corpus as m21corpus

    score = m21corpus.parse(piece.path)
    bar = score.recurse().getElementsByClass("TimeSignature")[0].barDuration.quarterLength
    cut = score.measures(1, int(np.ceil(quarters / bar))).toSoundingPitch()
    slices = [(float(c.offset), float(c.offset + c.quarterLength), c) for c in cut.chordify().flatten().notes]
    out: list[tuple[int, str] | None] = []
    kinds: Counter[str] = Counter()
    for beat in range(int(quarters)):
        overlap = [
            (min(e, beat + 1) - max(s, beat), -s, c) for s, e, c in slices if s < beat + 1 and e > beat
        ]
        if not overlap:
            out.append(None)
            kinds["rest"] += 1
            continue
        chord = _whole_beat(overlap) if whole_beat else max(overlap, key=lambda o: (o[0], o[1]))[2]
        quality = {"major": "maj", "minor": "min"}.get(chord.quality)
        out.append(None if quality is None else (int(chord.root().pitchClass), quality))
        kinds[chord.quality] += quality is None
    return out, +kinds


def _whole_beat(overlap: list[tuple[float, float, Any]]) -> Any:
    """The chord of the pitches sounding WHOLE_BEAT_SHARE of the beat or more over its slices."""
    from music21 import chord

    sounding: dict[str, float] = {}
    for length, _, sliced in overlap:
        for pitch in sliced.pitches:
            sounding[pitch.nameWithOctave] = sounding.get(pitch.nameWithOctave, 0.0) + length
    return chord.Chord([p for p, length in sounding.items() if length >= WHOLE_BEAT_SHARE])


def chorale(path: str, index: int) -> Any:
    """The corpus.Piece the ``index``-th chorale of the splits is played as: a seeded tempo, programs by place."""
    bpm = float(np.round(np.random.default_rng([SPLIT_SEED, index]).uniform(*TEMPO_RANGE)))
    return corpus.Piece(path, bpm, PROGRAM_SETS[index % len(PROGRAM_SETS)])


def make_case(piece: Any, seconds: float, soundfont: Path, whole_beat: bool = False) -> Case:
    ex = corpus.excerpt(piece, seconds)
    chords, excluded = reference(piece, ex.quarters, whole_beat)
    beats = np.arange(len(chords) + 1) * 60.0 / piece.bpm
    planned = tuple(
        PlannedChord(float(beats[k]), float(beats[k + 1]), c[0], c[1])
        for k, c in enumerate(chords)
        if c is not None
    )
    audio = corpus.play(piece, ex, soundfont=soundfont)
    return Case(piece, beats, planned, excluded, audio)


def row(case: Case) -> dict[str, Any]:
    from stems.conform import analyze

    found = analyze(case.audio)
    truth = chord_adherence(recognize_chords(case.audio, case.beats[:-1]), case.reference)
    tracked = chord_adherence(recognize_chords(case.audio, found.beats), case.reference)
    return {
        "piece": case.piece.path,
        "programs": list(case.piece.programs),
        "bpm": case.piece.bpm,
        "beats": len(case.beats) - 1,
        "counted": truth.counted,
        "excluded": dict(case.excluded),
        "right": {"true_beats": truth.right, "tracked_beats": tracked.right},
        "tracked": {"beats": len(found.beats), "counted": tracked.counted, "tempo_bpm": found.tempo_bpm},
        "accuracy": {"true_beats": _round(truth.fraction), "tracked_beats": _round(tracked.fraction)},
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    excluded: Counter[str] = Counter()
    for r in rows:
        excluded.update(r["excluded"])
    counted = sum(r["counted"] for r in rows)
    tracked = sum(r["tracked"]["counted"] for r in rows)
    accuracy = {
        "true_beats": _round(sum(r["right"]["true_beats"] for r in rows) / max(counted, 1)),
        "tracked_beats": _round(sum(r["right"]["tracked_beats"] for r in rows) / max(tracked, 1)),
    }
    return {
        "pieces": len(rows),
        "reference": {"beats": sum(r["beats"] for r in rows), "counted": counted, "excluded": dict(excluded)},
        "accuracy": accuracy,
        "goal": GOAL,
        "met": {k: v is not None and v >= GOAL for k, v in accuracy.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", action="store_true", help="the held-out split (run once)")
    parser.add_argument("--other", action="store_true", help="OTHER_PIECES (not chorales; run once)")
    parser.add_argument("--soundfont", choices=sorted(SOUNDFONTS), default="fluidr3")
    parser.add_argument("--seconds", type=float, default=30.0, help="excerpt length (whole bars)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK} chorales x 15 s")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    font = SOUNDFONTS[args.soundfont]
    if args.other:
        pieces = [corpus.Piece(path, bpm, programs) for path, bpm, programs in OTHER_PIECES]
    else:
        paths = chorales(2 * SPLIT_SIZE)
        offset = SPLIT_SIZE if args.held_out else 0
        pieces = [chorale(p, offset + i) for i, p in enumerate(paths[offset : offset + SPLIT_SIZE])]
    if args.quick:
        pieces, args.seconds = pieces[:QUICK], 15.0
    rows = [row(make_case(p, args.seconds, font, whole_beat=args.other)) for p in pieces]
    out = {
        "split": "other" if args.other else "held-out" if args.held_out else "tuning",
        "soundfont": font.name,
        "seconds_per_piece": args.seconds,
        **summary(rows),
        "wall_s": round(time.perf_counter() - start, 1),
        "per_piece": rows,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
