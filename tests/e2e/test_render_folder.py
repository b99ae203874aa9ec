"""A render folder's promises: the manifest is written last and is true, `--only` keeps the other stems, the stage
cache survives corrupt records, stems.zip is byte-deterministic, and albums keep the lock and never-overwrite rule."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flows.cli import main
from stems.errors import StorageError, UserInputError
from tests.support.album_fixtures import write_album

SONG = """title: Folder Song
bpm: 120
key: C major
duration: 5
model: debug
stems:
  - {name: keys, prompt: soft keys, midi: keys}
  - {name: bass, prompt: warm bass, midi: bass}
master: {formats: [wav], zip_stems: true}
"""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(folder: Path) -> dict:
    return dict(json.loads((folder / "manifest.json").read_text()))


def _on_disk(folder: Path) -> dict[str, str]:
    """Every visible file of a render folder but the manifest, with its sha256."""
    files = [p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"]
    visible = [p for p in files if not any(s.startswith(".") for s in p.relative_to(folder).parts)]
    return {p.relative_to(folder).as_posix(): _sha(p) for p in visible}


def _render(song: Path, out: Path, *flags: str) -> int:
    return main(["render", str(song), "-o", str(out), "--quiet", *flags])


@pytest.fixture(scope="module")
def rendered(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(song file, track folder) of a two-stem render with stems.zip."""
    src = tmp_path_factory.mktemp("song")
    song = src / "song.yaml"
    song.write_text(SONG)
    assert _render(song, src / "out") == 0
    return song, src / "out" / "folder-song"


# --- the manifest is written last and is true ------------------------------------------------------------------


def test_manifest_lists_every_file_with_its_real_hash(rendered: tuple[Path, Path]) -> None:
    _, folder = rendered
    listed = {f["path"]: f["sha256"] for f in _manifest(folder)["files"]}
    assert "report.html" in listed and any(p.startswith("report/") for p in listed)
    assert listed == _on_disk(folder)


def test_rewriting_the_report_keeps_the_manifest_true(rendered: tuple[Path, Path]) -> None:
    from flows.cli import main

    _, folder = rendered
    manifest = _manifest(folder)
    (folder / "manifest.json").write_text(json.dumps({**manifest, "title": "Renamed"}))  # a page to redraw
    assert main(["report", str(folder), "--quiet"]) == 0
    assert {f["path"]: f["sha256"] for f in _manifest(folder)["files"]} == _on_disk(folder)


