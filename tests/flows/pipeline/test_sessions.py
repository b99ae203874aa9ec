"""DAW sessions of a render, read back with a second implementation: the DAWproject XML validated against the
format's published XSDs (tests/data/dawproject) and read with ElementTree, the REAPER project parsed by the ``rpp``
library; both checked against the manifest, the stems and the ``.mid`` files (read with pretty_midi)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pretty_midi
import pytest
import rpp
import soundfile as sf
import xmlschema

from flows.cli import main
from flows.schema.models import SessionFormat
from mixing.sessions import SESSION_FORMATS, Tempo
from mixing.sessions.reaper import TICKS_PER_QN
from tests.support import paths

XSD = paths.DATA / "dawproject"
BPM, SECONDS_PER_BEAT = 120.0, 0.5  # the demo: 120 bpm in 4/4
TICK_S = 60.0 / BPM / TICKS_PER_QN


@pytest.fixture(scope="module")
def project_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD / "Project.xsd"))


def _manifest(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "manifest.json").read_text()))


def _dawproject(path: Path, schema: xmlschema.XMLSchema) -> tuple[ET.Element, zipfile.ZipFile]:
    """project.xml, valid against Project.xsd (and metadata.xml against MetaData.xsd), and the container."""
    container = zipfile.ZipFile(path)
    xml = container.read("project.xml").decode("utf-8")
    schema.validate(xml)
    xmlschema.XMLSchema(str(XSD / "MetaData.xsd")).validate(container.read("metadata.xml").decode("utf-8"))
    return ET.fromstring(xml), container


def _reaper(path: Path) -> Any:
    return rpp.loads(path.read_text(encoding="utf-8"))


def _mid_notes(path: Path) -> list[tuple[float, float, int, int]]:
    (instrument,) = pretty_midi.PrettyMIDI(str(path)).instruments or [pretty_midi.Instrument(0)]
    return sorted((n.start, n.end, n.pitch, n.velocity) for n in instrument.notes)


def _rpp_notes(source: Any) -> list[tuple[float, float, int, int]]:
    """Notes decoded from REAPER's ``E delta status data1 data2`` lines (960 ticks per quarter note)."""
    tick, started, notes = 0, {}, []
    for line in source.findall("E"):
        tick += int(line[1])
        status, key, vel = (int(x, 16) for x in line[2:5])
        if status & 0xF0 == 0x90 and vel:
            started[key] = (tick, vel)
        elif status & 0xF0 == 0x80:
            on, velocity = started.pop(key)
            notes.append((on * TICK_S, tick * TICK_S, key, velocity))
    return sorted(notes)


def _dp_notes(track_lanes: ET.Element) -> list[tuple[float, float, int, int]]:
    notes = track_lanes.findall("./Clips/Clip/Notes/Note")
    return sorted(
        (
            float(n.get("time", 0)) * SECONDS_PER_BEAT,
            (float(n.get("time", 0)) + float(n.get("duration", 0))) * SECONDS_PER_BEAT,
            int(n.get("key", 0)),
            round(float(n.get("vel", 0)) * 127),
        )
        for n in notes
    )


def _same_notes(
    a: list[tuple[float, float, int, int]], b: list[tuple[float, float, int, int]], tol: float
) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x[2:] == y[2:] and abs(x[0] - y[0]) <= tol and abs(x[1] - y[1]) <= tol, (x, y)


# --- the demo render writes both sessions, before its manifest -------------------------------------------------


def test_the_render_writes_both_sessions_listed_in_its_manifest(debug_render: Path) -> None:
    manifest = _manifest(debug_render)
    slug = debug_render.name
    assert manifest["sessions"]["files"] == [f"session/{slug}.dawproject", f"session/{slug}.rpp"]
    listed = {f["path"] for f in manifest["files"]}
    assert set(manifest["sessions"]["files"]) <= listed
    assert manifest["sessions"]["notes"] == []


