"""Albums: schema errors, album files, the stage cache after an edit, resume after SIGKILL, locks and faults."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flows.cli import main
from flows.pipeline.paths import render_lock
from tests.support.album_fixtures import write_album

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _problems(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


# --- album schema -------------------------------------------------------------------------------------------


def test_missing_track_file_names_the_album_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    album = write_album(tmp_path)
    (tmp_path / "two.yaml").unlink()
    err = _problems(capsys, ["album", "render", str(album), "--dry-run"])
    assert f"{album}:9:" in err and "file not found" in err and "two.yaml" in err


def test_duplicate_track_slugs_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    album = write_album(tmp_path)
    album.write_text(album.read_text().replace("slug: two", "slug: one"))
    err = _problems(capsys, ["album", "render", str(album), "--dry-run"])
    assert f"{album}:9:" in err and "'one' is already used by track 1" in err


def test_bad_default_points_at_the_album_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    album = write_album(tmp_path)
    album.write_text(album.read_text().replace("lufs: -16", "lufs: 3"))
    err = _problems(capsys, ["album", "render", str(album), "--dry-run"])
    # one problem per track, each at the album line where the shared default is written
    assert err.count(f"{album}:6:") == 2 and "master.lufs" in err


def test_track_file_problem_names_the_track_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    album = write_album(tmp_path)
    track = tmp_path / "one.yaml"
    track.write_text(track.read_text().replace("bpm: 120", "bpm: fast"))
    err = _problems(capsys, ["album", "render", str(album), "--dry-run"])
    assert f"{track}:2:" in err and "bpm" in err


def test_gap_and_crossfade_are_exclusive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    album = write_album(tmp_path)
    album.write_text(album.read_text() + "crossfade: 1.0\n")
    assert "not both" in _problems(capsys, ["album", "render", str(album), "--dry-run"])


# --- rendering ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    src = tmp_path_factory.mktemp("album-src")
    out = tmp_path_factory.mktemp("album-out")
    album = write_album(src, title="Cache Album")
    assert main(["album", "render", str(album), "-o", str(out), "--quiet"]) == 0
    return album, out / "cache-album"


def test_album_files_and_cue_sheet(rendered: tuple[Path, Path]) -> None:
    _, folder = rendered
    manifest = json.loads((folder / "album-manifest.json").read_text())
    tracks = manifest["tracks"]
    assert [t["slug"] for t in tracks] == ["one", "two"]
    assert tracks[0]["start"] == 0 and tracks[1]["start"] == pytest.approx(6.5, abs=1e-3)  # 6 s + 0.5 s gap
    info = sf.info(str(folder / "album.wav"))
    assert info.frames == round(12.5 * info.samplerate)
    assert sf.info(str(folder / "album.mp3")).frames >= info.frames
    cue = (folder / "album.cue").read_text()
    assert 'FILE "album.wav" WAVE' in cue and "INDEX 01 00:06:38" in cue  # 6.5 s = 6 s + 37.5 frames
    data, rate = sf.read(str(folder / "album.wav"))
    import pyloudnorm

    assert abs(pyloudnorm.Meter(rate).integrated_loudness(data) - (-14.0)) < 0.5
    assert (folder / "report.html").exists() and (folder / "one" / "report.html").exists()


def test_stems_of_both_tracks_share_a_generation_batch(rendered: tuple[Path, Path]) -> None:
    _, folder = rendered
    keys = json.loads((folder / "one" / "manifest.json").read_text())["stems"]["keys"]["generation"]
    assert keys["batch"] == ["one/keys", "two/keys"]


def test_cpu_stages_of_one_track_overlap_the_other_tracks_generation(
    prefect_harness: None, tmp_path: Path
) -> None:
    album = write_album(tmp_path / "src", title="Overlap Album")
    album.write_text(album.read_text() + "batch_tracks: false\n")
    assert main(["album", "render", str(album), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    stems = {
        slug: json.loads((tmp_path / "out" / "overlap-album" / slug / "manifest.json").read_text())["stems"]
        for slug in ("one", "two")
    }
    generation_end = {slug: max(s["generation"]["finished"] for s in v.values()) for slug, v in stems.items()}
    refine_start = {slug: min(s["refine"]["started"] for s in v.values()) for slug, v in stems.items()}
    assert stems["one"]["keys"]["generation"]["batch"] == ["keys"]  # one track per batch here
    first, last = sorted(generation_end, key=generation_end.get)  # type: ignore[arg-type]
    assert refine_start[first] < generation_end[last], "the finished track waited for the other's generation"


def test_editing_one_prompt_redoes_only_what_depends_on_it(rendered: tuple[Path, Path]) -> None:
    album, folder = rendered
    before = {p: _digest(p) for p in folder.glob("*/raw/*.wav")}
    track = album.parent / "two.yaml"
    track.write_text(track.read_text().replace("bright piano", "dark piano"))
    assert main(["album", "render", str(album), "-o", str(folder.parent), "--force", "--quiet"]) == 0
    one = json.loads((folder / "one" / "manifest.json").read_text())["reused"]
    two = json.loads((folder / "two" / "manifest.json").read_text())["reused"]
    assert one["generate"] == ["bass", "keys"] and one["clean"] == ["bass", "keys"]
    assert one["transcribe"] == ["bass", "keys"] and one["mix_and_master"] is True
    assert two["generate"] == [] and two["mix_and_master"] is False  # keys changed; bass follows keys
    changed = {p.relative_to(folder).as_posix() for p, d in before.items() if _digest(p) != d}
    # bass is generated again (its melody is the new keys) but may come out the same: the melody model sees
    # only the keys' chroma, which a prompt change need not alter
    assert "two/raw/keys.wav" in changed and changed <= {"two/raw/keys.wav", "two/raw/bass.wav"}


def test_album_redoes_one_stems_bars_in_one_track(
    rendered: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 26 point 4: album render --only TRACK:STEM --bars A-B redoes those bars of that stem (and of the stem
    following it) in that track; every other sample of the album's tracks stays."""
    album, folder = rendered
    before = {p: sf.read(str(p), dtype="float32")[0] for p in folder.glob("*/raw/*.wav")}
    argv = ["album", "render", str(album), "-o", str(folder.parent), "--only", "two:keys", "--bars", "2-2"]
    assert main([*argv, "--quiet"]) == 2 and "--force" in capsys.readouterr().err  # a finished album
    assert (
        main(
            [
                "album",
                "render",
                str(album),
                "-o",
                str(folder.parent),
                "--force",
                "--only",
                "9:keys",
                "--bars",
                "2",
            ]
        )
        == 2
    )
    assert "no track '9'" in capsys.readouterr().err
    assert main([*argv, "--force", "--json"]) == 0
    said = json.loads(capsys.readouterr().out)["tracks"][str(folder / "two")]["sections"]
    assert [s["bars"] for s in said["keys"]] == [[2, 2]] and [s["bars"] for s in said["bass"]] == [[2, 2]]
    for path, old in before.items():
        new, rate = sf.read(str(path), dtype="float32")
        a, b = 2 * rate, 4 * rate  # bar 2 at 120 bpm in 4/4
        assert np.array_equal(old[:a], new[:a]) and np.array_equal(old[b:], new[b:]), path
        redone = path.parent.parent.name == "two"
        assert (not np.array_equal(old[a:b], new[a:b])) == redone, path
    assert (folder / "album-manifest.json").is_file()