def test_report_is_written_before_the_manifest(
    rendered: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows import report

    song, folder = rendered
    (folder / "report.html").unlink()

    def disk_full(path: Path, manifest: dict) -> None:
        raise StorageError("No space left on device")

    monkeypatch.setattr(report, "write_manifest", disk_full)
    assert _render(song, folder.parent, "--force") == 2
    # stopped between the two: the report is there, the render is not finished, so a plain re-run finishes it
    assert (folder / "report.html").is_file() and not (folder / "manifest.json").exists()
    monkeypatch.undo()
    assert _render(song, folder.parent) == 0
    assert {f["path"]: f["sha256"] for f in _manifest(folder)["files"]} == _on_disk(folder)


def test_stems_zip_is_byte_deterministic(tmp_path: Path) -> None:
    from mixing.export import zip_files

    stems = []
    for name, freq in (("keys", 440.0), ("bass", 55.0)):
        path = tmp_path / f"{name}.wav"
        sf.write(str(path), np.sin(2 * np.pi * freq * np.arange(8000) / 8000).astype(np.float32), 8000)
        stems.append(path)
    first = zip_files(stems, tmp_path / "a.zip").read_bytes()
    for stamp, path in zip((1_000_000_000, 1_700_000_000), stems):  # other times and modes, other order
        os.utime(path, (stamp, stamp))
        path.chmod(0o600)
    assert zip_files(stems[::-1], tmp_path / "b.zip").read_bytes() == first
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert zf.namelist() == ["bass.wav", "keys.wav"] and zf.read("keys.wav") == stems[0].read_bytes()


# --- --only STEM --force redoes that stem and what depends on it, and keeps the rest -------------------------------


def test_only_force_redoes_one_stem_and_keeps_the_rest(rendered: tuple[Path, Path]) -> None:
    import mido

    song, folder = rendered
    keys_raw = _sha(folder / "raw" / "keys.wav")
    assert _render(song, folder.parent, "--only", "bass", "--force") == 0
    manifest = _manifest(folder)
    assert sorted(manifest["stems"]) == ["bass", "keys"]
    reused = manifest["reused"]
    assert reused["generate"] == ["keys"] and reused["clean"] == ["keys"] and reused["transcribe"] == ["keys"]
    assert reused["mix_and_master"] is False and _sha(folder / "raw" / "keys.wav") == keys_raw
    with zipfile.ZipFile(folder / "stems.zip") as zf:
        assert zf.namelist() == ["bass.wav", "keys.wav"]
    names = [
        m.name
        for t in mido.MidiFile(str(folder / "midi" / "folder-song.mid")).tracks
        for m in t
        if m.type == "track_name"
    ]
    assert "keys" in names and "bass" in names
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == _on_disk(folder)


SEPARATED = """title: Separated Song
bpm: 120
key: C major
duration: 5
model: debug
separation_model: debug
stems:
  - {name: keys, prompt: soft keys, separate: other, midi: keys}
  - {name: bass, prompt: warm bass, model: debug-melody, follow: keys, separate: bass, midi: bass}
  - {name: drums, prompt: tight drums, model: debug-stereo, separate: drums, midi: drums}
master: {formats: [wav]}
"""


@pytest.mark.slow
def test_only_force_leaves_every_stem_whose_audio_is_the_same_bit_identical(
    prefect_harness: None, tmp_path: Path
) -> None:
    """Issue 22 point 4: `--only keys --force` changed stems/bass.wav by 4e-8. keys and the bass that follows it
    are redone, each generated alone as before, so their raw audio is the same; but Demucs had separated all
    three stems in one batch and now separated two, and a batch rounds a stem otherwise. Now every file of
    every stem (raw, residual, stem, MIDI) is what it was."""
    song = tmp_path / "song.yaml"
    song.write_text(SEPARATED)
    assert _render(song, tmp_path / "out") == 0
    folder = tmp_path / "out" / "separated-song"
    before = {p: h for p, h in _on_disk(folder).items() if p.startswith(("raw/", "stems/", "midi/"))}
    assert len([p for p in before if p.endswith(".residual.wav")]) == 3  # all three were separated
    assert _render(song, folder.parent, "--only", "keys", "--force") == 0
    assert _manifest(folder)["reused"]["generate"] == ["drums"]  # keys and bass were redone
    after = _on_disk(folder)
    assert {p: after.get(p) for p in before} == before


def test_only_redoes_the_stems_that_follow(tmp_path: Path) -> None:
    from flows.pipeline.generation import redone_stems
    from flows.schema import parse_arrangement

    text = SONG.replace(
        "  - {name: bass, prompt: warm bass, midi: bass}\n",
        """\
  - {name: bass, prompt: warm bass, follow: keys, model: debug-melody}
  - {name: pad, prompt: pad, follow: bass, model: debug-melody}
  - {name: drums, prompt: drums}
""",
    )
    arrangement = parse_arrangement(text, tmp_path / "song.yaml")
    assert redone_stems(arrangement, ["keys"]) == ["keys", "bass", "pad"]
    assert redone_stems(arrangement, ["pad", "drums"]) == ["pad", "drums"]
    assert redone_stems(arrangement, None) == []
    with pytest.raises(UserInputError, match="unknown stem"):
        redone_stems(arrangement, ["flute"])


# --- the stage cache survives any corruption ---------------------------------------------------------------------


BAD_RECORDS = (
    b"[]",
    b"{}",
    b'{"key": 1}',
    b"null",
    b'"text"',
    b"\xff\xfe\x00garbage",
    b"[" * 100_000,
    b'{"key": "K", "files": [], "result": {}}',
    b'{"key": "K", "files": {}, "result": []}',
    b'{"key": "K", "files": {"out.wav": 1}, "result": {}}',
    b'{"key": "K", "files": {}}',
)


def test_an_unreadable_stage_record_means_redo(tmp_path: Path) -> None:
    from flows.pipeline.cache import StageCache

    cache = StageCache(tmp_path)
    (tmp_path / "out.wav").write_bytes(b"audio")
    cache.store("mix", "mix", "K", [tmp_path / "out.wav"], {"files": ["out.wav"]})
    assert cache.lookup("mix", "mix", "K") == {"files": ["out.wav"]}
    record = tmp_path / ".musicmaker" / "stages" / "mix.mix.json"
    for content in BAD_RECORDS:
        record.write_bytes(content)
        assert cache.lookup("mix", "mix", "K") is None, content[:40]


def test_a_render_redoes_a_stage_whose_record_is_corrupt(rendered: tuple[Path, Path]) -> None:
    song, folder = rendered
    stages = folder / ".musicmaker" / "stages"
    (stages / "clean.keys.json").write_text("[]")
    (stages / "generate.bass.json").write_bytes(b"\x00\xff not json")
    assert _render(song, folder.parent, "--force") == 0
    reused = _manifest(folder)["reused"]
    assert "keys" not in reused["clean"] and reused["generate"] == ["keys"]  # bass's new take may be the same


# --- albums keep the track rules ---------------------------------------------------------------------------------


def _foreign_track(folder: Path) -> bytes:
    """A finished single-track render in the album's track folder 'one' (a hand-made manifest is enough)."""
    (folder / "one").mkdir(parents=True)
    manifest = json.dumps({"title": "One", "render": {"out_dir": str(folder), "force": False}}).encode()
    (folder / "one" / "manifest.json").write_bytes(manifest)
    return manifest


def test_album_does_not_replace_a_finished_track_render_it_did_not_make(
    prefect_harness: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    album = write_album(tmp_path / "src", title="Kept Album")
    folder = tmp_path / "out" / "kept-album"
    manifest = _foreign_track(folder)
    assert main(["album", "render", str(album), "-o", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(folder / "one") in err and "--force" in err
    assert (folder / "one" / "manifest.json").read_bytes() == manifest
    assert not (folder / "two" / "raw").exists() and not (folder / "album-manifest.json").exists()


def test_album_holds_its_track_folders_and_resumes_its_own_tracks(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.orchestration import album as album_flow
    from flows.orchestration.render import render_arrangement
    from flows.pipeline.paths import render_lock

    album = write_album(tmp_path / "src", title="Locked Album")
    out, folder = tmp_path / "out", tmp_path / "out" / "locked-album"
    _foreign_track(folder)
    real, refused = album_flow.run_tracks, []

    def meanwhile(jobs: list, across_tracks: bool = True) -> list[str]:
        """While the album runs: a single-track render into its folder is refused, its track folders locked."""
        for slug in ("one", "new"):
            with pytest.raises(UserInputError, match="being rendered right now") as err:
                render_arrangement(jobs[0].arrangement, out_dir=str(folder), force=True, slug=slug)
            refused.append(str(err.value))
        with pytest.raises(UserInputError, match="being rendered right now"), render_lock(folder / "two"):
            pass
        return list(real(jobs, across_tracks))

    monkeypatch.setattr(album_flow, "run_tracks", meanwhile)
    assert main(["album", "render", str(album), "-o", str(out), "--force", "--quiet"]) == 0
    assert len(refused) == 2 and not (folder / "new" / "manifest.json").exists()
    one = _manifest(folder / "one")
    assert one["render"]["album_run"] and one["title"] == "One"
    monkeypatch.undo()
    # killed before the album manifest: a plain re-run resumes the album, its finished tracks reused
    (folder / "album-manifest.json").unlink()
    assert main(["album", "render", str(album), "-o", str(out), "--quiet"]) == 0
    assert _manifest(folder / "one")["reused"]["mix_and_master"] is True
    album_manifest = json.loads((folder / "album-manifest.json").read_text())
    listed = {f["path"]: f["sha256"] for f in album_manifest["files"]}
    assert "report.html" in listed and all(_sha(folder / p) == d for p, d in listed.items())
