"""How the audio of a render follows its score, measured after the mix: every pitched stem and the mix through
the chord recogniser (``stems.conform.chords``) on the grid's beats, and the melody file's chroma against the
planned chords; with the parts written (``flows.pipeline.score``), this is the manifest's ``score`` section."""

from __future__ import annotations

import numpy as np

from flows.pipeline.paths import RenderPaths
from flows.pipeline.records import ChordEntry, ScoreRecord
from flows.pipeline.score import melody_notes, write_parts
from flows.schema.models import Arrangement, Stem
from flows.schema.score import arrangement_score, stem_instrument
from stems.audio import Audio, read_audio
from stems.instruments import resolve_instrument
from stems.score import Score, is_midi_file


def grid_beats(arrangement: Arrangement) -> list[float]:
    """The arrangement's beats in seconds: where conformed stems and sketches put theirs."""
    beat = 60.0 / arrangement.bpm
    return [k * beat for k in range(int(arrangement.duration / beat - 1e-9) + 1)]


def on_chord(audio: Audio, arrangement: Arrangement, score: Score) -> tuple[float | None, int]:
    """The fraction of the grid's beats whose recognised triad is the planned one, and the beats counted."""
    from stems.conform.chords import chord_adherence, recognize_chords

    counted = chord_adherence(recognize_chords(audio, grid_beats(arrangement)), score.chords)
    return counted.fraction, counted.counted


def melody_on_chord(arrangement: Arrangement, score: Score) -> float | None:
    """For the arrangement's melody file, audio or MIDI: the fraction of its chroma frames (the model's
    one-hot chroma; of a MIDI melody, the frames where a note sounds) on a tone of the planned chord; a chart
    the melody contradicts scores low."""
    from stems.musicgen.chroma import melody_chroma
    from stems.score import adherence, frame_times, guide_chroma, make_part

    path = arrangement.melody
    if path is None:
        return None
    if is_midi_file(path):
        notes = melody_notes(arrangement, path)
        guide = guide_chroma(
            make_part("melody", resolve_instrument("lead"), score, 0, notes), 0.0, score.duration
        )
        return adherence(guide.chroma, guide.times, guide.voiced, score).chord_fraction
    audio = read_audio(path, max_seconds=arrangement.duration)
    chroma = melody_chroma(audio, max_seconds=arrangement.duration)
    voiced = np.ones(len(chroma), dtype=bool)
    return adherence(chroma, frame_times(len(chroma)), voiced, score).chord_fraction


def score_record(
    arrangement: Arrangement, stems: list[Stem], paths: RenderPaths, mix: Audio | None
) -> ScoreRecord | None:
    """Write every stem's part and measure how the stems, the mix and the melody follow the chords; None
    without chords."""
    score = arrangement_score(arrangement)
    if score is None:
        return None
    parts = write_parts(arrangement, stems, paths)
    stems_on: dict[str, float | None] = {}
    beats = 0
    for stem in stems:
        instrument = stem_instrument(stem)
        if instrument is not None and instrument.is_drum:
            stems_on[stem.name] = None  # no harmony to recognise
            continue
        stems_on[stem.name], beats = on_chord(read_audio(paths.stem(stem.name)), arrangement, score)
    mix_on, beats = on_chord(mix, arrangement, score) if mix is not None else (None, beats)
    return ScoreRecord(
        chords=tuple(
            ChordEntry(c.symbol, round(c.start, 6), round(c.end, 6), score.sections[c.section].name)
            for c in score.chords
        ),
        parts={name: path.relative_to(paths.root).as_posix() for name, path in parts.items()},
        notes=score.notes,
        beats=beats,
        mix_on_chord=mix_on,
        stems_on_chord=stems_on,
        melody_on_chord=melody_on_chord(arrangement, score),
    )
