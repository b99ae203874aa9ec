"""The conform stage of a render, on real audio: a FluidSynth band off the arranged tempo is put on the grid
before transcription and the mix, the manifest and the report say what was measured and done, and the stage
is cached like the others."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flows.pipeline import stages
from flows.pipeline.paths import prepare_render_folder
from flows.pipeline.records import ConformRecord
from flows.schema import parse_arrangement
from stems.audio import write_wav
from stems.conform import analyze
from tests.stems.conform.test_conform import beat_grid, f_measure, render

SONG = """title: Conform Song
bpm: 120
key: A minor
duration: 16
model: debug
stems:
  - {{name: band, prompt: a band, midi: keys{conform}}}
"""


@pytest.fixture(scope="module")
def off_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """18 s of a band at 112 bpm with a 150 ms lead-in: off the arranged 120 bpm in tempo and phase."""
    work = tmp_path_factory.mktemp("off-grid")
    audio = render(work / "band", beat_grid(34, 112.0, 0.15))
    write_wav(work / "band.wav", audio)
    return work / "band.wav"


def _stage(tmp_path: Path, source: Path, conform: str = "") -> tuple[ConformRecord, object, object]:
    arrangement = parse_arrangement(SONG.format(conform=conform), tmp_path / "song.yaml")
    paths = prepare_render_folder(arrangement.title, tmp_path / "out", force=True)
    paths.cleaned("band").parent.mkdir(parents=True, exist_ok=True)
    paths.cleaned("band").write_bytes(source.read_bytes())  # what cleanup would have written
    return stages.conform_stem(arrangement, arrangement.stem("band"), paths), arrangement, paths  # type: ignore[arg-type]


def test_a_stem_off_the_grid_is_conformed_before_transcription(tmp_path: Path, off_grid: Path) -> None:
    record, arrangement, paths = _stage(tmp_path, off_grid)
    assert record.applied is True and record.reused is False, record.reason
    assert abs((record.before.tempo_bpm or 0.0) - 112.0) < 1.5 and record.before.key == "A minor"
    assert (record.error_before_ms or 0.0) > 50 > 15 > (record.error_after_ms or 99.0)
    out, rate = sf.read(str(paths.stem("band")), always_2d=True)  # type: ignore[attr-defined]
    assert out.shape[0] == round(16 * rate)  # exactly duration x rate
    from stems.audio import read_audio

    found = analyze(read_audio(paths.stem("band")), bpm_hint=120.0)  # type: ignore[attr-defined]
    grid = np.arange(0.0, 16.0, 0.5)  # bar 1 beat 1 at 0 s, 120 bpm
    assert f_measure(grid, found.beats) >= 0.95
    track = stages.transcribe_stem(arrangement, arrangement.stem("band"), paths).track  # type: ignore[arg-type]
    assert track is not None
    onsets = np.array([n.start for n in track.notes])
    on_grid = np.abs(onsets - np.round(onsets / 0.5) * 0.5) < 0.05  # every chord starts on a beat
    assert on_grid.mean() > 0.8, onsets[~on_grid]
    again, _, _ = _stage(tmp_path, off_grid)
    assert again.reused is True and again.error_after_ms == record.error_after_ms
    assert replace(again, reused=False) == record  # the cached record reads back as the one written


def test_conform_off_and_weak_beats_leave_the_stem_as_it_is(tmp_path: Path, off_grid: Path) -> None:
    record, _, paths = _stage(tmp_path / "off", off_grid, ", conform: {tempo: false}")
    assert record.applied is False and "off" in record.reason
    source, _ = sf.read(str(off_grid), always_2d=True)
    out, rate = sf.read(str(paths.stem("band")), always_2d=True)  # type: ignore[attr-defined]
    assert np.array_equal(out[: len(source)], source[: len(out)])
    noise = tmp_path / "noise.wav"
    sf.write(noise, 0.1 * np.random.default_rng(1).standard_normal((16 * 32000, 2)).astype(np.float32), 32000)
    record, _, _ = _stage(tmp_path / "noise", noise)
    assert record.applied is False and "no steady beat" in record.reason


def test_manifest_and_report_show_the_analysis(debug_render: Path) -> None:
    manifest = json.loads((debug_render / "manifest.json").read_text())
    for record in manifest["stems"].values():
        assert {"applied", "reason", "before"} <= set(record["conform"])
    assert "tempo_bpm" in manifest["mix"]["analysis"] and "key" in manifest["mix"]["analysis"]
    assert "conform" in manifest["timings"] and "conform" in manifest["reused"]
    page = (debug_render / "report.html").read_text()
    assert 'id="grid"' in page and "Tempo and key" in page and "measured on the master" in page


def test_a_render_without_rubberband_stops_before_any_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli import main
    from stems.conform import warp

    monkeypatch.setattr(warp.shutil, "which", lambda name: None)
    song = tmp_path / "song.yaml"
    song.write_text(SONG.format(conform=""))
    assert main(["render", str(song), "-o", str(tmp_path / "out")]) == 2
    assert "rubberband was not found" in capsys.readouterr().err and not (tmp_path / "out").exists()
    song.write_text(SONG.format(conform=", conform: {tempo: false}"))
    assert main(["render", str(song), "-o", str(tmp_path / "out"), "--dry-run", "--quiet"]) == 0
