"""Conform stems to the arrangement's grid: analyse tempo, beats, downbeat, tuning and key (:func:`analyze`),
then warp each stem's beats onto the grid with a time map and optionally retune it (:func:`conform`).

MusicGen follows the tempo and key of its text only loosely (one stem at 117 bpm, another a quarter tone
sharp); conforming puts every stem on one grid before they are mixed. Stems without a steady beat (pads,
drones, noise), silent or shorter than two bars are left as is, with the reason. Drums are never retuned.

Measured (``.venv/bin/python bench/conform.py``, seed 0, 10 pieces x 30 s, 2-core shared box): beat F
before 0.26, after 0.84, placed 0.70 (tracker 0.70); onset F1 unwarped 0.72, conformed 0.51; key 0.90,
tuning 1.00; 300 s stereo stem in 0.23x real time. Before the bass-onset phase check and confidence and the
Albrecht-Shanahan key profiles: after 0.67, placed 0.56, conformed onset F1 0.42, key 0.65, 0.17x.
Not met: beat F >= 0.95 and onset F1 within 0.05 (a rag whose bass is syncopated with its melody and a
hornpipe of running sixteenths are tracked half a beat off; bach/bwv269's strings get a wrong tempo).
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