def test_a_second_render_of_the_same_folder_is_refused(
    rendered: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    album, folder = rendered
    with render_lock(folder):
        err = _problems(capsys, ["album", "render", str(album), "-o", str(folder.parent), "--force"])
    assert "being rendered right now" in err


def test_finished_album_is_not_overwritten(
    rendered: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    album, folder = rendered
    assert "--force" in _problems(capsys, ["album", "render", str(album), "-o", str(folder.parent)])


def test_sigkill_then_rerun_finishes_without_redoing_finished_stages(tmp_path: Path) -> None:
    album = write_album(tmp_path / "src", title="Killed Album")
    out = tmp_path / "out"
    cmd = [str(BIN / "musicmaker"), "album", "render", str(album), "-o", str(out), "--quiet"]
    # its own Prefect home: the embedded API's database is not shared with anything else running
    env = {
        **os.environ,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    raw = out / "killed-album" / "one" / "raw" / "keys.wav"
    deadline = time.time() + 300
    while not raw.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert raw.exists(), "the render did not get as far as a generated stem"
    survivor = _digest(raw)
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    folder = out / "killed-album"
    manifest = json.loads((folder / "one" / "manifest.json").read_text())
    assert "keys" in manifest["reused"]["generate"] and _digest(raw) == survivor
    assert not [p for p in folder.rglob("*") if ".part" in p.name], "partial files left behind"
    for wav in folder.rglob("*.wav"):
        assert np.isfinite(sf.read(str(wav))[0]).all(), wav


# --- faults --------------------------------------------------------------------------------------------------


def test_disk_full_gives_a_clear_error_and_keeps_finished_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stems.audio import Audio, write_wav
    from stems.errors import StorageError

    target = tmp_path / "stems" / "keys.wav"
    write_wav(target, Audio(np.zeros((1, 100), np.float32), 32000))
    finished = _digest(target)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sf.SoundFile, "write", full)
    with pytest.raises(StorageError, match="No space left on device"):
        write_wav(target, Audio(np.ones((1, 100), np.float32), 32000))
    assert _digest(target) == finished
    assert [p.name for p in target.parent.iterdir()] == ["keys.wav"]


TINY = """title: Retry Song
bpm: 120
key: C major
duration: 5
model: debug
stems:
  - {name: keys, prompt: keys, midi: false}
master: {formats: [wav]}
"""


def test_a_failing_stage_is_retried_but_a_user_error_is_not(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.pipeline import stages
    from stems.errors import UserInputError

    (tmp_path / "song.yaml").write_text(TINY)
    real, calls = stages.clean_stem, []

    def flaky(*args: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("transient fault")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(stages, "clean_stem", flaky)
    assert main(["render", str(tmp_path / "song.yaml"), "-o", str(tmp_path / "a"), "--quiet"]) == 0
    assert len(calls) == 2

    def wrong(*args: object) -> object:
        calls.append(1)
        raise UserInputError("a user mistake")

    calls.clear()
    monkeypatch.setattr(stages, "clean_stem", wrong)
    assert main(["render", str(tmp_path / "song.yaml"), "-o", str(tmp_path / "b"), "--quiet"]) == 2
    assert len(calls) == 1


def test_gpu_concurrency_limit_exists_after_a_render(rendered: tuple[Path, Path]) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name("gpu")
    assert limit.limit >= 1


def test_schedule_rejects_bad_cron_and_timezone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    album = write_album(tmp_path)
    assert "cron expression" in _problems(capsys, ["album", "schedule", str(album), "--cron", "every night"])
    err = _problems(
        capsys, ["album", "schedule", str(album), "--cron", "0 3 * * *", "--timezone", "Mars/Base"]
    )
    assert "IANA" in err


def test_analytics_default_off_but_user_choice_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.cli.settings import apply_prefect_defaults

    monkeypatch.delenv("PREFECT_SERVER_ANALYTICS_ENABLED", raising=False)
    apply_prefect_defaults()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")
    apply_prefect_defaults()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"
