"""The arrangement as a score: chord charts (chords), their time line (timeline), how a bar is felt
(meter), a MIDI part per stem (parts, drums; a lead's melody from a MIDI file: melody), the chroma guide
MusicGen-melody is conditioned on and its adherence to the chords (guides), and FluidSynth sketches
(sketch). Light at import: pychord, pretty_midi and mido load inside the functions that use them."""

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
from stems.score.drums import ENERGY_WORDS, is_energetic
from stems.score.guides import (
    Adherence,
    Guide,
    PartGuide,
    adherence,
    frame_times,
    guide_adherence,
    guide_chroma,
)
from stems.score.melody import MidiMelody, MidiScore, is_midi_file, read_midi_melody, read_midi_score
from stems.score.meter import Meter
from stems.score.parts import (
    CHORDS_TRACK,
    FAMILY_ROLES,
    Part,
    chord_markers,
    chord_track,
    make_part,
    role_of,
    write_part,
)
from stems.score.sketch import (
    SKETCH_LICENSE,
    SKETCH_MODEL,
    SOUNDFONT,
    SketchUnavailableError,
    check_sketch_tools,
    render_part,
)
from stems.score.timeline import Score, ScoreSection, SectionChart, TimedChord, lay_out

__all__ = [
    "CHORDS_TRACK",
    "ENERGY_WORDS",
    "EXAMPLE_SYMBOLS",
    "FAMILY_ROLES",
    "MAJOR",
    "MINOR",
    "OTHER",
    "SKETCH_LICENSE",
    "SKETCH_MODEL",
    "SOUNDFONT",
    "Adherence",
    "Chord",
    "ChordChartError",
    "ChordEvent",
    "ChordQuality",
    "Guide",
    "Meter",
    "MidiMelody",
    "MidiScore",
    "Part",
    "PartGuide",
    "Score",
    "ScoreSection",
    "SectionChart",
    "SectionChords",
    "SketchUnavailableError",
    "TimedChord",
    "adherence",
    "check_sketch_tools",
    "chord_markers",
    "chord_track",
    "frame_times",
    "guide_adherence",
    "guide_chroma",
    "is_energetic",
    "is_midi_file",
    "lay_out",
    "make_part",
    "parse_chart",
    "parse_symbol",
    "read_midi_melody",
    "read_midi_score",
    "render_part",
    "role_of",
    "section_chords",
    "write_part",
]
