"""The conform stage places a stem with a part by its part, whatever its family (issue 24 point 3): a bowed
string part played 4 % fast after a 120 ms lead by FluidSynth stands in for a generated stem; drums keep the beat
tracker and are checked against their groove; without chords the beats place every stem."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from flows.pipeline import score, stages
from flows.pipeline.paths import RenderPaths
from flows.schema import Arrangement, parse_arrangement
from flows.schema.score import arrangement_score
from stems.audio import read_audio, write_wav
from stems.conform.analysis import ANALYSIS_RATE
from stems.conform.scored import PLACED_BY_BEATS, PLACED_BY_SCORE, score_map
from stems.score.sketch import render_part
from stems.streaming import as_signal
from stems.transcription.midi import Note

pytestmark = pytest.mark.slow
HEAD = "title: T\nbpm: 100\nkey: A minor\nduration: 24\nseed: 5\n"
CHART = 'chords: "Am | F | C/E | G7"\n'
STEMS = (
    "stems:\n"
    "  - {name: strings, prompt: slow strings, model: debug-melody, midi: strings}\n"
    "  - {name: drums, prompt: kit, model: debug-melody, midi: drums}\n"
)
FAST, LEAD = 0.96, 0.12  # the stand-in plays each note at LEAD + FAST x its time


def _song(tmp_path: Path, body: str) -> Arrangement:
    path = tmp_path / "song.yaml"
    path.write_text(body)
    return parse_arrangement(body, path)


def _play_off_tempo(song: Arrangement, stem: str, paths: RenderPaths) -> tuple[Note, ...]:
    """Render ``stem``'s part off the grid into its cleaned file (what the clean stage would leave)."""
    planned = arrangement_score(song)
    part = score.stem_part(song, song.stem(stem))
    assert planned is not None and part is not None
    moved = tuple(Note(LEAD + n.start * FAST, LEAD + n.end * FAST, n.pitch, n.velocity) for n in part.notes)
    audio = render_part(replace(part, notes=moved), planned, 32_000, 2)
    paths.cleaned(stem).parent.mkdir(parents=True, exist_ok=True)
    write_wav(paths.cleaned(stem), audio)
    return part.notes


def test_a_string_stem_with_a_part_is_placed_note_by_note(tmp_path: Path) -> None:
    song = _song(tmp_path, HEAD + CHART + STEMS)
    paths = RenderPaths(tmp_path / "out", "t")
    notes = _play_off_tempo(song, "strings", paths)
    record = stages.conform_stem(song, song.stem("strings"), paths)
    assert record.applied and record.method == PLACED_BY_SCORE, record.reason
    assert "aligned to the part" in record.reason
    assert record.moved_ms is not None and record.moved_ms > 100  # the lead, and 4 % of up to 24 s
    out = read_audio(paths.stem("strings"))
    again = score_map(as_signal(out, ANALYSIS_RATE), out.duration, notes, family="strings").alignment
    error = np.abs(again.audio - again.score)
    assert np.median(error) <= 0.03, np.round(error, 3)
    assert stages.conform_stem(song, song.stem("strings"), paths).reused is True


def test_drums_keep_the_beats_and_are_checked_against_their_groove(tmp_path: Path) -> None:
    song = _song(tmp_path, HEAD + CHART + STEMS)
    paths = RenderPaths(tmp_path / "out", "t")
    _play_off_tempo(song, "drums", paths)
    record = stages.conform_stem(song, song.stem("drums"), paths)
    assert record.applied and record.method == PLACED_BY_BEATS, record.reason
    assert "drum onsets against the groove's: F" in record.reason
    f = float(record.reason.split("groove's: F ")[1][:4])
    assert f >= 0.5, record.reason


def test_without_chords_a_string_stem_is_placed_by_its_beats(tmp_path: Path) -> None:
    with_chords = _song(tmp_path, HEAD + CHART + STEMS)
    paths = RenderPaths(tmp_path / "out", "t")
    _play_off_tempo(with_chords, "strings", paths)
    song = _song(tmp_path, HEAD + STEMS)
    record = stages.conform_stem(song, song.stem("strings"), paths)
    assert record.method in (PLACED_BY_BEATS, None), record.reason
    assert "aligned to the part" not in record.reason


def test_a_stem_that_does_not_play_its_part_is_placed_by_its_beats(tmp_path: Path) -> None:
    """A generated stem may ignore its part (here a drum groove stands in for the strings' audio): the aligner
    says it does not follow, and the beats place it."""
    song = _song(tmp_path, HEAD + CHART + STEMS)
    paths = RenderPaths(tmp_path / "out", "t")
    _play_off_tempo(song, "drums", paths)
    paths.cleaned("drums").rename(paths.cleaned("strings"))
    record = stages.conform_stem(song, song.stem("strings"), paths)
    assert record.reason.startswith("the audio does not follow its part"), record.reason
    assert "by its beats" in record.reason and record.method in (PLACED_BY_BEATS, None)
