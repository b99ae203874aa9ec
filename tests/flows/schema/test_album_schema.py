"""The album file on its own (no render): tracks keep the file's order, folder names, gap/crossfade rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.schema import SchemaError, load_album, track_slug

TRACK = "title: {title}\nbpm: 120\nkey: A minor\nduration: {duration}\nmodel: debug\nstems:\n  - {{name: keys, prompt: keys}}\n"


def write(folder: Path, album: str, tracks: dict[str, tuple[str, float]]) -> Path:
    for file, (title, duration) in tracks.items():
        (folder / file).write_text(TRACK.format(title=title, duration=duration))
    path = folder / "album.yaml"
    path.write_text(album)
    return path


def test_tracks_keep_the_files_order_and_get_folder_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "title: A\ntracks:\n  - c.yaml\n  - {path: a.yaml, slug: first-one}\n  - b.yaml\n",
        {"a.yaml": ("Alpha", 5), "b.yaml": ("Beta!", 5), "c.yaml": ("Gamma Ray", 5)},
    )
    album, tracks = load_album(path)
    assert [t.title for t in tracks] == ["Gamma Ray", "Alpha", "Beta!"]
    assert [track_slug(album, i, t) for i, t in enumerate(tracks)] == ["gamma-ray", "first-one", "beta"]
    assert (album.gap, album.crossfade) == (2.0, 0.0)  # the defaults: two seconds of silence, no overlap


def test_two_tracks_with_one_folder_name_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, "title: A\ntracks: [a.yaml, b.yaml]\n", {"a.yaml": ("Same", 5), "b.yaml": ("Same", 5)}
    )
    with pytest.raises(SchemaError, match="already used by track 1"):
        load_album(path)


def test_gap_and_crossfade_are_exclusive_and_a_crossfade_must_fit(tmp_path: Path) -> None:
    tracks = {"a.yaml": ("One", 10), "b.yaml": ("Two", 8)}
    with pytest.raises(SchemaError, match="not both"):
        load_album(write(tmp_path, "title: A\ntracks: [a.yaml, b.yaml]\ngap: 1\ncrossfade: 1\n", tracks))
    with pytest.raises(SchemaError, match="longer than half the shortest track"):
        load_album(write(tmp_path, "title: A\ntracks: [a.yaml, b.yaml]\ngap: 0\ncrossfade: 4.5\n", tracks))
    album, _ = load_album(
        write(tmp_path, "title: A\ntracks: [a.yaml, b.yaml]\ngap: 0\ncrossfade: 4\n", tracks)
    )
    assert (album.gap, album.crossfade) == (0.0, 4.0)
