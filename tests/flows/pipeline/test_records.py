"""The typed per-stem records of manifest.json: read leniently (old renders), written back unchanged."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from flows.cli import main
from flows.pipeline.manifest import CLEAN_RECORD
from flows.pipeline.paths import REPORT_NAME, TRACK_MANIFEST
from flows.pipeline.records import (
    AlbumManifest,
    AlbumTrack,
    BandRecord,
    CleanRecord,
    ConformRecord,
    GenerationRecord,
    MidiRecord,
    MixRecord,
    MixResult,
    Reused,
    SeparationRecord,
    StemRecord,
    TrackManifest,
    Transcribed,
    Window,
    mix_record,
    stem_records,
)
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


def _conform_result(**changes: Any) -> ConformResult:
    result = ConformResult(
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
    return replace(result, **changes)


def _new_record() -> dict[str, Any]:
    """A stem record with every section a current render writes (flows/orchestration/render.py ``finish_task``)."""
    conform = _conform_result()
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
            "guide": None,
            "started": 1700000000.5,
            "finished": 1700000002.5,
            "reused": False,
        },
        CLEAN_RECORD: {
            "cleaned": True,
            "sample_rate": 32000,
            "samples": 64000,
            "seconds": 0.75,
            "started": 1700000003.0,
            "finished": 1700000003.75,
            "separation": {
                "model": "htdemucs",
                "source": "drums",
                "seconds": 1.25,
                "batch": ["drums", "bass"],
                "reused": True,
            },
            "reused": False,
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
    assert stem_records({"stems": ["keys"]}) == {}
    assert StemRecord.from_json(None) == StemRecord(None, None, None, None)


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


def _separation(**changes: Any) -> SeparationRecord:
    return replace(SeparationRecord("htdemucs", "drums", 1.25, ("drums", "bass")), **changes)


def _generation(**changes: Any) -> GenerationRecord:
    window = Window(0, 0.0, 2.0, "brushed kit")
    return GenerationRecord("debug", 7, None, 2.0, (window,), ("drums",), 32000, 1, 1.5, 3.5, **changes)


def _conform() -> ConformRecord:
    return ConformRecord.of(_conform_result(engine="rubberband"), 0.5, "beats")


RECORDS = [
    _generation(),
    _generation(reused=True),
    GenerationRecord("debug", reused=False, from_band="band", source="drums"),  # a band stem's
    _separation(),
    _separation(reused=False),
    SeparationRecord(
        "htdemucs_6s", None, 3.0, ("band",), ("drums", "bass"), 1.0, 4.0, True
    ),  # the band split
    CleanRecord(True, 0.75, _separation(reused=True), 32000, 64000, 1.0, 1.75, False),
    CleanRecord(False, 0.1, None, 32000, 64000),
    _conform(),
    MidiRecord("drums", 0, True, 12, ("few notes",), 0.5),
    StemRecord(_generation(reused=False), CleanRecord(True, 0.75, None), _conform(), None, {"x": None}, -1.5),
    MixRecord({"integrated_lufs": -14.0, "true_peak_dbtp": None}, 2.0, _analysis(96.0), 1, ("mix.wav",)),
    MixResult(
        MixRecord({"integrated_lufs": -14.0}, 2.0, None, 2, ("mix.wav",)), {"keys": {}}, {"keys": -1.0}, 3.0
    ),
    BandRecord("full band", "raw/band.wav", _generation(), _separation(source=None), {"drums": "drums"}),
    Reused(("bass",), (), ("bass", "drums"), (), ("keys",), True),
    AlbumTrack(1, "one", "One", "one", 0.0, 12.5),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_a_record_round_trips_through_its_json(record: Any) -> None:
    written = json.loads(json.dumps(record.to_json()))
    assert type(record).from_json(written) == record
    assert type(record).from_json(written).to_json() == written


def test_the_stage_cache_record_has_no_reused_and_reads_back_without_it() -> None:
    cached = json.loads(json.dumps(_conform().to_json()))
    assert "reused" not in cached and ConformRecord.from_json(cached).reused is None
    assert _separation(reused=True).to_json()["reused"] is True


def test_a_transcription_gives_the_midi_record() -> None:
    from stems.transcription.midi import Note, NoteTrack

    track = NoteTrack("lead", "keys", 4, False, (Note(0.0, 0.5, 60, 90),), ("w",), (), 0.12345)
    assert Transcribed(track, False).record == MidiRecord("keys", 4, False, 1, ("w",), 0.123)
    assert Transcribed(None, True).record is None


def test_the_manifest_reads_typed_and_leniently() -> None:
    old = TrackManifest.from_json(json.loads(OLD.read_text()))
    assert old.stems["drums"].clean and old.band is None and old.reused == Reused()
    assert TrackManifest.from_json(None) == TrackManifest.from_json(
        {"stems": 3, "files": {}, "arrangement": []}
    )
    album = AlbumManifest.from_json({"tracks": [AlbumTrack(1, "a", "A", "a", 0.0, 1.0).to_json(), "junk"]})
    assert album.tracks == (AlbumTrack(1, "a", "A", "a", 0.0, 1.0),) and album.master == {}
