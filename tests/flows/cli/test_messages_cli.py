"""Messages that fit the case (issue 22, point 7): a hint names the file in question, a folder or a pipe given as
audio is "not a regular file", analysis of too little audio names no key, and `export` names sessions after the
render's slug. Every case is a user's mistake: exit 2, no traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flows.cli import main
from stems.errors import StorageError


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, err
    return code, out, err


# --- hints match the file in question -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "example"), [("arrangement", "arrangement.schema.json"), ("album", "album.schema.json")]
)
def test_schema_into_a_device_or_a_folder_suggests_a_schema_file(
    kind: str, example: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for target in (Path("/dev/full"), tmp_path):
        code, out, err = _run(capsys, ["schema", kind, "-o", str(target)])
        assert code == 2 and out == "", err
        suggested = target / example if target.is_dir() else example
        assert f"e.g. -o {suggested}\n" in err and "mix.wav" not in err, err


@pytest.mark.parametrize(
    ("argv", "example"),
    [
        (["transcribe", "{audio}", "--instrument", "bass"], "tone.mid"),
        (["master", "{audio}"], "tone.master.wav"),
        (["conform", "{audio}", "--bpm", "120"], "tone.conformed.wav"),
    ],
)
def test_an_output_that_is_a_folder_gets_an_example_of_that_commands_file(
    argv: list[str], example: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audio = _tone(tmp_path / "tone.wav", seconds=1.0)
    folder = tmp_path / "outs"
    folder.mkdir()
    code, _, err = _run(capsys, [a.format(audio=audio) for a in argv] + ["-o", str(folder)])
    assert code == 2 and f"{folder}: cannot write there, it is a folder" in err, err
    assert f"e.g. -o {folder / example}" in err and "mix.wav" not in err, err


def test_a_folder_in_place_of_a_stage_record_says_what_to_move_not_which_option_to_give(
    tmp_path: Path,
) -> None:
    from flows.pipeline.cache import StageCache

    cache = StageCache(tmp_path)
    (tmp_path / "keys.wav").write_bytes(b"x")
    record = tmp_path / ".musicmaker" / "stages" / "clean.keys.json"
    record.mkdir(parents=True)
    with pytest.raises(StorageError) as caught:
        cache.store("clean", "keys", "k", [tmp_path / "keys.wav"], {})
    message = str(caught.value)
    assert message.startswith(f"{record}: cannot write there, it is a folder"), message
    assert " -o " not in message and "move or remove it" in message, message


# --- audio that is not a regular file -----------------------------------------------------------------------------


def _tone(path: Path, seconds: float, rate: int = 22050) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32), rate)
    return path


AUDIO_COMMANDS = [
    ["analyze", "{audio}"],
    ["conform", "{audio}", "--bpm", "120"],
    ["transcribe", "{audio}", "--instrument", "bass", "-o", "{tmp}/x.mid"],
    ["master", "{audio}", "-o", "{tmp}/x.wav"],
]


@pytest.mark.parametrize("kind", ["folder", "fifo"])
@pytest.mark.parametrize("argv", AUDIO_COMMANDS, ids=[a[0] for a in AUDIO_COMMANDS])
def test_a_folder_or_a_fifo_given_as_audio_is_not_a_regular_file(
    kind: str, argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audio = tmp_path / "in.wav"
    if kind == "folder":
        audio.mkdir()
    else:
        os.mkfifo(audio)  # opening it to read would wait for a writer forever
    code, _, err = _run(capsys, [a.format(audio=audio, tmp=tmp_path) for a in argv])
    what = "a folder" if kind == "folder" else "a pipe"
    assert code == 2 and f"{audio}: not a regular file ({what})" in err and "not found" not in err, err


def test_a_missing_audio_file_is_still_not_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, ["analyze", str(tmp_path / "none.wav")])
    assert code == 2 and f"{tmp_path / 'none.wav'}: audio file not found" in err, err


def test_a_melody_folder_in_an_arrangement_is_not_a_regular_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "theme.wav").mkdir()
    song = tmp_path / "song.yaml"
    song.write_text(
        "title: T\nbpm: 100\nkey: C major\nduration: 6\nmodel: debug-melody\nmelody: theme.wav\n"
        "stems:\n  - {name: keys, prompt: keys}\n"
    )
    code, _, err = _run(capsys, ["validate", str(song)])
    assert code == 2 and f"{song}:6:9: melody: not a regular file (a folder)" in err, err


# --- analysis of too little audio -----------------------------------------------------------------------------------


@pytest.mark.parametrize("samples", [1, 100])
def test_analyze_on_a_few_samples_says_the_key_is_unknown(
    samples: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "short.wav"
    sf.write(path, np.full(samples, 0.03, np.float32), 44100)
    code, out, _ = _run(capsys, ["analyze", str(path), "--json"])
    result = json.loads(out)
    assert code == 0 and (result["key"], result["key_confidence"]) == (None, 0.0), result


def test_analyze_still_names_the_key_of_a_chord(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rate, t = 22050, np.arange(4 * 22050) / 22050
    chord = np.sin(2 * np.pi * np.outer([261.63, 329.63, 392.0], t)).sum(axis=0)  # C E G
    sf.write(tmp_path / "c.wav", (0.2 * chord).astype(np.float32), rate)
    code, out, _ = _run(capsys, ["analyze", str(tmp_path / "c.wav"), "--json"])
    assert code == 0 and json.loads(out)["key"] in ("C major", "A minor")


# --- export of a copied render folder --------------------------------------------------------------------------------


def test_export_of_a_copied_render_names_the_sessions_after_the_manifests_slug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = _fake_render(tmp_path / "renders" / "tiny-song")
    copy = tmp_path / "backup-2024"
    shutil.copytree(original, copy)
    code, _, err = _run(capsys, ["export", str(copy), "--format", "reaper"])
    assert code == 0, err
    assert sorted(p.name for p in (copy / "session").iterdir()) == ["tiny-song.rpp"]
    listed = [f["path"] for f in json.loads((copy / "manifest.json").read_text())["files"]]
    assert "session/tiny-song.rpp" in listed and "session/backup-2024.rpp" not in listed


def _fake_render(folder: Path) -> Path:
    """A finished render as the flow leaves it: a stem, the mix, a session, the manifest listing them."""
    (folder / "stems").mkdir(parents=True)
    (folder / "session").mkdir()
    for name in ("stems/keys.wav", "mix.wav"):
        _tone(folder / name, seconds=0.5)
    (folder / "session" / "tiny-song.rpp").write_text("<REAPER_PROJECT\n>\n")
    arrangement = {
        "title": "Tiny Song",
        "bpm": 120,
        "time_signature": "4/4",
        "key": "A minor",
        "duration": 0.5,
        "stems": [{"name": "keys", "prompt": "keys", "midi": False}],
    }
    manifest = {
        "title": "Tiny Song",
        "slug": "tiny-song",
        "arrangement": arrangement,
        "stems": {"keys": {"gain_db_applied": 0.0}},
        "sessions": {"files": ["session/tiny-song.rpp"], "notes": []},
        "files": [{"path": p, "sha256": "0"} for p in ("stems/keys.wav", "mix.wav", "session/tiny-song.rpp")],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder
