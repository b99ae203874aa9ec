"""manifest.json on its own: the document a render writes, what it lists, how a rewrite keeps it true, and the keys
that renders made before a rename still carry (the report reads them)."""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from flows.pipeline.manifest import (
    CLEAN_RECORD,
    CLEAN_TIMING,
    MANIFEST_VERSION,
    build_manifest,
    file_entry,
    list_outputs,
    refresh_files,
    report_files,
    write_manifest,
)
from flows.pipeline.paths import REPORT_DIR, REPORT_NAME, TRACK_MANIFEST
from flows.pipeline.records import TrackManifest
from flows.report.track import settings_section, timings_section


def _folder(root: Path) -> Path:
    """A render folder with outputs, hidden state, a half-written temp file and a report."""
    files = {
        "mix.wav": b"mix",
        "stems/keys.wav": b"keys",
        "midi/keys.mid": b"MThd",
        TRACK_MANIFEST: b"{}",
        ".musicmaker/stages/mix.mix.json": b"{}",
        "stems/.keys.ab12.part.wav": b"half",
        REPORT_NAME: b"<html>",
        f"{REPORT_DIR}/mix.png": b"png",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_build_manifest_wraps_the_sections_with_versions_and_platform() -> None:
    manifest = build_manifest(title="Song", stems={"keys": {}}, files=[])
    assert list(manifest)[:5] == ["manifest_version", "created", "title", "stems", "files"]
    assert manifest["manifest_version"] == MANIFEST_VERSION == 1
    assert manifest["packages"]["musicmaker"] == metadata.version("musicmaker")
    assert set(manifest["platform"]) == {"python", "system", "machine"}
    assert manifest["created"].endswith("+00:00")  # UTC, to the second


def test_write_manifest_round_trips_and_leaves_no_temp_file(tmp_path: Path) -> None:
    document = build_manifest(title="Song", source=Path("/songs/song.yaml"), timings={"total": 1.5}, files=[])
    path = tmp_path / TRACK_MANIFEST
    write_manifest(path, document)
    text = path.read_text()
    assert text.endswith("}\n") and json.loads(text) == {**document, "source": "/songs/song.yaml"}
    assert [p.name for p in tmp_path.iterdir()] == [TRACK_MANIFEST]


def test_list_outputs_lists_finished_visible_files_with_their_hashes(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    listed = list_outputs(folder, skip=(REPORT_NAME, REPORT_DIR))
    assert [e["path"] for e in listed] == ["midi/keys.mid", "mix.wav", "stems/keys.wav"]
    assert listed[1] == {"path": "mix.wav", "bytes": 3, "sha256": hashlib.sha256(b"mix").hexdigest()}
    every = [e["path"] for e in list_outputs(folder)]
    assert REPORT_NAME in every and f"{REPORT_DIR}/mix.png" in every and TRACK_MANIFEST not in every


def test_refresh_files_keeps_the_manifest_true_after_a_report_rewrite(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "gone.wav").write_bytes(b"x")
    listed = [file_entry(folder, folder / rel) for rel in ("mix.wav", "gone.wav", REPORT_NAME)]
    write_manifest(folder / TRACK_MANIFEST, build_manifest(title="Song", files=listed))
    (folder / "gone.wav").unlink()
    (folder / REPORT_NAME).write_bytes(b"<html>new</html>")
    refresh_files(folder / TRACK_MANIFEST, report_files(folder, REPORT_NAME, REPORT_DIR))
    manifest = json.loads((folder / TRACK_MANIFEST).read_text())
    assert [e["path"] for e in manifest["files"]] == ["mix.wav", REPORT_NAME, f"{REPORT_DIR}/mix.png"]
    assert manifest["files"][1]["sha256"] == hashlib.sha256(b"<html>new</html>").hexdigest()
    assert manifest["title"] == "Song"


def test_refresh_files_reads_a_manifest_without_a_file_list(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / TRACK_MANIFEST).write_text(json.dumps({"title": "Old"}))
    refresh_files(folder / TRACK_MANIFEST, [folder / REPORT_NAME])
    assert json.loads((folder / TRACK_MANIFEST).read_text()) == {
        "title": "Old",
        "files": [file_entry(folder, folder / REPORT_NAME)],
    }


# --- renders made before the cleanup stage was called "clean" ----------------------------------------------------


def _old_manifest() -> dict[str, Any]:
    """The keys of a version-1 manifest written before the rename (tests/flows/report/test_report.py has a whole one)."""
    separation = {
        "model": "htdemucs",
        "source": "drums",
        "seconds": 1.25,
        "reused": False,
        "batch": ["drums"],
    }
    return {
        "manifest_version": 1,
        "arrangement": {"model": "debug", "generation": {}, "master": {"lufs": -14}},
        "stems": {
            "drums": {
                "generation": {"model": "debug", "seed": 3, "seconds": 2.0},
                "refine": {"separation": separation, "cleaned": True, "seconds": 0.75},
                "midi": {"instrument": "drums", "notes": 12, "seconds": 0.5},
            }
        },
        "timings": {"generate": 2.0, "separate_and_clean": 2.0, "transcribe": 0.5, "mix_and_master": 0.3},
    }


def test_the_clean_stage_keeps_the_manifest_keys_of_old_renders() -> None:
    assert (CLEAN_RECORD, CLEAN_TIMING) == ("refine", "separate_and_clean")


@pytest.mark.parametrize("section", [settings_section, timings_section])
def test_an_old_render_still_reports_its_cleanup(section: Any) -> None:
    html = section(TrackManifest.from_json(_old_manifest()))
    figures = ("htdemucs → drums", "True") if section is settings_section else ("0.75", "1.25", "2.00")
    assert all(figure in html for figure in figures), html
