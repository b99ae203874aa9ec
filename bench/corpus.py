"""Public-domain scores of the music21 corpus, cut to whole bars and rendered part by part with FluidSynth.

A :class:`Piece` names a corpus score, the tempo it is played at (quarter notes per minute), the parts kept
(``None``: all), the GM program of each kept part (cycled) and a transposition. :func:`excerpt` cuts it
from its first full bar (a pickup is dropped) to the whole bar nearest ``seconds`` and returns the notes
in quarters with the meter (and, asked, the key); :func:`reference_notes` puts them in seconds, bar 1 at
``lead`` or wherever a ``timing`` (quarters -> seconds, such as a performance's drifting tempo) says;
:func:`play` renders every program's parts with ``eval_transcription.render`` (the fluidsynth CLI at its
defaults, so reverb and chorus are on, as a user would hear FluidR3_GM) and sums them to a 0.5 peak.
bench/real_music.py and bench/conform.py both play their scores through this module.

music21's corpus licence (``music21/corpus/license.txt``): the encodings are distributed with their
encoders' permission; the works used here (Bach, Mozart, Haydn, Beethoven, Joplin, C. P. E. Bach, Weber,
Corelli, the O'Neill and Ryan collections of folk tunes) are out of copyright.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stems.audio import Audio
from stems.transcription.midi import Note
from tests.support.bench_scripts import load_bench

ARTICULATION = 0.92  # sounding fraction of a written note value, so repeated notes re-attack
TOP_VELOCITY, INNER_VELOCITY = 88, 72  # the top part a little louder where the score gives no dynamics

ScoreNote = tuple[float, float, int, int, int]  # start, end (quarters from bar 1), MIDI pitch, velocity, part
Timing = Callable[[float | np.ndarray], np.ndarray]  # quarters from bar 1 -> seconds


@dataclass(frozen=True)
class Piece:
    """A corpus score as it is played: tempo in quarters per minute, kept parts, their GM programs (0-based,
    cycled over the kept parts), a transposition in semitones."""

    path: str
    bpm: float
    programs: tuple[int, ...]
    parts: tuple[int, ...] | None = None
    transpose: int = 0

    @property
    def name(self) -> str:
        kept = "" if self.parts is None else "[" + ",".join(map(str, self.parts)) + "]"
        return f"{self.path}{kept}@{self.programs[0]}"


@dataclass(frozen=True)
class Excerpt:
    """Whole bars from bar 1; note times in quarters."""

    notes: tuple[ScoreNote, ...]
    quarters: float  # written length
    meter: str = "4/4"
    key: tuple[int, str] | None = None  # (tonic pitch class, "major" / "minor") when asked for

    @property
    def bar(self) -> float:
        """Quarters per bar."""
        count, unit = (int(x) for x in self.meter.split("/"))
        return count * 4.0 / unit

    def transposed(self, semitones: int) -> Excerpt:
        notes = tuple((s, e, p + semitones, v, part) for s, e, p, v, part in self.notes)
        key = None if self.key is None else ((self.key[0] + semitones) % 12, self.key[1])
        return replace(self, notes=notes, key=key)


def excerpt(piece: Piece, seconds: float, *, key: bool = False) -> Excerpt:
    """The piece's first whole bars lasting about ``seconds`` at ``piece.bpm``; with ``key``, the key of
    those bars (:func:`excerpt_key`)."""
    from music21 import corpus, meter

    score = corpus.parse(piece.path)
    signatures = score.recurse().getElementsByClass(meter.TimeSignature)
    signature = signatures[0].ratioString if signatures else "4/4"
    bar = float(signatures[0].barDuration.quarterLength) if signatures else 4.0
    numbers = [m.number for m in score.parts[0].getElementsByClass("Measure") if m.number >= 1]
    bars = min(max(1, round(seconds * piece.bpm / 60 / bar)), len(numbers))
    cut = score.measures(1, bars) if numbers else score
    cut = cut.toSoundingPitch()  # a clarinet or horn part is written transposed
    notes: dict[tuple[float, int], ScoreNote] = {}
    for index, part in enumerate(cut.parts):
        if piece.parts is None or index in piece.parts:
            notes.update(_part_notes(part, index, bars * bar, piece.transpose))
    if not notes:
        raise ValueError(f"{piece.path}: no notes in bars 1-{bars} of parts {piece.parts}")
    ends = max(s + (e - s) / ARTICULATION for s, e, *_ in notes.values())  # a final bar can be short
    found = excerpt_key(cut) if key else None
    tonic = None if found is None else (int(found.tonic.pitchClass) + piece.transpose) % 12
    return Excerpt(
        notes=tuple(sorted(notes.values())),  # unisons between parts counted once
        quarters=float(min(bars * bar, np.ceil(ends - 1e-6))),
        meter=signature,
        key=None if found is None or tonic is None else (tonic, str(found.mode)),
    )


def excerpt_key(cut: Any) -> Any:
    """music21's key profile estimate, the best-correlated key its key signature allows (major or relative
    minor): the profile alone calls the C major Menuetto of Haydn op. 74/1 "c minor"."""
    from music21 import key

    found = cut.analyze("key")
    signatures = cut.recurse().getElementsByClass(key.KeySignature)
    if not signatures:
        return found
    allowed = [k for k in [found, *found.alternateInterpretations] if k.sharps == signatures[0].sharps]
    return allowed[0] if allowed else found


def _part_notes(part: Any, index: int, limit: float, transpose: int) -> dict[tuple[float, int], ScoreNote]:
    """Sounding notes of one part (ties merged, grace notes and anything past the cut left out), keyed so a
    unison between parts counts once."""
    out = {}
    for n in part.stripTies().flatten().notes:
        start, length = float(n.offset), float(n.quarterLength)
        if length <= 0 or start >= limit:
            continue
        velocity = n.volume.velocity or (TOP_VELOCITY if index == 0 else INNER_VELOCITY)
        end = start + min(length, limit - start) * ARTICULATION
        for p in n.pitches:
            pitch = p.midi + transpose
            out[(round(start, 3), pitch)] = (start, end, pitch, int(velocity), index)
    return out


def steady(bpm: float, lead: float = 0.0) -> Timing:
    """Quarters -> seconds at a steady ``bpm``, bar 1 at ``lead`` s."""
    return lambda quarters: lead + np.asarray(quarters, dtype=float) * 60.0 / bpm


def reference_notes(
    piece: Piece, ex: Excerpt, lead: float = 0.0, timing: Timing | None = None
) -> tuple[Note, ...]:
    """The excerpt's notes in seconds: bar 1 at ``lead`` s at the piece's tempo, or as ``timing`` says."""
    at = timing or steady(piece.bpm, lead)
    notes = (Note(float(at(s)), float(at(e)), p, int(v)) for s, e, p, v, _ in ex.notes)
    return tuple(sorted(notes, key=lambda n: (n.start, n.pitch)))


def play(
    piece: Piece, ex: Excerpt, lead: float = 0.0, timing: Timing | None = None, soundfont: Path | None = None
) -> Audio:
    """Each kept part rendered with its program (parts sharing one together), summed to a 0.5 peak; the
    notes placed as :func:`reference_notes` places them; ``soundfont``: another than FluidR3_GM."""
    transcription = load_bench("eval_transcription")
    render, font = transcription.render, soundfont or transcription.SOUNDFONT
    kept = sorted({n[4] for n in ex.notes})
    groups: dict[int, list[int]] = {}
    for k, part in enumerate(kept):
        groups.setdefault(piece.programs[k % len(piece.programs)], []).append(part)
    renders = []
    with tempfile.TemporaryDirectory() as tmp:
        for program, parts in groups.items():
            sub = replace(ex, notes=tuple(n for n in ex.notes if n[4] in parts))
            notes = list(reference_notes(piece, sub, lead, timing))
            renders.append(render(notes, program, False, Path(tmp), font))
    length = max(r.num_samples for r in renders)
    mix = sum(r.fitted(length).samples for r in renders)
    return Audio(0.5 * mix / max(float(np.abs(mix).max()), 1e-9), renders[0].sample_rate)
