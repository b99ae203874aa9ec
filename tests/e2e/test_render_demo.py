"""The demo arrangement rendered end to end through the CLI and the Prefect flow, with debug models."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mido
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from flows.cli import main
from flows.pipeline import MixRecord, Reused, StemRecord, TrackManifest
from flows.schema import load_arrangement
from tests.conftest import DEBUG_DEMO as DEMO

pytestmark = pytest.mark.slow

ARRANGEMENT = load_arrangement(DEMO)
STEMS = [s.name for s in ARRANGEMENT.stems]


def test_layout_is_complete(debug_render: Path) -> None:
    expected = {f"raw/{s}.wav" for s in STEMS} | {f"stems/{s}.wav" for s in STEMS}
    expected |= {f"midi/{s}.mid" for s in STEMS} | {"midi/debug-groove.mid"}
    expected |= {f"raw/{s.name}.residual.wav" for s in ARRANGEMENT.stems if s.separate}
    expected |= {"mix.wav", "mix.flac", "mix.mp3", "manifest.json"}
    found = {p.relative_to(debug_render).as_posix() for p in debug_render.rglob("*") if p.is_file()}
    assert expected <= found
    assert not [f for f in found if Path(f).name.startswith(".")], "temporary files left behind"


@pytest.mark.parametrize("kind", ["raw", "stems"])
def test_stem_lengths_exact_to_the_sample(debug_render: Path, kind: str) -> None:
    for stem in STEMS:
        info = sf.info(str(debug_render / kind / f"{stem}.wav"))
        assert info.frames == round(ARRANGEMENT.duration * info.samplerate), (kind, stem)


def test_every_audio_file_reads_and_is_finite(debug_render: Path) -> None:
    for path in [*debug_render.rglob("*.wav"), *debug_render.glob("mix.flac"), *debug_render.glob("mix.mp3")]:
        data, rate = sf.read(str(path), always_2d=True)
        assert rate > 0 and data.shape[0] > 0, path
        assert np.isfinite(data).all(), path


def test_midi_parses_with_mido(debug_render: Path) -> None:
    for path in debug_render.glob("midi/*.mid"):
        midi = mido.MidiFile(str(path))
        tempos = [m.tempo for t in midi.tracks for m in t if m.type == "set_tempo"]
        assert tempos and all(t == mido.bpm2tempo(ARRANGEMENT.bpm) for t in tempos), path
        signatures = {
            (m.numerator, m.denominator) for t in midi.tracks for m in t if m.type == "time_signature"
        }
        assert signatures == {(4, 4)}, path
    drums = mido.MidiFile(str(debug_render / "midi" / "drums.mid"))
    channels = {m.channel for t in drums.tracks for m in t if m.type == "note_on"}
    assert channels <= {9}, "drums belong on MIDI channel 10"
    combined = mido.MidiFile(str(debug_render / "midi" / "debug-groove.mid"))
    names = {m.name for t in combined.tracks for m in t if m.type == "track_name"}
    assert set(STEMS) <= names


def test_mix_loudness_on_target(debug_render: Path) -> None:
    data, rate = sf.read(str(debug_render / "mix.wav"))
    lufs = pyloudnorm.Meter(rate).integrated_loudness(data)
    assert abs(lufs - ARRANGEMENT.master.lufs) <= 0.5
    out = subprocess.run(
        [
            "ffmpeg",
            "-nostats",
            "-hide_banner",
            "-i",
            str(debug_render / "mix.wav"),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    summary = out[out.rindex("Summary:") :]
    integrated = float(summary.split("I:")[1].split("LUFS")[0])
    peak = float(summary.split("Peak:")[1].split("dBFS")[0])
    assert abs(integrated - ARRANGEMENT.master.lufs) <= 0.5
    assert peak <= ARRANGEMENT.master.true_peak + 0.1


def test_manifest_is_complete(debug_render: Path) -> None:
    manifest = json.loads((debug_render / "manifest.json").read_text())
    assert manifest["seed"] == ARRANGEMENT.seed
    assert manifest["arrangement"]["title"] == ARRANGEMENT.title
    assert set(manifest["stems"]) == set(STEMS)
    for name, stem in manifest["stems"].items():
        gen = stem["generation"]
        assert gen["model"] in ("debug-stereo", "debug-melody") and isinstance(gen["seed"], int)
        assert len(gen["windows"]) == 2 and all(w["text"] for w in gen["windows"])
        assert stem["loudness"]["integrated_lufs"] is not None, name
        assert stem["midi"]["notes"] >= 0
    assert manifest["stems"]["bass"]["generation"]["melody"] == "follow:keys"
    separation = manifest["stems"]["drums"]["refine"]["separation"]
    assert separation["source"] == "drums" and separation["batch"] == ["drums", "bass"]  # one Demucs call
    assert set(manifest["timings"]) == {
        "generate",
        "separate_and_clean",
        "conform",
        "transcribe",
        "mix_and_master",
        "total",
    }
    assert all(v > 0 for v in manifest["timings"].values())
    master = manifest["mix"]["master"]
    assert abs(master["integrated_lufs"] - ARRANGEMENT.master.lufs) <= 0.5
    assert master["true_peak_dbtp"] <= ARRANGEMENT.master.true_peak + 0.05
    for package in ("torch", "transformers", "demucs", "basic-pitch", "prefect", "musicmaker"):
        assert manifest["packages"][package], package
    listed = {f["path"] for f in manifest["files"]}
    assert "mix.wav" in listed and "stems/bass.wav" in listed


def test_the_manifest_reads_back_into_the_typed_records(debug_render: Path) -> None:
    """Every stage record of a render reads into the type that wrote it and writes back the same JSON."""
    manifest = json.loads((debug_render / "manifest.json").read_text())
    for name, written in manifest["stems"].items():
        assert StemRecord.from_json(written).to_json() == written, name
    assert MixRecord.from_json(manifest["mix"]).to_json() == manifest["mix"]
    assert Reused.from_json(manifest["reused"]).to_json() == manifest["reused"]
    read = TrackManifest.from_json(manifest)
    assert set(read.stems) == set(STEMS) and read.seed == ARRANGEMENT.seed and read.band is None
    drums = read.stems["drums"]
    assert drums.clean and drums.clean.separation and drums.clean.separation.batch == ("drums", "bass")
    assert drums.conform and drums.conform.before.duration > 0 and read.mix.analysis is not None
    assert [s.name for s in read.arrangement.stems] == STEMS and read.timings["total"] > 0
    assert {f.path for f in read.files} >= {"mix.wav", "stems/bass.wav"}


def test_finished_render_is_not_overwritten(debug_render: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (debug_render / "manifest.json").read_bytes()
    assert main(["render", str(DEMO), "-o", str(debug_render.parent), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (debug_render / "manifest.json").read_bytes() == before


def test_dry_run_loads_no_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(DEMO), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [b["stems"] for b in plan["batches"]] == [["drums", "lead"], ["keys"], ["bass"]]
    assert len(plan["windows"]) == 2
