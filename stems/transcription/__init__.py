"""Audio to MIDI: the :class:`Transcriber` facade (basic-pitch ONNX), its settings, note tracking, drums,
and the MIDI writer with one tempo map."""

from __future__ import annotations

from stems.transcription import midi
from stems.transcription.midi import Note, NoteTrack, PitchBend, TempoMap, write_midi
from stems.transcription.transcriber import Transcriber, get_transcriber, settings_for, transcribe_file

__all__ = [
    "Note",
    "NoteTrack",
    "PitchBend",
    "TempoMap",
    "Transcriber",
    "get_transcriber",
    "midi",
    "settings_for",
    "transcribe_file",
    "write_midi",
]
