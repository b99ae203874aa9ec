"""The typed per-stem records of manifest.json: read leniently (old renders), written back unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from flows.cli import main
from flows.pipeline.manifest import CLEAN_RECORD
from flows.pipeline.paths import REPORT_NAME, TRACK_MANIFEST
from flows.pipeline.records import StemRecord, mix_record, stem_records
from stems.audio import Audio
from stems.conform.records import Analysis, ConformResult
from tests.support import paths

OLD = paths.DATA / "manifest" / "old_v1.json"


def _analysis(bpm: float) -> Analysis:
    return Analysis(
        duration=2.0,
        tempo_bpm=bpm,
        tempo_confidence=0.9,
        beats=(0.0, 0.625),
        downbeat=0.02,
        downbeat_confidence=0.8,
        tuning_cents=3.0,
        tuning_confidence=0.7,
        key="A minor",
        key_confidence=0.6,
    )


def _new_record() -> dict[str, Any]:
    """A stem record with every section a current render writes (flows/orchestration/render.py ``finish_task``)."""
    conform = ConformResult(
        audio=Audio(np.zeros((1, 4), np.float32), 8000),
        applied=True,
        reason="stretched",
        before=_analysis(95.0),
        after=_analysis(96.0),
        error_before_ms=21.04,
        error_after_ms=3.0,
        stretch=1.0105,
        shift_cents=0.0,
    )
    window = {"index": 0, "start": 0.0, "end": 2.0, "text": "brushed kit"}
    return {
        "generation": {
            "model": "debug",
            "seed": 7,
            "batch": ["drums"],
            "sample_rate": 32000,
            "channels": 1,
            "windows": [window],
            "seconds": 2.0,
            "melody": None,
        },
        CLEAN_RECORD: {
            "separation": {"model": "htdemucs", "source": "drums", "seconds": 1.25},
            "cleaned": True,
            "seconds": 0.75,
        },
        "conform": {**conform.to_dict(), "seconds": 0.5, "reused": False},
        "midi": {
            "instrument": "drums",
            "program": 0,
            "is_drum": True,
            "notes": 12,
            "warnings": ["w"],
            "seconds": 0.5,
        },
        "loudness": {"integrated_lufs": -20.5, "true_peak_dbtp": None},
        "gain_db_applied": -1.5,
    }


def test_a_new_record_reads_typed_and_writes_back_byte_identical() -> None:
    written = _new_record()
    record = StemRecord.from_json(json.loads(json.dumps(written)))
    assert json.dumps(record.to_json(), indent=2) == json.dumps(written, indent=2)
    assert record.generation and record.generation.windows[0].text == "brushed kit"
    assert record.clean and record.clean.separation and record.clean.separation.source == "drums"
    assert (
        record.conform and record.conform.before.tempo_bpm == 95.0 and record.conform.error_before_ms == 21.0
    )
    assert record.midi and record.midi.drums and record.midi.program == 0 and record.midi.warnings == ("w",)
    assert record.loudness["true_peak_dbtp"] is None and record.gain_db_applied == -1.5


def test_an_old_record_reads_with_what_it_lacks_as_none() -> None:
    records = stem_records(json.loads(OLD.read_text()))
    drums, bass = records["drums"], records["bass"]
    assert drums.conform is None and drums.generation and drums.generation.windows == ()
    assert drums.clean and drums.clean.separation and drums.clean.separation.seconds == 1.25
    assert bass.clean and bass.clean.separation is None and bass.gain_db_applied is None
    assert (
        bass.midi
        and not bass.midi.drums
        and bass.midi.is_drum is None
        and bass.midi.warnings == ("few notes",)
    )


def test_records_of_the_wrong_type_read_as_missing() -> None:
    record = StemRecord.from_json(
        {"generation": "x", CLEAN_RECORD: [], "midi": {"notes": "many"}, "loudness": 3}
    )
    assert (record.generation, record.clean, record.conform) == (None, None, None)
    assert record.midi and record.midi.notes is None and record.loudness == {}
    assert stem_records({"stems": ["keys"]}) == {} and StemRecord.from_json(None).to_json() == {}


def test_an_old_render_still_reports_through_the_cli(tmp_path: Path) -> None:
    folder = tmp_path / "old-song"
    folder.mkdir()
    shutil.copy(OLD, folder / TRACK_MANIFEST)
    t = np.arange(11025) / 22050
    sf.write(folder / "mix.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050)
    assert main(["report", str(folder)]) == 0
    html = (folder / REPORT_NAME).read_text()
    for figure in ("htdemucs → drums", "0.75", "1.25", "−1.5", "−20.5", "upright", "Nobody"):
        assert figure in html, figure
    assert 'id="grid"' not in html  # rendered before the conform stage: no tempo and key table


def test_the_mix_record_reads_new_and_old_renders() -> None:
    new = {
        "master": {"integrated_lufs": -14.0},
        "master_gain_db": 2.0,
        "master_iterations": 1,
        "files": ["mix.wav"],
        "analysis": _analysis(96.0).to_dict(),
    }
    mix = mix_record({"mix": new})
    assert mix.analysis and mix.analysis.key == "A minor" and mix.master_gain_db == 2.0
    assert json.dumps(mix.to_json()) == json.dumps(new)
    old = mix_record(json.loads(OLD.read_text()))
    assert old.analysis is None and old.master["true_peak_dbtp"] == -1.1
    assert mix_record({}) == mix_record({"mix": "junk"}) == mix_record(None)
