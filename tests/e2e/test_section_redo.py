"""Redo one section of one stem (issue 26) through the CLI and the Prefect flow, on debug models: the stem and the
stem that follows it get the bars again, every other sample stays, every later stage of theirs is redone and
the other stems are reused; the refusals; the preview. The pipeline-level cases (cache reuse, reset, stereo, band,
takes, bars at the ends) are in tests/flows/pipeline/test_redo.py; the preview's audio against the redo's in
tests/flows/pipeline/test_preview.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from flows.cli import main

pytestmark = pytest.mark.slow

SONG = """\
title: Redo Song
bpm: 120
key: A minor
duration: 12
seed: 3
model: debug
separation_model: debug
sections:
  - {name: verse, bars: 2, prompt: sparse}
  - {name: chorus, bars: 2, prompt: loud and full}
  - {name: verse, bars: 2, prompt: sparse}
stems:
  - {name: drums, prompt: tight funk drums, midi: drums}
  - {name: bass, prompt: warm electric bass, midi: bass}
  - {name: lead, prompt: synth lead, model: debug-melody, follow: bass}
"""
CHORUS = (4.0, 8.0)  # bars 3-4 at 120 bpm in 4/4


def _read(path: Path) -> np.ndarray:
    return sf.read(str(path), dtype="float32", always_2d=True)[0]


@pytest.fixture(scope="module")
def redone(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A render, a copy of its raw audio and manifest, then the chorus of bass redone."""
    work = tmp_path_factory.mktemp("redo")
    (work / "song.yaml").write_text(SONG)
    out = work / "out"
    assert main(["render", str(work / "song.yaml"), "-o", str(out), "--quiet"]) == 0
    folder = out / "redo-song"
    shutil.copytree(folder / "raw", work / "before")
    before = json.loads((folder / "manifest.json").read_text())
    argv = [
        "render",
        str(work / "song.yaml"),
        "-o",
        str(out),
        "--force",
        "--only",
        "bass",
        "--section",
        "chorus",
    ]
    assert main([*argv, "--quiet"]) == 0
    return {
        "work": work,
        "folder": folder,
        "argv": argv,
        "before": before,
        "after": json.loads((folder / "manifest.json").read_text()),
    }


def test_the_section_is_new_and_every_other_sample_is_kept(redone: dict[str, Any]) -> None:
    folder, work = redone["folder"], redone["work"]
    for stem, changed in (("bass", True), ("lead", True), ("drums", False)):
        old, new = _read(work / "before" / f"{stem}.wav"), _read(folder / "raw" / f"{stem}.wav")
        rate = sf.info(str(folder / "raw" / f"{stem}.wav")).samplerate
        a, b = round(CHORUS[0] * rate), round(CHORUS[1] * rate)
        assert old.shape == new.shape
        assert np.array_equal(old[:a], new[:a]) and np.array_equal(old[b:], new[b:]), stem
        assert (not np.array_equal(old[a:b], new[a:b])) == changed, stem


def test_the_manifest_records_the_redo_and_later_stages_are_redone(redone: dict[str, Any]) -> None:
    after, before = redone["after"], redone["before"]
    for stem in ("bass", "lead"):
        (done,) = after["stems"][stem]["generation"]["sections"]
        assert done["section"] == "chorus" and done["bars"] == [3, 4]
        assert (done["start"], done["end"]) == CHORUS and len(done["seams"]) == 2
        assert done["seams"][0][0] == 4.0 and done["seams"][1][1] == 8.0
    assert "sections" not in after["stems"]["drums"]["generation"]
    reused = after["reused"]
    for stage in ("generate", "clean", "conform", "transcribe"):
        assert reused[stage] == ["drums"], stage
    assert reused["mix_and_master"] is False
    assert after["mix"] != before["mix"]
    files = {f["path"]: f["sha256"] for f in after["files"]}
    old_files = {f["path"]: f["sha256"] for f in before["files"]}
    for path in (
        "stems/bass.wav",
        "stems/lead.wav",
        "mix.wav",
    ):  # MIDI: redone (above); debug noise has no notes
        assert files[path] != old_files[path], path
    assert files["stems/drums.wav"] == old_files["stems/drums.wav"]
    report = (redone["folder"] / "report.html").read_text()
    assert report.count("Sections generated again") == 2 and "4.000-4.020, 7.980-8.000" in report


def test_running_the_same_redo_again_reuses_it(
    redone: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = redone["folder"]
    raw = (folder / "raw" / "bass.wav").read_bytes()
    assert main([*redone["argv"], "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert (
        said["reused"]["generate"] == ["bass", "drums", "lead"] and said["reused"]["mix_and_master"] is True
    )
    assert [s["bars"] for s in said["sections"]["bass"]] == [[3, 4]]
    assert (folder / "raw" / "bass.wav").read_bytes() == raw


def test_a_redo_is_refused_with_a_clear_message(
    redone: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    song, out = str(redone["work"] / "song.yaml"), str(redone["folder"].parent)
    cases = [
        (["--section", "chorus"], "name it with --only"),
        (["--only", "bass", "--section", "bridge"], "no section 'bridge'; it has verse:1 (bars 1-2), chorus"),
        (["--only", "bass", "--section", "verse"], "--section verse:2"),
        (["--only", "bass", "--bars", "6-9"], "the track has 6 bars"),
        (["--only", "bass", "--bars", "x"], "FIRST-LAST"),
    ]
    sections = (redone["folder"] / ".musicmaker" / "sections.json").read_bytes()
    for extra, said in cases:
        assert main(["render", song, "-o", out, "--force", *extra]) == 2, extra
        assert said in capsys.readouterr().err, extra
    fresh = str(redone["work"] / "fresh")
    assert main(["render", song, "-o", fresh, "--force", "--only", "bass", "--section", "chorus"]) == 2
    assert "has not been rendered" in capsys.readouterr().err
    assert (redone["folder"] / ".musicmaker" / "sections.json").read_bytes() == sections


def test_reset_sections_dry_run_says_what_stays(
    redone: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    song, out = str(redone["work"] / "song.yaml"), str(redone["folder"].parent)
    assert main(["render", song, "-o", out, "--only", "bass", "--reset-sections", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"sections": {}}  # lead follows bass: both dropped
    assert (
        main(["render", song, "-o", out, "--only", "bass", "--section", "verse:2", "--dry-run", "--json"])
        == 0
    )
    plan = json.loads(capsys.readouterr().out)["sections"]
    assert [r["bars"] for r in plan["bass"]] == [[3, 4], [5, 6]] and plan["lead"] == plan["bass"] == plan[
        "lead"
    ]


def test_preview_renders_the_section_of_every_stem_without_touching_the_render(
    redone: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, work = redone["folder"], redone["work"]
    manifest = (folder / "manifest.json").read_bytes()
    argv = ["render", str(work / "song.yaml"), "-o", str(folder.parent), "--section", "verse:2", "--preview"]
    assert main([*argv, "--json", "--seed", "11"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["from_render"] == ["drums", "bass", "lead"] and (said["start"], said["end"]) == (8.0, 12.0)
    for path in said["stems"]:
        info = sf.info(path)
        assert info.frames == 4 * info.samplerate
    assert sf.info(said["mix"]).frames > 0 and (folder / "manifest.json").read_bytes() == manifest
