"""Takes in a render (issue 25 points 1 and 2): a stem with ``takes: K`` is generated as K rows of one batch,
each take separated, cleaned, conformed and scored on its own, the best installed as the stem; through the CLI
and the Prefect flow, on debug models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from flows.cli import main
from stems.takes import WEIGHTS

pytestmark = pytest.mark.slow

SONG = """\
title: Takes Song
bpm: 120
key: A minor
duration: 8
seed: 3
model: debug
separation_model: debug
chords: "Am | Dm | E7 | Am"
stems:
  - {name: drums, prompt: tight funk drums, midi: drums}
  - {name: bass, prompt: warm electric bass, midi: bass, takes: 3, separate: bass}
  - {name: keys, prompt: rhodes chords, midi: keys, takes: 2}
"""
TAKES = {"bass": 3, "keys": 2}


@pytest.fixture(scope="module")
def rendered(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    work = tmp_path_factory.mktemp("takes")
    (work / "song.yaml").write_text(SONG)
    assert main(["render", str(work / "song.yaml"), "-o", str(work / "out"), "--quiet"]) == 0
    folder = work / "out" / "takes-song"
    return folder, json.loads((folder / "manifest.json").read_text())


def test_every_take_is_a_file_as_it_would_stand_in_stems(rendered: tuple[Path, dict[str, Any]]) -> None:
    folder, manifest = rendered
    listed = {f["path"] for f in manifest["files"]}
    for stem, count in TAKES.items():
        for k in range(1, count + 1):
            path = folder / "takes" / stem / f"{k}.wav"
            info = sf.info(str(path))
            assert info.frames == 8 * info.samplerate and f"takes/{stem}/{k}.wav" in listed
    assert not (folder / "takes" / "drums").exists() and "takes" not in manifest["stems"]["drums"]


def test_the_takes_are_rows_of_one_batch_with_their_own_seeds(rendered: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = rendered
    batch = manifest["stems"]["drums"]["generation"]["batch"]
    assert sorted(batch) == sorted(["drums", "bass#1", "bass#2", "bass#3", "keys#1", "keys#2"])
    for stem in TAKES:
        takes = manifest["stems"][stem]["takes"]
        seeds = [t["seed"] for t in takes]
        assert len(set(seeds)) == len(seeds) and [t["take"] for t in takes] == list(range(1, len(takes) + 1))
        picked = next(t for t in takes if t["picked"])
        assert manifest["stems"][stem]["generation"]["seed"] == picked["seed"]
    assert manifest["stems"]["bass"]["takes"][0]["seed"] == 1759370498  # take 1 keeps the stem's own seed


def test_the_best_take_is_the_stem_and_every_term_is_in_the_manifest(
    rendered: tuple[Path, dict[str, Any]],
) -> None:
    folder, manifest = rendered
    for stem in TAKES:
        takes = manifest["stems"][stem]["takes"]
        (picked,) = [t for t in takes if t["picked"]]
        best = max(t["total"] for t in takes)
        assert picked["total"] == best and picked == next(t for t in takes if t["total"] == best)
        assert (folder / "stems" / f"{stem}.wav").read_bytes() == (folder / picked["file"]).read_bytes()
        for take in takes:
            assert set(take["scores"]) == set(WEIGHTS)
            assert all(term["weight"] == WEIGHTS[name] for name, term in take["scores"].items())
            assert take["scores"]["harmony"]["value"] is not None  # the part (chords) it was asked to play
        measured_bleed = [t["scores"]["bleed"]["value"] is not None for t in takes]
        assert all(measured_bleed) if stem == "bass" else not any(measured_bleed)  # only bass is separated


def test_a_rerender_reuses_every_take_and_keeps_the_pick(rendered: tuple[Path, dict[str, Any]]) -> None:
    folder, manifest = rendered
    song = folder.parent.parent / "song.yaml"
    assert main(["render", str(song), "-o", str(folder.parent), "--force", "--quiet"]) == 0
    again = json.loads((folder / "manifest.json").read_text())
    assert set(again["reused"]["generate"]) == {"drums", "bass", "keys"}
    assert set(again["reused"]["conform"]) == {"drums", "bass", "keys"}
    for stem in TAKES:
        assert again["stems"][stem]["takes"] == manifest["stems"][stem]["takes"]
    stages = {p.name for p in (folder / ".musicmaker" / "stages").iterdir()}
    assert {f"generate.bass#{k}.json" for k in (1, 2, 3)} <= stages  # each take cached on its own
    assert {f"conform.keys#{k}.json" for k in (1, 2)} <= stages
    assert {f"score.bass#{k}.json" for k in (1, 2, 3)} <= stages  # and its scores


def test_the_report_plays_every_take_and_shows_its_scores_with_the_pick_marked(
    rendered: tuple[Path, dict[str, Any]],
) -> None:
    folder, manifest = rendered
    page = (folder / "report.html").read_text()
    for stem, count in TAKES.items():
        for k in range(1, count + 1):
            assert f'<audio controls preload="metadata" src="takes/{stem}/{k}.wav"></audio>' in page
        picked = next(t for t in manifest["stems"][stem]["takes"] if t["picked"])
        assert (
            f'<tr class="picked"><td>{picked["take"]} ✓ picked</td><td class=num>{picked["total"]:.3f}</td>'
            in page
        )
    assert page.count('<div class="takes-scores">') == len(TAKES)  # drums: no takes, no table
    assert "harmony x2" in page and "bleed x1" in page


def test_pick_makes_another_take_the_stem_and_redoes_only_what_depends_on_it(
    rendered: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = rendered
    before = json.loads((folder / "manifest.json").read_text())
    other = next(t["take"] for t in before["stems"]["bass"]["takes"] if not t["picked"])
    capsys.readouterr()
    assert main(["pick", str(folder), "bass", str(other), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    after = json.loads((folder / "manifest.json").read_text())
    takes = after["stems"]["bass"]["takes"]
    assert [(t["take"], t["picked"], t["picked_by"]) for t in takes if t["picked"]] == [(other, True, "pick")]
    assert printed["takes"] == takes and printed["take"] == other
    assert (folder / "stems" / "bass.wav").read_bytes() == (folder / f"takes/bass/{other}.wav").read_bytes()
    reused = after["reused"]
    assert (
        "bass" in reused["generate"] and "bass" in reused["conform"]
    )  # nothing generated or conformed again
    assert "bass" not in reused["transcribe"] and {"drums", "keys"} <= set(reused["transcribe"])
    assert reused["mix_and_master"] is False  # the mix is made again with the new take
    assert after["stems"]["keys"]["takes"] == before["stems"]["keys"]["takes"]


def test_a_stem_rendered_again_without_takes_leaves_no_take_files_behind(
    rendered: tuple[Path, dict[str, Any]],
) -> None:
    folder, _ = rendered
    song = folder.parent.parent / "song.yaml"
    song.write_text(SONG.replace(", takes: 2}", "}"))
    assert main(["render", str(song), "-o", str(folder.parent), "--force", "--quiet"]) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "takes" not in manifest["stems"]["keys"] and not list((folder / "takes" / "keys").glob("*.wav"))
    assert not [f for f in manifest["files"] if f["path"].startswith("takes/keys/")]
    assert len(manifest["stems"]["bass"]["takes"]) == 3
