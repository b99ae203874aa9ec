"""`musicmaker analyze --chords` (issue 23 point 6): a triad per beat of a file, in text and JSON, measured
against the chart the file was played from (a FluidSynth sketch of a known chart: real synthesised audio)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.cli import main
from mixing.export import export_audio
from stems.conform.chords import PITCH_NAMES, BeatChord, chord_adherence
from stems.conform.files import chords_file
from stems.instruments import resolve_instrument
from stems.score import SectionChart, lay_out, make_part, render_part
from stems.transcription.midi import TempoMap

pytestmark = pytest.mark.slow

CHART = "C | Am | F | G7 | Em | Am | Dm | G"


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """Piano comping over CHART at 100 bpm (16 bars), as a 16-bit WAV."""
    score = lay_out(TempoMap(100.0, 4, 4), 38.4, [SectionChart("a", 16)], CHART)
    part = make_part("piano", resolve_instrument("piano"), score, seed=1)
    audio = render_part(part, score, 44_100, 2)
    path = tmp_path_factory.mktemp("chords") / "piano.wav"
    export_audio(audio, path, "wav", 16)
    return path, score


def test_the_json_gives_a_chord_per_beat_on_the_planned_chords(
    played: tuple[Path, object], capsys: pytest.CaptureFixture[str]
) -> None:
    path, score = played
    assert main(["analyze", str(path), "--bpm", "100", "--chords", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["chords"]) == len(result["beats"]) >= 60
    recognised = tuple(BeatChord(c["time"], c["end"], *_parse(c["chord"])) for c in result["chords"])
    fraction = chord_adherence(recognised, score.chords).fraction  # type: ignore[attr-defined]
    assert fraction is not None and fraction >= 0.85, fraction
    # the control: the same beats against the chart a whole tone up score near nothing
    shifted = lay_out(
        TempoMap(100.0, 4, 4), 38.4, [SectionChart("a", 16)], "D | Bm | G | A7 | F#m | Bm | Em | A"
    )
    miss = chord_adherence(recognised, shifted.chords).fraction
    assert miss is not None and miss < 0.2


def _parse(label: str) -> tuple[int | None, str | None]:
    if label == "N":
        return None, None
    root, quality = label.split(":")
    return PITCH_NAMES.index(root), quality


def test_the_text_shows_a_line_per_bar(
    played: tuple[Path, object], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = played
    assert main(["analyze", str(path), "--bpm", "100", "--chords"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("chords")]
    assert 15 <= len(lines) <= 17
    assert lines[0].split()[3] == "C:maj" and lines[1].split()[3] == "A:min"


def test_chords_file_equals_the_json(played: tuple[Path, object]) -> None:
    path, _ = played
    chords = chords_file(path, [0.6 * k for k in range(60)])
    assert [c.label for c in chords[:4]] == ["C:maj"] * 4
