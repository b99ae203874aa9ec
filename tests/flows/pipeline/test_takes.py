"""A stem's takes as generation items and files (issue 25 point 1): names, seeds, batches and paths, without
rendering (a render with takes: tests/e2e/test_takes_render.py)."""

from __future__ import annotations

from pathlib import Path

from flows.pipeline import RenderPaths, generation, split_item, take_item
from flows.schema import parse_arrangement

SONG = (
    "title: T\nbpm: 120\nkey: A minor\nduration: 16\nmodel: debug\ntakes: 2\n"
    "stems:\n  - {name: keys, prompt: keys}\n  - {name: bass, prompt: bass, takes: 3}\n"
    "  - {name: drums, prompt: drums, takes: 1}\n"
)


def test_take_items_name_their_stem_and_take() -> None:
    assert take_item("bass", 2) == "bass#2" and split_item("bass#2") == ("bass", 2)
    assert split_item("bass") == ("bass", None)


def test_takes_are_rows_of_the_stems_batch_and_take_one_keeps_the_stems_seed(tmp_path: Path) -> None:
    song = parse_arrangement(SONG, tmp_path / "song.yaml")
    assert generation.generation_batches(song, list(song.stems)) == [
        ("debug", ["keys#1", "keys#2", "bass#1", "bass#2", "bass#3", "drums"])
    ]
    seeds = [generation.item_seed(song.seed, f"bass#{k}") for k in (1, 2, 3)]
    assert seeds[0] == generation.stem_seed(song.seed, "bass") and len(set(seeds)) == 3
    requests = generation.build_requests(song, ["bass#1", "bass#2"], None, False)
    assert [(r.name, r.seed, r.prompt) for r in requests] == [
        ("bass#1", seeds[0], "bass"),
        ("bass#2", seeds[1], "bass"),
    ]
    keys = generation.generated_stem(song, "keys#2")
    assert keys.name == "keys" and generation.generation_key(
        song, keys, "debug", RenderPaths(tmp_path, "t"), False, "keys#2"
    ) != generation.generation_key(song, keys, "debug", RenderPaths(tmp_path, "t"), False, "keys#1")


def test_a_takes_files_are_its_own_and_only_the_finished_one_is_an_output(tmp_path: Path) -> None:
    paths = RenderPaths(tmp_path, "t")
    assert paths.stem("bass#2") == tmp_path / "takes" / "bass" / "2.wav"
    hidden = [paths.raw("bass#2"), paths.kept("bass#2"), paths.cleaned("bass#2"), paths.residual("bass#2")]
    assert all(p.parent == tmp_path / ".musicmaker" / "takes" / "bass" for p in hidden)
    assert len(set(hidden)) == 4
    assert (
        paths.stem("bass") == tmp_path / "stems" / "bass.wav"
        and paths.raw("bass") == tmp_path / "raw" / "bass.wav"
    )
