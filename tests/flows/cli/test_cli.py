"""CLI contract: exit codes, fail-fast model checks before Prefect starts, light imports for quick commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import main
from tests.conftest import DEMO, REPO


def _song(tmp_path: Path, model: str, extra: str = "") -> Path:
    path = tmp_path / "song.yaml"
    path.write_text(
        f"title: T\nbpm: 100\nkey: C major\nduration: 6\nmodel: {model}\n"
        f"stems:\n  - {{name: keys, prompt: keys{extra}}}\n"
    )
    return path


def test_unknown_model_is_a_user_error_listing_known_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(_song(tmp_path, "facebook/musicgen-huge")), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "musicgen-huge" in err and "facebook/musicgen-stereo-large" in err


def test_uncached_real_model_fails_fast_naming_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["render", str(_song(tmp_path, "facebook/musicgen-small")), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert (
        "facebook/musicgen-small" in err and str(tmp_path / "hf") in err and "huggingface-cli download" in err
    )
    assert not (tmp_path / "out").exists(), "nothing may be written before the models are known to load"


def test_melody_on_a_model_without_melody_input_fails_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    melody = REPO / "arrangements" / "melodies" / "theme.flac"
    song = _song(tmp_path, "debug", extra=f", melody: {melody}")
    assert main(["render", str(song), "-o", str(tmp_path / "out")]) == 2
    assert "melody" in capsys.readouterr().err


def test_dry_run_json_is_a_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(DEMO), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["windows"][1] == {"index": 1, "start": 18.0, "new_start": 30.0, "end": 40.0}


@pytest.mark.parametrize("argv", [["--help"], ["validate", str(DEMO)], ["render", str(DEMO), "--dry-run"]])
def test_quick_commands_import_no_heavy_library(argv: list[str]) -> None:
    code = (
        "import sys\nfrom flows.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'prefect', 'demucs', 'basic_pitch') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
    ).stdout
    assert out.rsplit("HEAVY", 1)[1].strip() == "[]"


COMMANDS = [
    "validate",
    "render",
    "transcribe",
    "master",
    "models",
    "schema",
    "analyze",
    "conform",
    "rank",
    "pick",
    "export",
    "report",
    "bench",
    "album render",
    "album schedule",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from flows.cli.commands import build_parser

    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*command.split(), "--help"])
    assert exited.value.code == 0
    assert f"musicmaker {command}" in capsys.readouterr().out.split("example")[1]


def test_models_lists_every_checkpoint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"facebook/musicgen-stereo-large", "facebook/musicgen-melody-large", "debug-melody"} <= set(rows)
    assert rows["debug"]["cached"] is True
    assert rows["facebook/musicgen-stereo-large"]["vram_gb"] == 8.7
    assert rows["facebook/musicgen-stereo-large"]["license"] == "CC-BY-NC-4.0"
    assert rows["debug"]["license"] == "MIT" and rows["sketch"]["license"] == "MIT"
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "facebook/musicgen-stereo-large" in text and "CC-BY-NC-4.0" in text and "sketch" in text


def _tone_file(path: Path, pitches: list[int], rate: int = 44100, level: float = 0.3) -> Path:
    import numpy as np
    import soundfile as sf

    notes = []
    for pitch in pitches:
        t = np.arange(int(0.5 * rate)) / rate
        tone = np.sin(2 * np.pi * 440.0 * 2 ** ((pitch - 69) / 12) * t) * np.minimum(1, (0.5 - t) / 0.05)
        notes.append(level * tone * np.minimum(1, t / 0.005))
    sf.write(str(path), np.concatenate(notes).astype("float32"), rate)
    return path


def test_transcribe_command_writes_a_midi_of_the_played_notes(tmp_path: Path) -> None:
    import pretty_midi

    audio = _tone_file(tmp_path / "scale.wav", [60, 64, 67, 72])
    assert (
        main(["transcribe", str(audio), "--instrument", "lead", "-o", str(tmp_path / "out.mid"), "--quiet"])
        == 0
    )
    notes = pretty_midi.PrettyMIDI(str(tmp_path / "out.mid")).instruments[0].notes
    assert [n.pitch for n in sorted(notes, key=lambda n: n.start)] == [60, 64, 67, 72]


def test_transcribe_command_rejects_an_unknown_instrument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audio = _tone_file(tmp_path / "scale.wav", [60])
    assert main(["transcribe", str(audio), "--instrument", "kazoo"]) == 2
    assert "kazoo" in capsys.readouterr().err


def test_master_command_hits_target_by_ffmpeg(tmp_path: Path) -> None:
    from mixing.export import ffmpeg_loudness

    audio = _tone_file(tmp_path / "quiet.wav", [48, 55, 60, 64, 67, 72, 76, 79] * 2, level=0.05)
    out = tmp_path / "loud.wav"
    assert (
        main(["master", str(audio), "-o", str(out), "--lufs", "-16", "--true-peak", "-1.5", "--quiet"]) == 0
    )
    measured = ffmpeg_loudness(out)
    assert abs(measured["integrated_lufs"] - (-16.0)) <= 0.3 and measured["true_peak_dbtp"] <= -1.5 + 0.05


ONLY = """title: Only Song
bpm: 120
key: C major
duration: 5
model: debug
stems:
  - {name: keys, prompt: keys, midi: false}
  - {name: bass, prompt: bass, follow: keys, model: debug-melody, midi: false}
  - {name: lead, prompt: lead, midi: false}
master: {formats: [wav]}
"""


@pytest.mark.slow
def test_only_renders_the_named_stems_and_those_they_follow(prefect_harness: None, tmp_path: Path) -> None:
    (tmp_path / "song.yaml").write_text(ONLY)
    assert (
        main(["render", str(tmp_path / "song.yaml"), "-o", str(tmp_path), "--only", "bass", "--quiet"]) == 0
    )
    manifest = json.loads((tmp_path / "only-song" / "manifest.json").read_text())
    assert (
        set(manifest["stems"]) == {"keys", "bass"}
        and not (tmp_path / "only-song" / "raw" / "lead.wav").exists()
    )


def test_bench_quick_prints_one_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--only", "mix"]) == 0
    report = json.loads(capsys.readouterr().out)
    mix = report["benchmarks"]["mix"]
    assert report["quick"] is True and mix["stems"] == 8 and mix["master_report"]["true_peak_dbtp"] <= -1.0


def test_bench_outside_a_checkout_says_the_scripts_are_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli import bench

    monkeypatch.setattr(bench, "BENCH", tmp_path / "site-packages" / "bench")  # where an installed copy looks
    assert main(["bench", "--quick", "--only", "mix"]) == 2
    err = capsys.readouterr().err
    assert "not installed with the package" in err and "mix.py" in err and "clone the repository" in err
