"""`make demo`: arrangements/demo.yaml, a chord chart played by sketch stems, rendered through the CLI and the
Prefect flow (issue 23 point 7): music that follows its chart, parts, chords in every output."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import mido
import pytest
import rpp

from flows.schema import load_arrangement
from flows.schema.score import arrangement_score
from tests.conftest import DEMO
from tests.support.bench_scripts import load_bench

pytestmark = pytest.mark.slow

ARRANGEMENT = load_arrangement(DEMO)
STEMS = [s.name for s in ARRANGEMENT.stems]
SCORE = arrangement_score(ARRANGEMENT)
assert SCORE is not None
SYMBOLS = [c.symbol for c in SCORE.chords]


@pytest.fixture(scope="module")
def demo(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from flows.cli import main

    out = tmp_path_factory.mktemp("demo")
    assert main(["render", str(DEMO), "-o", str(out), "--quiet"]) == 0
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return folder


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def test_every_stem_is_a_sketch_of_its_part_with_nothing_to_clean(demo: Path) -> None:
    manifest = _manifest(demo)
    assert sorted(manifest["score"]["parts"]) == sorted(STEMS)
    for name in STEMS:
        assert (demo / "score" / f"{name}.mid").is_file()
        record = manifest["stems"][name]
        assert record["generation"]["model"] == "sketch" and record["generation"]["guide"] is None
        assert "sketch" in record["refine"]["skipped"] and record["refine"]["cleaned"] is False
        assert "already on the grid" in record["conform"]["reason"]
    assert manifest["stems"]["bass"]["conform"]["error_before_ms"] < 40  # measured on the grid


def test_the_mix_follows_its_chart_reads_its_tempo_and_key(demo: Path) -> None:
    manifest = _manifest(demo)
    adherence = manifest["score"]["adherence"]
    assert adherence["beats"] == 80 and adherence["mix"] >= 0.85
    assert adherence["stems"]["drums"] is None and adherence["stems"]["keys"] >= 0.85
    analysis = manifest["mix"]["analysis"]
    assert analysis["tempo_bpm"] == pytest.approx(ARRANGEMENT.bpm, abs=0.5)
    assert analysis["key"] == ARRANGEMENT.key


def test_an_independent_recogniser_agrees(demo: Path) -> None:
    bench = load_bench("demo_chords")
    result = bench.measure(demo)
    assert result["goals"] == {"ours": True, "independent": True}, result


def test_the_track_midi_has_the_chords_as_block_chords_and_markers(demo: Path) -> None:
    midi = mido.MidiFile(str(demo / "midi" / f"{demo.name}.mid"))
    assert [m.text for m in midi.tracks[0] if m.type == "marker"] == SYMBOLS
    names = {m.name for t in midi.tracks for m in t if m.type == "track_name"}
    assert set(STEMS) | {"chords"} <= names


def test_the_sessions_carry_chord_markers_and_the_parts(demo: Path) -> None:
    container = zipfile.ZipFile(demo / "session" / f"{demo.name}.dawproject")
    project = ET.fromstring(container.read("project.xml"))
    markers = [m.get("name") for m in project.findall("./Arrangement/Markers/Marker")]
    assert [m for m in markers if m not in {s.name for s in ARRANGEMENT.sections}] == SYMBOLS
    tracks = {t.get("name") for t in project.iter("Track")}
    assert {f"{s} (part)" for s in STEMS} <= tracks
    reaper = rpp.loads((demo / "session" / f"{demo.name}.rpp").read_text(encoding="utf-8"))
    names = [m[3] for m in reaper.findall("MARKER")]
    assert [n for n in names if n not in {s.name for s in ARRANGEMENT.sections}] == SYMBOLS
    assert {f"{s} (part)" for s in STEMS} <= {t.find("NAME")[1] for t in reaper.findall("TRACK")}


def test_the_report_shows_a_chord_lane_and_the_adherence(demo: Path) -> None:
    page = (demo / "report.html").read_text()
    lane = page[page.index('<div class="chords"') :]
    lane = lane[: lane.index("</div></div>") + len("</div>")]
    shown = re.findall(r'title="[^"]*">([^<]+)</div>', lane)
    assert shown == SYMBOLS  # one block per chord as played
    assert 'id="chords"' in page and "on the planned chord" in page