def test_dawproject_holds_tempo_tracks_clips_notes_and_markers(
    debug_render: Path, project_schema: xmlschema.XMLSchema
) -> None:
    manifest, slug = _manifest(debug_render), debug_render.name
    project, container = _dawproject(debug_render / "session" / f"{slug}.dawproject", project_schema)
    assert float(project.find("./Transport/Tempo").get("value")) == BPM  # type: ignore[union-attr]
    signature = project.find("./Transport/TimeSignature")
    assert (signature.get("numerator"), signature.get("denominator")) == ("4", "4")  # type: ignore[union-attr]
    stems = [s["name"] for s in manifest["arrangement"]["stems"]]
    tracks = {t.get("name"): t for t in project.findall("./Structure/Track")}
    assert list(tracks) == ["Master", *stems, "mix (reference)", *(f"{s} (MIDI)" for s in stems)]
    master_id = tracks["Master"].find("Channel").get("id")  # type: ignore[union-attr]
    master_volume = float(tracks["Master"].find("./Channel/Volume").get("value"))  # type: ignore[union-attr]
    assert 20 * math.log10(master_volume) == pytest.approx(manifest["mix"]["master_gain_db"], abs=1e-6)
    lanes = {lane.get("track"): lane for lane in project.findall("./Arrangement/Lanes/Lanes")}
    for stem in manifest["arrangement"]["stems"]:
        track = tracks[stem["name"]]
        channel = track.find("Channel")
        assert channel.get("destination") == master_id  # type: ignore[union-attr]
        gain = 20 * math.log10(float(channel.find("Volume").get("value")))  # type: ignore[union-attr]
        assert gain == pytest.approx(manifest["stems"][stem["name"]]["gain_db_applied"], abs=1e-6)
        assert float(channel.find("Pan").get("value")) == pytest.approx((stem["pan"] + 1) / 2)  # type: ignore[union-attr]
        assert channel.find("Mute").get("value") == "false" and channel.get("solo") == "false"  # type: ignore[union-attr]
        info = sf.info(str(debug_render / "stems" / f"{stem['name']}.wav"))
        seconds = info.frames / info.samplerate
        clip = lanes[track.get("id")].find("./Clips/Clip")
        assert float(clip.get("time")) == 0.0  # type: ignore[union-attr, arg-type]
        assert float(clip.get("duration")) == pytest.approx(seconds / SECONDS_PER_BEAT, abs=1e-6)  # type: ignore[union-attr, arg-type]
        audio = clip.find("./Warps/Audio")  # type: ignore[union-attr]
        assert float(audio.get("duration")) == pytest.approx(seconds, abs=1e-6)  # type: ignore[union-attr, arg-type]
        assert int(audio.get("sampleRate")) == info.samplerate  # type: ignore[union-attr, arg-type]
        warps = [
            (float(w.get("time", 0)), float(w.get("contentTime", 0))) for w in clip.findall("./Warps/Warp")
        ]  # type: ignore[union-attr]
        assert warps == [(0.0, 0.0), (pytest.approx(seconds / SECONDS_PER_BEAT), pytest.approx(seconds))]
        embedded = audio.find("File").get("path")  # type: ignore[union-attr]
        assert container.read(embedded) == (debug_render / "stems" / f"{stem['name']}.wav").read_bytes()
        notes = _dp_notes(lanes[tracks[f"{stem['name']} (MIDI)"].get("id")])
        _same_notes(notes, _mid_notes(debug_render / "midi" / f"{stem['name']}.mid"), 1e-6)
    reference = tracks["mix (reference)"].find("./Channel/Mute")
    assert reference.get("value") == "true"  # type: ignore[union-attr]
    files = {f.get("path") for f in project.iter("File")}
    assert files == {f"audio/stems/{s}.wav" for s in stems} | {"audio/mix.wav"}
    assert files <= set(container.namelist())
    markers = [
        (m.get("name"), float(m.get("time", 0))) for m in project.findall("./Arrangement/Markers/Marker")
    ]
    assert markers == [("intro", 0.0), ("groove", 4 * 4.0)]  # sections start at bars 1 and 5


