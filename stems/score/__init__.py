"""The arrangement as a score: chord charts (chords), their time line (timeline), a MIDI part per stem
(parts, drums), the chroma guide MusicGen is conditioned on (guides) and FluidSynth sketches (sketch)."""

from __future__ import annotations

from stems.score.chords import (
    EXAMPLE_SYMBOLS,
    MAJOR,
    MINOR,
    OTHER,
    Chord,
    ChordChartError,
    ChordEvent,
    ChordQuality,
    SectionChords,
    parse_chart,
    parse_symbol,
    section_chords,
)

__all__ = [
    "EXAMPLE_SYMBOLS",
    "MAJOR",
    "MINOR",
    "OTHER",
    "Chord",
    "ChordChartError",
    "ChordEvent",
    "ChordQuality",
    "SectionChords",
    "parse_chart",
    "parse_symbol",
    "section_chords",
]
