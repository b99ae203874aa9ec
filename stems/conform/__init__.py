"""Conform stems to the arrangement's grid: analyse tempo, beats, downbeat, tuning and key (:func:`analyze`),
then warp each stem's beats onto the grid with a time map and optionally retune it (:func:`conform`).

MusicGen follows the tempo and key of its text only loosely (one stem at 117 bpm, another a quarter tone
sharp); conforming puts every stem on one grid before they are mixed. Stems without a steady beat (pads,
drones, noise), silent or shorter than two bars are left as is, with the reason. Drums are never retuned.
"""

from __future__ import annotations

from stems.conform.analysis import analyze
from stems.conform.apply import MIN_TEMPO_CONFIDENCE, conform
from stems.conform.keys import parse_key, semitones_toward
from stems.conform.records import Analysis, ConformResult, Grid
from stems.conform.warp import require_rubberband

__all__ = [
    "MIN_TEMPO_CONFIDENCE",
    "Analysis",
    "ConformResult",
    "Grid",
    "analyze",
    "conform",
    "parse_key",
    "require_rubberband",
    "semitones_toward",
]