def test_reaper_project_holds_tempo_tracks_items_notes_and_markers(debug_render: Path) -> None:
    manifest, slug = _manifest(debug_render), debug_render.name
    path = debug_render / "session" / f"{slug}.rpp"
    project = _reaper(path)
    assert project.find("TEMPO")[1:] == ["120.0", "4", "4"]
    stems = [s["name"] for s in manifest["arrangement"]["stems"]]
    tracks = {t.find("NAME")[1]: t for t in project.findall("TRACK")}
    assert list(tracks) == [*stems, "mix (reference)", *(f"{s} (MIDI)" for s in stems)]
    master = float(project.find("MASTER_VOLUME")[1])
    assert 20 * math.log10(master) == pytest.approx(manifest["mix"]["master_gain_db"], abs=1e-6)
    for stem in manifest["arrangement"]["stems"]:
        track = tracks[stem["name"]]
        volume, pan = (float(v) for v in track.find("VOLPAN")[1:3])
        assert 20 * math.log10(volume) == pytest.approx(
            manifest["stems"][stem["name"]]["gain_db_applied"], abs=1e-6
        )
        assert pan == pytest.approx(stem["pan"]) and track.find("MUTESOLO")[1:3] == ["0", "0"]
        item = track.find("ITEM")
        info = sf.info(str(debug_render / "stems" / f"{stem['name']}.wav"))
        assert float(item.find("POSITION")[1]) == 0.0
        assert float(item.find("LENGTH")[1]) == pytest.approx(info.frames / info.samplerate, abs=1e-6)
        file = item.find("SOURCE").find("FILE")[1]
        assert (
            not Path(file).is_absolute()
            and (path.parent / file).resolve() == debug_render / "stems" / f"{stem['name']}.wav"
        )
        midi = tracks[f"{stem['name']} (MIDI)"].find("ITEM").find("SOURCE")
        _same_notes(_rpp_notes(midi), _mid_notes(debug_render / "midi" / f"{stem['name']}.mid"), TICK_S)
    assert tracks["mix (reference)"].find("MUTESOLO")[1] == "1"
    markers = [(m[3], float(m[2])) for m in project.findall("MARKER")]
    assert markers == [("intro", 0.0), ("groove", 4 * 4 * SECONDS_PER_BEAT)]


def test_drums_play_on_channel_10_and_pitched_stems_carry_their_gm_program(debug_render: Path) -> None:
    project = _reaper(debug_render / "session" / f"{debug_render.name}.rpp")
    tracks = {t.find("NAME")[1]: t for t in project.findall("TRACK")}
    drums = [int(e[2], 16) for e in tracks["drums (MIDI)"].find("ITEM").find("SOURCE").findall("E")]
    assert drums and all(status & 0x0F == 9 for status in drums)
    bass = tracks["bass (MIDI)"].find("ITEM").find("SOURCE").findall("E")
    program = pretty_midi.PrettyMIDI(str(debug_render / "midi" / "bass.mid")).instruments[0].program
    assert bass[0][2:4] == ["c0", f"{program:02x}"] and program == 33  # GM 34, electric bass (finger)


# --- musicmaker export, and what it does with a damaged folder ----------------------------------------------------


@pytest.fixture
def copied(debug_render: Path, tmp_path: Path) -> Path:
    folder = tmp_path / debug_render.name
    shutil.copytree(debug_render, folder)
    shutil.rmtree(folder / "session")
    return folder


def _on_disk(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "manifest.json" and not p.relative_to(folder).parts[0].startswith(".")
    }


