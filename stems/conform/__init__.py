"""Conform stems to the arrangement's grid: analyse tempo, beats, downbeat, tuning and key (:func:`analyze`),
then warp each stem's beats onto the grid with a time map and optionally retune it (:func:`conform`); or align a
stem to the notes of its part and warp each onto the part's grid time (:func:`conform_to_score`), which needs no
steady beat.

MusicGen follows the tempo and key of its text only loosely (one stem at 117 bpm, another a quarter tone
sharp); conforming puts every stem on one grid before they are mixed. Stems without a steady beat or a part
(drones, noise), silent or shorter than two bars are left as is, with the reason. Drums are never retuned.
What each figure is, and what it measures on public-domain music (``bench/conform.py``, its tuning and held-out
pieces): the README's "Stems that play together".
"""

from __future__ import annotations

from stems.conform.analysis import analyze
from stems.conform.apply import MIN_TEMPO_CONFIDENCE, conform
from stems.conform.chords import Adherence, BeatChord, PlannedChord, chord_adherence, recognize_chords
from stems.conform.keys import parse_key, semitones_toward
from stems.conform.records import Analysis, ConformResult, Grid
from stems.conform.scored import conform_to_score
from stems.conform.warp import require_rubberband

__all__ = [
    "MIN_TEMPO_CONFIDENCE",
    "Adherence",
    "Analysis",
    "BeatChord",
    "ConformResult",
    "Grid",
    "PlannedChord",
    "analyze",
    "chord_adherence",
    "conform",
    "conform_to_score",
    "parse_key",
    "recognize_chords",
    "require_rubberband",
    "semitones_toward",
]
