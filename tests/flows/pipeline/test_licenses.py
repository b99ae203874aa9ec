"""Licences, stated (issue 22 point 6): the catalogues' licences, a local folder's own, manifest.json's
``licenses``, the exported files' provenance tags, and ``commercial_use: true`` refusing non-commercial or
unknown licences in validate, dry-run and render with FILE:LINE:COL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flows.cli import main
from tests.support.probe import ffprobe_tags

HEAD = "title: Song\nbpm: 120\nkey: A minor\nduration: 10\nseparation_model: debug\n"
MIT_TEXT = (
    "MIT License\n\nCopyright (c) 2024 Someone\n\nPermission is hereby granted, free of charge, to any person"
)
CC_BY_NC_TEXT = "Attribution-NonCommercial 4.0 International\n\n=======\n\nCreative Commons Corporation"
APACHE_TEXT = "\n                                 Apache License\n                           Version 2.0, January 2004\n"


# --- the catalogues ------------------------------------------------------------------------------------------


def test_every_musicgen_checkpoint_is_non_commercial_and_the_debug_models_are_ours() -> None:
    from stems.musicgen.models import CHECKPOINTS, DEBUG_MODELS, RANDOM_PREFIX, model_license

    assert {model_license(name).spdx for name in CHECKPOINTS} == {"CC-BY-NC-4.0"}
    assert all(model_license(name).commercial_use is False for name in CHECKPOINTS)
    ours = [*DEBUG_MODELS, *(RANDOM_PREFIX + name for name in CHECKPOINTS)]
    assert {model_license(name).spdx for name in ours} == {"MIT"}  # random weights, pyproject's licence
    assert all(model_license(name).commercial_use for name in ours)


def test_every_demucs_model_and_basic_pitch_have_their_licence() -> None:
    from stems.separation.catalog import MODEL_SOURCES, model_license
    from stems.transcription.transcriber import MODEL_NAME
    from stems.transcription.transcriber import model_license as transcription_license

    assert {name: model_license(name).spdx for name in MODEL_SOURCES} == dict.fromkeys(MODEL_SOURCES, "MIT")
    assert (MODEL_NAME, transcription_license().spdx) == ("basic-pitch", "Apache-2.0")
    assert transcription_license().commercial_use


# --- a local folder states its own licence --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "expected", "commercial"),
    [
        (
            {"README.md": "---\nlicense: cc-by-nc-4.0\ntags: [music]\n---\n# My model\n"},
            "CC-BY-NC-4.0",
            False,
        ),
        ({"README.md": "---\nlicense: apache-2.0\n---\n", "LICENSE": CC_BY_NC_TEXT}, "Apache-2.0", True),
        ({"config.json": json.dumps({"model_type": "musicgen", "license": "mit"})}, "MIT", True),
        ({"LICENSE": MIT_TEXT}, "MIT", True),
        ({"LICENSE.txt": APACHE_TEXT}, "Apache-2.0", True),
        ({"LICENSE": CC_BY_NC_TEXT}, "CC-BY-NC-4.0", False),
        ({"LICENSE": "CC-BY-4.0\n"}, "CC-BY-4.0", True),
        ({"LICENSE": "# SPDX-License-Identifier: CC-BY-NC-SA-4.0\nterms..."}, "CC-BY-NC-SA-4.0", False),
        ({"README.md": "---\nlicense: other\n---\n"}, "other", None),
        ({"LICENSE": "You may use this model only on Tuesdays."}, None, None),
        ({"README.md": "# no front matter\nlicense: mit\n"}, None, None),
        ({}, None, None),
    ],
)
def test_a_folder_licence_comes_from_its_card_config_or_licence_file(
    tmp_path: Path, files: dict[str, str], expected: str | None, commercial: bool | None
) -> None:
    from stems.licenses import folder_license

    for name, text in files.items():
        (tmp_path / name).write_text(text)
    found = folder_license(tmp_path)
    assert (found.spdx, found.commercial_use) == (expected, commercial)
    assert found.name == (expected or "unknown")
    assert (found.why_not_commercial() is None) == bool(commercial)


def test_unknown_is_said_as_unknown() -> None:
    from stems.licenses import License, spdx_id

    assert License(None, "x states none").why_not_commercial() == "its licence is unknown (x states none)"
    assert spdx_id(" cc-by-nc-4.0 ") == "CC-BY-NC-4.0" and spdx_id("llama2") == "llama2"


# --- commercial_use: true --------------------------------------------------------------------------------------


def _validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    song = tmp_path / "song.yaml"
    song.write_text(text)
    code = main([*(args or ("validate",)), str(song)])
    return code, capsys.readouterr().err


def test_commercial_use_refuses_each_musicgen_stem_at_its_model_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        HEAD + "commercial_use: true\nmodel: facebook/musicgen-small\nstems:\n"
        "  - {name: keys, prompt: keys}\n"
        "  - {name: pad, prompt: pad}\n"
        "  - name: lead\n    prompt: lead\n    model: facebook/musicgen-stereo-large\n"
        "  - {name: bass, prompt: bass, model: debug}\n"
    )
    code, err = _validate(tmp_path, text, capsys)
    assert code == 2
    song = tmp_path / "song.yaml"
    lines = [line for line in err.splitlines() if line.startswith(str(song))]
    assert [line.split(": ")[0:2] for line in lines] == [
        [f"{song}:7:8", "model"],  # the top-level model, for keys and pad
        [f"{song}:13:12", "stems[2].model"],
    ]
    assert "stems 'keys', 'pad' use the generation model 'facebook/musicgen-small'" in lines[0]
    assert "stem 'lead' uses the generation model 'facebook/musicgen-stereo-large'" in lines[1]
    for line in lines:
        assert "CC-BY-NC-4.0" in line and "forbids commercial use" in line
        assert "`model: sketch`" in line and "later musicmaker version" in line
        assert "local checkpoint folder with its own licence" in line and "LICENSE file" in line
    assert "'bass'" not in err  # debug: our own random weights, MIT


def test_the_same_arrangement_without_commercial_use_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = HEAD + "model: facebook/musicgen-small\nstems:\n  - {name: keys, prompt: keys}\n"
    assert _validate(tmp_path, text, capsys)[0] == 0
    ours = HEAD + "commercial_use: true\nmodel: debug\nstems:\n  - {name: keys, prompt: keys, midi: keys}\n"
    assert _validate(tmp_path, ours, capsys)[0] == 0  # debug, debug Demucs and basic-pitch all allow it


@pytest.mark.parametrize("command", [("render", "--dry-run"), ("render",)])
def test_dry_run_and_render_refuse_it_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    text = HEAD + "commercial_use: true\nstems:\n  - {name: keys, prompt: keys}\n"
    song = tmp_path / "song.yaml"
    song.write_text(text)
    code = main([*command, str(song), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert re.search(rf"{re.escape(str(song))}:8:5: stems\[0\]\.model: commercial_use is true", err), err
    assert "'facebook/musicgen-stereo-medium'" in err  # the default model, written nowhere: the stem's line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.wav"))


def test_a_band_take_is_refused_at_the_band_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        HEAD + "commercial_use: true\nmodel: debug\nband:\n  model: facebook/musicgen-melody\nstems:\n"
        "  - {name: drums, from: band, source: drums}\n  - {name: bass, from: band, source: bass}\n"
    )
    code, err = _validate(tmp_path, text, capsys)
    assert code == 2
    assert (
        f"{tmp_path / 'song.yaml'}:9:10: band.model: commercial_use is true, but stems 'drums', 'bass'" in err
    )


def _checkpoint(folder: Path) -> Path:
    """A full-size MusicGen folder without weights' data (config + a header-only safetensors + tokenizer)."""
    from stems.musicgen.debug_models import build_config

    build_config(False, 1, False, "small").save_pretrained(folder)
    header = json.dumps({"w": {"dtype": "F16", "shape": [586_900_000], "data_offsets": [0, 0]}}).encode()
    (folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    (folder / "tokenizer_config.json").write_text("{}")
    return folder


def test_a_local_checkpoint_brings_its_own_licence_and_unknown_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _checkpoint(tmp_path / "models" / "my-musicgen")
    text = HEAD + "commercial_use: true\nstems:\n  - {name: keys, prompt: keys, model: models/my-musicgen}\n"
    code, err = _validate(tmp_path, text, capsys)
    assert code == 2
    assert f"{tmp_path / 'song.yaml'}:8:39: stems[0].model: commercial_use is true, but stem 'keys'" in err
    assert f"its licence is unknown ({folder.resolve()} states none: no README.md with 'license:'" in err
    (folder / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n")
    code, err = _validate(tmp_path, text, capsys)
    assert code == 2 and f"its licence CC-BY-NC-4.0 ('license:' in {folder.resolve() / 'README.md'})" in err
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    assert _validate(tmp_path, text, capsys)[0] == 0
    assert main(["validate", str(tmp_path / "song.yaml")]) == 0
    assert "licence Apache-2.0" in capsys.readouterr().out  # validate says what the folder holds


def test_the_check_is_generic_over_separation_and_transcription(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Demucs and basic-pitch allow commercial use, but a catalogue entry that did not would be refused."""
    import stems.separation.catalog as catalog
    import stems.transcription.transcriber as transcriber

    monkeypatch.setitem(catalog.LICENSES, "debug", "CC-BY-NC-SA-4.0")
    monkeypatch.setattr(transcriber, "MODEL_LICENSE", "CC-BY-NC-4.0")
    text = (
        "title: Song\nbpm: 120\nkey: A minor\nduration: 10\ncommercial_use: true\nseparation_model: debug\n"
        "model: debug\nstems:\n  - {name: drums, prompt: drums, separate: drums, midi: false}\n"
        "  - {name: keys, prompt: keys, midi: keys}\n"
    )
    code, err = _validate(tmp_path, text, capsys)
    song = tmp_path / "song.yaml"
    assert code == 2
    assert (
        f"{song}:6:19: separation_model: commercial_use is true, but stem 'drums' uses the separation" in err
    )
    assert "licence CC-BY-NC-SA-4.0" in err
    assert (
        f"{song}:10:38: stems[1].midi: commercial_use is true, but stem 'keys' uses the transcription " in err
    )
    assert "model 'basic-pitch'" in err and "set `midi: false` on the stem" in err


def test_an_album_with_commercial_use_checks_every_track(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "one.yaml").write_text(HEAD + "stems:\n  - {name: keys, prompt: keys, model: debug}\n")
    (tmp_path / "two.yaml").write_text(HEAD.replace("Song", "Two") + "stems:\n  - {name: pad, prompt: pad}\n")
    album = tmp_path / "album.yaml"
    album.write_text(
        "title: A\ncommercial_use: true\ndefaults:\n  model: facebook/musicgen-small\ntracks: [one.yaml, two.yaml]\n"
    )
    assert main(["validate", str(album)]) == 2
    err = capsys.readouterr().err
    assert f"{album}:4:10: model: commercial_use is true, but stem 'pad'" in err  # the album default's line
    assert "'keys'" not in err
    album.write_text("title: A\ndefaults:\n  model: facebook/musicgen-small\ntracks: [one.yaml, two.yaml]\n")
    assert main(["validate", str(album)]) == 0


# --- the manifest's record ---------------------------------------------------------------------------------------


def test_licenses_round_trip_and_old_manifests_read_empty() -> None:
    from flows.pipeline.records import Licenses, TrackManifest

    data = {
        "generation": {"facebook/musicgen-small": "CC-BY-NC-4.0", "/home/me/models/tuned": "unknown"},
        "separation": {"htdemucs": "MIT"},
        "transcription": {"basic-pitch": "Apache-2.0"},
    }
    record = Licenses.from_json(data)
    assert record.to_json() == data
    assert TrackManifest.from_json({"licenses": data}).licenses == record
    assert TrackManifest.from_json({"title": "old"}).licenses == Licenses()
    assert Licenses.from_json({"generation": ["not", "a", "map"]}) == Licenses()
    assert record.note() == (
        "Made with musicmaker from models facebook/musicgen-small (generation, CC-BY-NC-4.0), "
        "tuned (generation, unknown), htdemucs (separation, MIT), basic-pitch (transcription, Apache-2.0); "
        "not for commercial use: CC-BY-NC-4.0 forbids it; a licence is unknown: check it before commercial use."
    )
    assert Licenses().note() == ""


def test_the_licences_of_a_render_cover_every_role(tmp_path: Path) -> None:
    """Generation per stem, Demucs on a stem (its 6-source sibling for guitar) and on the melody file, and
    basic-pitch for pitched MIDI (drums need no model)."""
    import numpy as np
    import soundfile as sf

    from flows.pipeline.licenses import licenses
    from flows.schema import parse_arrangement

    t = np.arange(5 * 32000) / 32000
    sf.write(tmp_path / "theme.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 32000)
    text = (
        "title: Song\nbpm: 120\nkey: A minor\nduration: 10\nmodel: facebook/musicgen-melody\n"
        "melody: theme.wav\nmelody_stems: [vocals, guitar]\nstems:\n"
        "  - {name: drums, prompt: drums, separate: drums, model: debug}\n"
        "  - {name: gtr, prompt: guitar, separate: guitar, midi: guitar}\n"
    )
    arrangement = parse_arrangement(text, tmp_path / "song.yaml")
    assert licenses(arrangement).to_json() == {
        "generation": {"debug": "MIT", "facebook/musicgen-melody": "CC-BY-NC-4.0"},
        "separation": {"htdemucs": "MIT", "htdemucs_6s": "MIT"},
        "transcription": {"basic-pitch": "Apache-2.0"},
    }
    assert licenses(arrangement, [arrangement.stems[0]]).to_json() == {
        "generation": {"debug": "MIT"},
        "separation": {"htdemucs": "MIT"},
        "transcription": {},
    }


# --- the demo render ------------------------------------------------------------------------------------------

DEMO_LICENSES = {
    "generation": {"debug-stereo": "MIT", "debug-melody": "MIT"},
    "separation": {"debug": "MIT"},
    "transcription": {"basic-pitch": "Apache-2.0"},
}


def test_the_manifest_names_every_model_with_its_licence(debug_render: Path) -> None:
    manifest = json.loads((debug_render / "manifest.json").read_text())
    assert manifest["licenses"] == DEMO_LICENSES


@pytest.mark.parametrize("name", ["mix.wav", "mix.flac", "mix.mp3"])
def test_the_exported_files_carry_the_provenance_note(debug_render: Path, name: str) -> None:
    from flows.pipeline.records import Licenses

    tags = ffprobe_tags(debug_render / name)
    assert tags["comment"] == Licenses.from_json(DEMO_LICENSES).note()
    assert tags["comment"] == (
        "Made with musicmaker from models debug-stereo (generation, MIT), debug-melody (generation, MIT), "
        "debug (separation, MIT), basic-pitch (transcription, Apache-2.0)."
    )
    assert tags["title"] == "Debug Groove"  # the other tags stay


def test_the_report_shows_the_licences(debug_render: Path) -> None:
    html = (debug_render / "report.html").read_text(encoding="utf-8")
    assert 'href="#licenses"' in html and 'id="licenses"' in html
    assert "<td>transcription</td><td>basic-pitch</td><td>Apache-2.0</td><td>allowed</td>" in html
    assert "<td>generation</td><td>debug-melody</td><td>MIT</td><td>allowed</td>" in html