def test_export_writes_what_the_render_wrote_and_keeps_the_manifest_true(
    debug_render: Path, copied: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(copied), "--format", "reaper"]) == 0
    assert (copied / "session" / f"{copied.name}.rpp").read_bytes() == (
        debug_render / "session" / f"{debug_render.name}.rpp"
    ).read_bytes()
    assert not (copied / "session" / f"{copied.name}.dawproject").exists()
    assert main(["export", str(copied)]) == 0
    assert zipfile.ZipFile(copied / "session" / f"{copied.name}.dawproject").read(
        "project.xml"
    ) == zipfile.ZipFile(debug_render / "session" / f"{debug_render.name}.dawproject").read("project.xml")
    listed = {f["path"] for f in _manifest(copied)["files"]}
    assert listed == _on_disk(copied)
    assert "Traceback" not in capsys.readouterr().err


def test_a_missing_stem_file_leaves_its_track_out_and_says_so(
    copied: Path, project_schema: xmlschema.XMLSchema, capsys: pytest.CaptureFixture[str]
) -> None:
    (copied / "stems" / "keys.wav").unlink()
    assert main(["export", str(copied)]) == 0
    err = capsys.readouterr().err
    assert "stems/keys.wav is missing" in err and "Traceback" not in err
    project, _ = _dawproject(copied / "session" / f"{copied.name}.dawproject", project_schema)
    names = [t.get("name") for t in project.findall("./Structure/Track")]
    assert "keys" not in names and "keys (MIDI)" in names
    tracks = [t.find("NAME")[1] for t in _reaper(copied / "session" / f"{copied.name}.rpp").findall("TRACK")]
    assert "keys" not in tracks and "keys (MIDI)" in tracks


