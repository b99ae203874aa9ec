"""Issue 25 point 4: ``musicmaker rank AUDIO...`` scores any audio files on the same measures (``stems.takes``)
and lists them best first.

The takes are one band (``test_conform_grid.band``: bass, piano and drums in A minor, a bar each of Am, F, Dm
and Em, at 100.5 bpm) rendered by FluidSynth as it was written, a semitone sharp, 6 % fast, and clipped (x8
into flat tops at full scale). Measured (``--chords "Am | F | Dm | Em" --key "A minor"``): the band as written
0.973, the fast one 0.903 (tempo 0.399), the clipped one 0.863 (clipping 0), the sharp one 0.641 (harmony and
key 0); every take scores 0.77 on silence (the render's 6 s reverb tail).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from flows.cli import main
from stems.takes import WEIGHTS
from tests.flows.cli.test_conform_grid import PLAYED, SOUNDFONT, band, fluidsynth

CHART = "Am | F | Dm | Em"  # what band() plays: PROGRESSION's degrees of A minor, a bar each
FAST = 1.06
TAKES = ("good", "sharp", "clipped", "fast")
renders = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not SOUNDFONT.is_file(),
    reason="needs fluidsynth and the GM soundfont (make install)",
)


@pytest.fixture(scope="module")
def takes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The four takes of the band, and the band's MIDI file (``score``)."""
    import pretty_midi

    folder = tmp_path_factory.mktemp("takes")
    good = band(folder / "good.wav", pickup=0, chords=True)
    score = folder / "good.mid"  # what fluidsynth() played

    def changed(name: str, change: Any) -> Path:
        midi = pretty_midi.PrettyMIDI(str(score))
        for instrument in midi.instruments:
            for note in instrument.notes:
                change(instrument, note)
        return fluidsynth(midi, folder / f"{name}.wav")

    def sharp(instrument: Any, note: Any) -> None:
        note.pitch += 0 if instrument.is_drum else 1

    def fast(_: Any, note: Any) -> None:
        note.start, note.end = note.start / FAST, note.end / FAST

    samples, rate = sf.read(str(good), dtype="float32")
    sf.write(str(folder / "clipped.wav"), np.clip(8.0 * samples, -1.0, 1.0), rate, subtype="FLOAT")
    made = {"good": good, "sharp": changed("sharp", sharp), "fast": changed("fast", fast)}
    return {**made, "clipped": folder / "clipped.wav", "score": score}


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["rank", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def ranked(capsys: pytest.CaptureFixture[str], takes: dict[str, Path], *flags: str) -> list[dict[str, Any]]:
    code, out, err = run(capsys, *(takes[t] for t in TAKES), "--json", *flags)
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [Path(r["file"]).stem for r in rows]


@renders
def test_the_take_that_plays_the_chart_in_time_ranks_first_and_each_other_loses_on_its_fault(
    takes: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ranked(capsys, takes, "--bpm", f"{PLAYED:g}", "--chords", CHART, "--key", "A minor")
    assert names(rows)[0] == "good", [(r["file"], r["total"]) for r in rows]
    assert all(set(r) == {"file", "scores", "total"} and list(r["scores"]) == list(WEIGHTS) for r in rows)
    assert all(set(term) == {"value", "weight", "figure"} for r in rows for term in r["scores"].values())
    totals = [r["total"] for r in rows]
    assert totals == sorted(totals, reverse=True)
    by = {Path(r["file"]).stem: r["scores"] for r in rows}
    good = by["good"]
    assert good["harmony"]["value"] >= 0.9 and good["key"]["value"] == 1.0  # measured 1.0 and 1.0
    assert by["sharp"]["harmony"]["value"] <= 0.25 and by["sharp"]["key"]["value"] == 0.0  # measured 0, 0
    assert by["clipped"]["clipping"]["value"] == 0.0 and good["clipping"]["value"] == 1.0
    assert by["fast"]["tempo"]["figure"] == pytest.approx(FAST - 1.0, abs=0.01)  # measured 0.060
    assert good["bleed"]["value"] is None and good["guide"]["value"] is None  # nothing separated, no guide


@renders
def test_the_text_lists_the_takes_best_first_under_the_terms_measured_and_their_weights(
    takes: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """With --key alone harmony is not measured, so neither it nor bleed and guide get a column."""
    code, out, err = run(capsys, *(takes[t] for t in TAKES), "--bpm", f"{PLAYED:g}", "--key", "A minor")
    assert code == 0, err
    header, *rows, footer = out.strip().split("\n")
    assert header.split()[:3] == ["rank", "total", "file"] and "key x1" in header and "tuning x1" in header
    assert not any(word in header for word in ("harmony", "bleed", "guide"))
    assert [row.split()[0] for row in rows] == ["1", "2", "3", "4"]
    assert Path(rows[0].split()[2]).stem == "good", out
    assert sorted(Path(row.split()[2]).stem for row in rows) == sorted(TAKES)
    assert len(rows[0].split()) == 3 + header.count(" x")  # a value under each term
    assert "weighted mean" in footer


@renders
def test_with_a_score_harmony_is_judged_against_its_notes(
    takes: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--score takes the MIDI file's tempo when --bpm is not given, as conform --score does."""
    rows = ranked(capsys, takes, "--score", str(takes["score"]))
    by = {Path(r["file"]).stem: r["scores"] for r in rows}
    assert names(rows)[0] == "good", [(r["file"], r["total"]) for r in rows]
    assert by["good"]["harmony"]["value"] >= 0.9 and by["sharp"]["harmony"]["value"] <= 0.25  # 1.0, 0.0
    assert by["good"]["beat_stability"]["figure"] == pytest.approx(PLAYED, abs=0.5)  # the score's 100.5 bpm


@pytest.fixture
def tone(tmp_path: Path) -> Path:
    """A second of A440: the mistakes below are refused before any file is measured."""
    path = tmp_path / "tone.wav"
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(44_100) / 44_100), 44_100)
    return path


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["missing.wav", "--bpm", "120"], "missing.wav: audio file not found"),
        (["TONE", "--bpm", "120", "--key", "H minor"], "key 'H minor' is not a key"),
        (["TONE", "--bpm", "120", "--chords", "Am | | F"], "--chords 'Am | | F': bar 2 of the chord chart"),
        (["TONE", "--bpm", "120", "--chords", "Am | Xq7"], "--chords 'Am | Xq7': chord symbol 'Xq7'"),
        (["TONE", "--chords", "Am", "--score", "TONE"], "--chords and --score both"),
        (["TONE", "--score", "BAD"], "bad.mid: cannot read it as a MIDI file"),
        (["TONE"], "rank needs --bpm N"),
    ],
)
def test_a_mistake_exits_2_with_one_line_that_names_it(
    flags: list[str], said: str, tone: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a MIDI file")
    paths = {"TONE": str(tone), "BAD": str(bad), "missing.wav": str(tmp_path / "missing.wav")}
    code, out, err = run(capsys, *(paths.get(f, f) for f in flags))
    assert code == 2 and out == ""
    assert len(err.strip().split("\n")) == 1 and err.startswith("error: ") and said in err, err
