"""``render --section NAME --preview`` without Prefect (issue 26 point 5): one section of every stem into a scratch
folder, going on from the finished render's audio with the request a redo would make, so the preview is what the
redo with that seed splices in; without a render, the sections before it are generated as context. The render
folder is never written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf

from flows.pipeline import redo
from flows.pipeline.paths import RenderPaths
from flows.pipeline.preview import preview_section
from flows.pipeline.sections import write_redos
from flows.schema import parse_arrangement
from tests.support.generation import generate_all

SONG = """\
title: T
bpm: 120
key: A minor
duration: 10
seed: 5
model: debug
separation_model: debug
sections:
  - {name: intro, bars: 2, prompt: sparse}
  - {name: chorus, bars: 2, prompt: loud}
  - {name: outro, bars: 1, prompt: calm}
stems:
  - {name: keys, prompt: warm keys, gain_db: -3, pan: -0.5}
  - {name: bass, prompt: round bass, model: debug-melody, follow: keys}
"""
FADE = 2000  # samples left out at each end of a comparison: the redo's crossfades lie there


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def test_the_preview_is_what_the_redo_splices_in_and_the_render_is_untouched(tmp_path: Path) -> None:
    song = parse_arrangement(SONG, tmp_path / "song.yaml")
    paths = RenderPaths(tmp_path / "out" / "t", "t")
    paths.root.mkdir(parents=True)
    generate_all(song, paths)
    before = _tree(paths.root)
    preview = preview_section(song, tmp_path / "out", "t", "chorus", 11, None)
    assert _tree(paths.root) == before
    assert preview.folder == tmp_path / "out" / "previews" / "t" / "chorus"
    assert preview.from_render == ("keys", "bass") and (preview.start, preview.end) == (4.0, 8.0)
    heard = {p.stem: sf.read(str(p), dtype="float32", always_2d=True) for p in preview.stems}
    assert all(len(a) == 4 * rate for a, rate in heard.values())
    mix, _ = sf.read(str(preview.mix), dtype="float32", always_2d=True)
    assert mix.shape[1] == 2 and 0 < np.abs(mix).max() <= 10 ** (-1 / 20) + 1e-6
    write_redos(paths.root, redo.ask_redos(song, paths.root, ["keys"], ["chorus"], [], 11))
    generate_all(song, paths)
    for name in ("keys", "bass"):  # bass follows keys: its preview followed the keys' preview
        made, _ = sf.read(str(paths.section(name, 3, 4)), dtype="float32", always_2d=True)
        np.testing.assert_array_equal(made[FADE:-FADE], heard[name][0][FADE:-FADE])


def test_without_a_render_the_sections_before_are_the_context(tmp_path: Path) -> None:
    song = parse_arrangement(SONG, tmp_path / "song.yaml")
    preview = preview_section(song, tmp_path / "out", "t", "outro", None, None)
    assert preview.from_render == () and (preview.start, preview.end) == (8.0, 10.0)
    assert not (tmp_path / "out" / "t").exists()
    for path in preview.stems:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        assert len(audio) == 2 * rate and np.abs(audio).max() > 0
    assert not (preview.folder / "raw").exists()  # the followers' whole-length audio is not left behind