@pytest.mark.parametrize("damage", ["no manifest", "not json", "not a folder"])
def test_export_of_no_render_is_a_clear_error(
    tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "render"
    if damage != "not a folder":
        folder.mkdir()
    if damage == "not json":
        (folder / "manifest.json").write_text("{")
    assert main(["export", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not (folder / "session").exists()


@pytest.fixture
def read_only_render(copied: Path, tmp_path: Path) -> Iterator[Path]:
    """The copied render behind a read-only bind mount (root too cannot write there)."""
    import os

    if os.geteuid() != 0:
        pytest.skip("a bind mount needs root")
    folder = tmp_path / "ro"
    folder.mkdir()
    for args in (["--bind", str(copied), str(folder)], ["-o", "remount,bind,ro", str(folder)]):
        done = subprocess.run(["mount", *args], capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=False)
            pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_export_into_a_read_only_folder_is_a_clear_error(
    read_only_render: Path, copied: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (copied / "manifest.json").read_bytes()
    assert main(["export", str(read_only_render)]) == 2
    err = capsys.readouterr().err
    assert "Read-only file system" in err and "Traceback" not in err, err
    assert not (copied / "session").exists() and (copied / "manifest.json").read_bytes() == before


# --- a render without MIDI, with XML-special and non-ASCII names ------------------------------------------------

ODD = """title: "Café <Noir> & \\"Quotes\\" 'n' `ticks`"
artist: Zoë & Ñandú
bpm: 90
key: D minor
time_signature: 3/4
duration: 5
model: debug
sections:
  - {name: "Intro <&> \\"ä\\"", bars: 2}
  - {name: "Coda 'é'", bars: 1}
stems:
  - {name: keys, prompt: soft keys, midi: false}
  - {name: bass, prompt: warm bass, midi: false, mute: true}
master: {formats: [wav]}
"""


@pytest.fixture(scope="module")
def odd_render(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("odd")
    (src / "odd.yaml").write_text(ODD, encoding="utf-8")
    assert main(["render", str(src / "odd.yaml"), "-o", str(src / "out"), "--quiet"]) == 0
    (folder,) = (src / "out").iterdir()
    return folder


def test_a_render_without_midi_and_with_odd_names_gives_valid_sessions(
    odd_render: Path, project_schema: xmlschema.XMLSchema
) -> None:
    manifest, slug = _manifest(odd_render), odd_render.name
    assert any("no stem was transcribed" in n for n in manifest["sessions"]["notes"])
    project, container = _dawproject(odd_render / "session" / f"{slug}.dawproject", project_schema)
    meta = ET.fromstring(container.read("metadata.xml"))
    assert (
        meta.findtext("Title") == "Café <Noir> & \"Quotes\" 'n' `ticks`"
        and meta.findtext("Artist") == "Zoë & Ñandú"
    )
    assert [t.get("name") for t in project.findall("./Structure/Track")] == [
        "Master",
        "keys",
        "bass",
        "mix (reference)",
    ]
    assert project.find("./Transport/Tempo").get("value") == "90.0"  # type: ignore[union-attr]
    markers = [
        (m.get("name"), float(m.get("time", 0))) for m in project.findall("./Arrangement/Markers/Marker")
    ]
    assert markers == [('Intro <&> "ä"', 0.0), ("Coda 'é'", 6.0)]  # bar 3 of 3/4: six quarter notes
    reaper = _reaper(odd_render / "session" / f"{slug}.rpp")
    assert reaper.find("TITLE")[1] == "Café <Noir> & \"Quotes\" 'n' 'ticks'"  # REAPER has no quote left for `
    assert [m[3] for m in reaper.findall("MARKER")] == ['Intro <&> "ä"', "Coda 'é'"]
    assert reaper.find("TEMPO")[1:] == ["90.0", "3", "4"]
    tracks = {t.find("NAME")[1]: t for t in reaper.findall("TRACK")}
    assert list(tracks) == ["keys", "bass", "mix (reference)"] and tracks["bass"].find("MUTESOLO")[1] == "1"


# --- the rules, without a render ----------------------------------------------------------------------------------


def test_session_formats_are_defined_once() -> None:
    assert get_args(SessionFormat) == SESSION_FORMATS


def test_tempo_counts_quarter_notes() -> None:
    assert Tempo(120, 6, 8).quarter_bpm == 60.0 and Tempo(120, 6, 8).bar_beats(3) == 6.0
    assert Tempo(90, 3, 4).beats(2.0) == 3.0


def _fake_track(folder: Path, title: str, seconds: float) -> None:
    folder.mkdir(parents=True)
    sf.write(folder / "mix.wav", np.zeros((int(seconds * 8000), 2), dtype=np.float32), 8000)
    arrangement = {"title": title, "bpm": 100, "time_signature": "4/4", "duration": seconds, "stems": []}
    (folder / "manifest.json").write_text(json.dumps({"arrangement": arrangement, "stems": {}, "files": []}))


def test_an_album_session_puts_the_tracks_in_sequence(
    tmp_path: Path, project_schema: xmlschema.XMLSchema
) -> None:
    album = tmp_path / "my-album"
    _fake_track(album / "01-one", "One", 3.0)
    _fake_track(album / "02-two", "Two & Two", 2.0)
    tracks = [
        {"number": 1, "title": "One", "folder": "01-one", "start": 0.0},
        {"number": 2, "title": "Two & Two", "folder": "02-two", "start": 4.0},
    ]
    (album / "album-manifest.json").write_text(
        json.dumps({"title": "My Album", "tracks": tracks, "files": []})
    )
    assert main(["export", str(album)]) == 0
    project, _ = _dawproject(album / "session" / "my-album.dawproject", project_schema)
    clips = [float(c.get("time", 0)) for c in project.findall("./Arrangement/Lanes/Lanes/Clips/Clip")]
    assert clips == [0.0, pytest.approx(4.0 * 100 / 60)]
    reaper = _reaper(album / "session" / "my-album.rpp")
    items = [(t.find("NAME")[1], float(t.find("ITEM").find("POSITION")[1])) for t in reaper.findall("TRACK")]
    assert items == [("01 One", 0.0), ("02 Two & Two", 4.0)]
    assert [t.find("ITEM").find("SOURCE").find("FILE")[1] for t in reaper.findall("TRACK")] == [
        "../01-one/mix.wav",
        "../02-two/mix.wav",
    ]
    assert [m[3] for m in reaper.findall("MARKER")] == ["01 One", "02 Two & Two"]
    assert {f["path"] for f in json.loads((album / "album-manifest.json").read_text())["files"]} == {
        "session/my-album.dawproject",
        "session/my-album.rpp",
    }


@pytest.mark.parametrize(
    ("sessions", "code"), [("[]", 0), ("[reaper]", 0), ("[reaper, reaper]", 2), ("[protools]", 2)]
)
def test_master_sessions_takes_each_known_format_once(
    tmp_path: Path, sessions: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    song = tmp_path / "song.yaml"
    song.write_text(
        f"title: S\nbpm: 120\nkey: C major\nduration: 5\nmodel: debug\n"
        f"stems: [{{name: keys, prompt: keys}}]\nmaster: {{sessions: {sessions}}}\n"
    )
    assert main(["validate", str(song)]) == code
    assert code == 0 or "sessions" in capsys.readouterr().err


def test_no_session_format_writes_nothing(tmp_path: Path) -> None:
    from flows.pipeline.sessions import write_track_sessions

    assert write_track_sessions(tmp_path, "song", {}, []) == {"files": [], "notes": []}
    assert list(tmp_path.iterdir()) == []


# --- provenance: which models made the render, under which licences (issue 22 point 6) ---------------------------


def _provenance(manifest: dict[str, Any]) -> str:
    from flows.pipeline import Licenses

    return Licenses.from_json(manifest["licenses"]).note()


def test_both_sessions_carry_the_provenance_note(debug_render: Path) -> None:
    note = _provenance(_manifest(debug_render))
    assert "debug-melody (generation, MIT)" in note and "basic-pitch (transcription, Apache-2.0)" in note
    container = zipfile.ZipFile(debug_render / "session" / f"{debug_render.name}.dawproject")
    meta = xmlschema.XMLSchema(str(XSD / "MetaData.xsd")).to_dict(
        container.read("metadata.xml").decode("utf-8")
    )
    assert meta["Title"] == "Debug Groove" and meta["Comment"] == note  # type: ignore[index]
    notes = _reaper(debug_render / "session" / f"{debug_render.name}.rpp").find("NOTES")
    assert notes.attrib == ["0", "2"] and notes.children == [f"|{note}"]  # REAPER's project notes


def test_an_album_session_names_the_models_of_every_track(tmp_path: Path) -> None:
    album = tmp_path / "lic-album"
    used = {
        "01-one": {
            "generation": {"facebook/musicgen-small": "CC-BY-NC-4.0"},
            "transcription": {"basic-pitch": "Apache-2.0"},
        },
        "02-two": {"generation": {"debug": "MIT"}, "separation": {"htdemucs": "MIT"}},
    }
    for folder, licenses in used.items():
        _fake_track(album / folder, folder, 2.0)
        manifest = _manifest(album / folder)
        (album / folder / "manifest.json").write_text(json.dumps({**manifest, "licenses": licenses}))
    tracks = [{"number": i + 1, "title": f, "folder": f, "start": 3.0 * i} for i, f in enumerate(used)]
    (album / "album-manifest.json").write_text(json.dumps({"title": "Lic", "tracks": tracks, "files": []}))
    assert main(["export", str(album)]) == 0
    expected = (
        "Made with musicmaker from models facebook/musicgen-small (generation, CC-BY-NC-4.0), debug (generation, "
        "MIT), htdemucs (separation, MIT), basic-pitch (transcription, Apache-2.0); not for commercial use: "
        "CC-BY-NC-4.0 forbids it."
    )
    meta = ET.fromstring(zipfile.ZipFile(album / "session" / "lic-album.dawproject").read("metadata.xml"))
    assert meta.findtext("Comment") == expected + " " + (
        "tempo and time signature are the first track's (100 bpm 4/4); tracks are placed by their start in seconds"
    )
    assert _reaper(album / "session" / "lic-album.rpp").find("NOTES").children[0] == f"|{expected}"
