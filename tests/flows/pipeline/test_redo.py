"""Section redos in the generation stage (issue 26), without Prefect: what ``--only/--section/--bars`` may ask
(``redo.ask_redos``), which generation items a redo regenerates, and the stage itself on the debug models: the
raw audio bit-identical outside the redone bars and new inside, the manifest record, reuse, ``--reset-sections``,
a follower conditioned on its leader's base and then on its redone audio, stereo, the track's first and last bars.

A 10 s track at 120 bpm 4/4 (bars of 2 s): intro bars 1-2, chorus 3-4, outro 5. Its base generation (keys, and
bass following keys) is made once per module and copied into each test's folder; a redo is a 2-4 s debug
generation (well under a second).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flows.pipeline import generation, redo
from flows.pipeline.paths import SECTIONS, RenderPaths
from flows.pipeline.records import GenerationRecord
from flows.pipeline.sections import SectionRedo, read_redos, write_redos
from flows.schema import Arrangement, parse_arrangement
from stems.audio import read_audio
from stems.errors import UserInputError
from stems.musicgen.generator import Generator
from stems.musicgen.splice import JOIN_FADE_S
from stems.musicgen.types import StemRequest
from tests.support.generation import generate_all

SR = 32_000
BAR = 2.0  # seconds: 4 beats at 120 bpm
HEAD = "title: T\nbpm: 120\nkey: A minor\nduration: {duration}\nseed: 5\nmodel: {model}\nseparation_model: debug\n"
SECTIONS_YAML = (
    "sections:\n"
    "  - {name: intro, bars: 2, prompt: sparse}\n"
    "  - {name: chorus, bars: 2, prompt: loud}\n"
    "  - {name: outro, bars: 1, prompt: calm}\n"
)
STEMS = (
    "stems:\n"
    "  - {name: keys, prompt: warm keys}\n"
    "  - {name: bass, prompt: round bass, model: debug-melody, follow: keys}\n"
)


def _song(
    folder: Path, stems: str = STEMS, model: str = "debug", duration: float = 10, extra: str = ""
) -> Arrangement:
    text = HEAD.format(duration=duration, model=model) + extra + SECTIONS_YAML + stems
    return parse_arrangement(text, folder / "song.yaml")


def _samples(path: Path) -> np.ndarray:
    return read_audio(path).samples


def _bars(a: float, b: float) -> slice:
    return slice(round(a * SR), round(b * SR))


@dataclass(frozen=True)
class Rendered:
    song: Arrangement
    root: Path
    records: dict[str, GenerationRecord]
    raw: dict[str, np.ndarray]  # raw/<item>.wav samples
    files: dict[str, bytes]  # and bytes


def _rendered(song: Arrangement, root: Path, records: dict[str, GenerationRecord]) -> Rendered:
    paths = RenderPaths(root, "t")
    names = list(records)
    return Rendered(
        song,
        root,
        records,
        {n: _samples(paths.raw(n)) for n in names},
        {n: paths.raw(n).read_bytes() for n in names},
    )


def _copy(rendered: Rendered, tmp_path: Path) -> RenderPaths:
    root = tmp_path / "t"
    shutil.copytree(rendered.root, root)
    return RenderPaths(root, "t")


class Requests:
    """Every request the debug generators are given, while spying."""

    def __init__(self) -> None:
        self.seen: list[StemRequest] = []

    def of(self, name: str) -> list[StemRequest]:
        return [r for r in self.seen if r.name == name]


@pytest.fixture()
def requests(monkeypatch: pytest.MonkeyPatch) -> Requests:
    spy, real = Requests(), Generator.generate

    def generate(self: Generator, reqs: list[StemRequest], *args: Any, **kwargs: Any) -> Any:
        spy.seen.extend(reqs)
        return real(self, reqs, *args, **kwargs)

    monkeypatch.setattr(Generator, "generate", generate)
    return spy


@pytest.fixture()
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any generation now fails the test: what is asked must come from the stage cache."""

    def generate(self: Generator, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a model ran")

    monkeypatch.setattr(Generator, "generate", generate)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """keys, and bass following keys, generated once (no redos)."""
    folder = tmp_path_factory.mktemp("redo-base")
    song, root = _song(folder), folder / "t"
    root.mkdir()
    records = generate_all(song, RenderPaths(root, "t"))
    assert set(records) == {"keys", "bass"} and not any(r.reused for r in records.values())
    return _rendered(song, root, records)


@pytest.fixture(scope="module")
def chorus(base: Rendered, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Rendered, Requests]]:
    """The base with the chorus (bars 3-4) of keys redone (bass follows), as `--only keys --section chorus`."""
    monkeypatch = pytest.MonkeyPatch()
    spy, real = Requests(), Generator.generate

    def generate(self: Generator, reqs: list[StemRequest], *args: Any, **kwargs: Any) -> Any:
        spy.seen.extend(reqs)
        return real(self, reqs, *args, **kwargs)

    monkeypatch.setattr(Generator, "generate", generate)
    try:
        paths = _copy(base, tmp_path_factory.mktemp("redo-chorus"))
        write_redos(paths.root, redo.ask_redos(base.song, paths.root, ["keys"], ["chorus"], [], None))
        yield _rendered(base.song, paths.root, generate_all(base.song, paths)), spy
    finally:
        monkeypatch.undo()


# --- what may be asked ----------------------------------------------------------------------------------------


def _refused(
    song: Arrangement, root: Path, only: list[str] | None, sections: list[str], bars: list[str]
) -> str:
    with pytest.raises(UserInputError) as caught:
        redo.ask_redos(song, root, only, sections, bars, None)
    return str(caught.value)


def test_redos_are_refused_with_what_to_do(base: Rendered, tmp_path: Path) -> None:
    song, root = base.song, base.root
    assert "--only" in _refused(song, root, None, ["chorus"], [])
    assert "--only" in _refused(song, root, [], ["chorus"], [])
    assert "unknown stem(s) ['lead']" in _refused(song, root, ["lead"], ["chorus"], [])
    message = _refused(song, root, ["keys"], ["bridge"], [])
    assert "no section 'bridge'" in message and "chorus (bars 3-4)" in message
    assert "the track has 5 bars" in _refused(song, root, ["keys"], [], ["4-6"])
    assert "FIRST-LAST" in _refused(song, root, ["keys"], [], ["x"])
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    message = _refused(song, fresh, ["keys"], ["chorus"], [])
    assert "has not been rendered" in message and "render the track first" in message
    assert not (root / SECTIONS).exists()  # asking writes nothing


def test_a_stem_that_was_not_rendered_is_refused_though_its_leader_was(
    base: Rendered, tmp_path: Path
) -> None:
    paths = _copy(base, tmp_path)
    paths.raw("bass").unlink()
    message = _refused(base.song, paths.root, ["bass"], ["chorus"], [])
    assert "stem 'bass' has not been rendered" in message and str(paths.raw("bass")) in message


def test_a_sketch_stem_is_refused(tmp_path: Path) -> None:
    stems = "stems:\n  - {name: keys, prompt: piano, model: sketch, midi: acoustic grand piano}\n"
    song = _song(tmp_path, stems, extra='chords: "Am | F | C | G"\n')
    message = _refused(song, tmp_path, ["keys"], ["chorus"], [])
    assert "played from its part" in message and "nothing to redo" in message


def test_asked_redos_name_their_items_bars_and_seed(base: Rendered, tmp_path: Path) -> None:
    song, root = base.song, base.root
    asked = redo.ask_redos(song, root, ["keys"], ["chorus"], [], None)
    seed = redo.default_seed(song, 3, 4)
    assert asked == {
        "keys": (SectionRedo(3, 4, seed, "chorus"),),
        "bass": (SectionRedo(3, 4, seed, "chorus"),),
    }
    assert redo.ask_redos(song, root, ["keys"], ["chorus"], [], None) == asked  # asked again: the same seed
    assert redo.default_seed(song, 3, 3) != seed
    # only the follower: its leader is kept; --bars and --seed
    assert redo.ask_redos(song, root, ["bass"], [], ["5"], 42) == {"bass": (SectionRedo(5, 5, 42),)}
    # recorded redos stay, and the new one goes on top of them, in the order asked
    paths = _copy(base, tmp_path)
    write_redos(paths.root, {"keys": (SectionRedo(4, 5, 8), SectionRedo(1, 1, 7))})
    assert redo.ask_redos(song, paths.root, ["keys"], ["chorus"], [], 9)["keys"] == (
        SectionRedo(4, 5, 8),
        SectionRedo(1, 1, 7),
        SectionRedo(3, 4, 9, "chorus"),
    )
    assert redo.reset_redos(song, paths.root, ["bass"]) == {
        "keys": (SectionRedo(4, 5, 8), SectionRedo(1, 1, 7))
    }
    assert (
        redo.reset_redos(song, paths.root, ["keys"]) == {} and redo.reset_redos(song, paths.root, None) == {}
    )


def test_redo_items_take_followers_takes_and_the_band_take(tmp_path: Path) -> None:
    song = _song(tmp_path)
    assert redo.redo_items(song, ["keys"]) == ["keys", "bass"]
    assert redo.redo_items(song, ["bass"]) == ["bass"]
    stems = (
        "stems:\n"
        "  - {name: keys, prompt: keys}\n"
        "  - {name: pad, prompt: pad, model: debug-melody, follow: keys}\n"
        "  - {name: lead, prompt: lead, model: debug-melody, follow: pad}\n"
        "  - {name: drums, prompt: drums, takes: 3}\n"
    )
    song = _song(tmp_path, stems)
    assert redo.redo_items(song, ["keys"]) == ["keys", "pad", "lead"]  # followers of followers too
    assert redo.redo_items(song, ["pad"]) == ["pad", "lead"]
    assert redo.redo_items(song, ["drums"]) == ["drums#1", "drums#2", "drums#3"]
    assert redo.redo_items(song, ["lead", "drums"]) == ["lead", "drums#1", "drums#2", "drums#3"]
    band = (
        "band: {}\n"
        "stems:\n"
        "  - {name: drums, from: band, source: drums, prompt: tight drums}\n"
        "  - {name: bass, from: band, source: bass}\n"
        "  - {name: lead, prompt: lead, model: debug-melody, follow: band}\n"
        "  - {name: keys, prompt: keys}\n"
    )
    song = _song(tmp_path, band)
    assert redo.redo_items(song, ["drums"]) == ["band", "lead"]
    assert redo.redo_items(song, ["bass", "drums"]) == ["band", "lead"]
    assert redo.redo_items(song, ["keys"]) == ["keys"]
    message = _refused(song, tmp_path, ["drums"], ["chorus"], [])
    assert "has not been rendered" in message and "band.wav" in message  # the band take is what is redone


# --- the generation stage -------------------------------------------------------------------------------------


def test_a_redo_changes_only_its_bars(base: Rendered, chorus: tuple[Rendered, Requests]) -> None:
    done, _ = chorus
    for name in ("keys", "bass"):
        before, after = base.raw[name], done.raw[name]
        assert after.shape == before.shape
        np.testing.assert_array_equal(after[:, : round(4 * SR)], before[:, : round(4 * SR)])
        np.testing.assert_array_equal(after[:, round(8 * SR) :], before[:, round(8 * SR) :])
        inside = _bars(4.0, 8.0)
        assert np.mean(after[:, inside] != before[:, inside]) > 0.9, name
        # the debug codec's audio hardly depends on its tokens (another seed's stem correlates at 0.99), so the
        # size of the change says little; that nearly every sample moved does
        assert np.abs(after[:, inside] - before[:, inside]).max() > 1e-3, name


def test_the_manifest_record_says_what_was_redone(base: Rendered, chorus: tuple[Rendered, Requests]) -> None:
    done, _ = chorus
    seed = redo.default_seed(base.song, 3, 4)
    for name in ("keys", "bass"):
        record = done.records[name]
        assert record.reused is False and record.model == base.records[name].model
        assert record.seed == base.records[name].seed  # the base generation's
        (section,) = record.sections
        assert (section.section, section.bars, section.seed) == ("chorus", (3, 4), seed)
        assert section.item_seed == redo.item_seed(SectionRedo(3, 4, seed), name) != seed
        assert (section.start, section.end) == (4.0, 8.0)
        assert section.seams == ((4.0, 4.0 + JOIN_FADE_S), (8.0 - JOIN_FADE_S, 8.0))
        data = record.to_json()["sections"][0]
        assert (
            data["bars"] == [3, 4]
            and data["seed"] == seed
            and data["seams"] == [list(s) for s in section.seams]
        )
        assert GenerationRecord.from_json(record.to_json()).sections == record.sections
    assert done.records["keys"].sections[0].item_seed != done.records["bass"].sections[0].item_seed


def test_the_redo_continues_from_the_bars_before_and_keeps_the_base(
    base: Rendered, chorus: tuple[Rendered, Requests]
) -> None:
    done, spy = chorus
    paths = RenderPaths(done.root, "t")
    (keys,) = spy.of("keys")  # the base was reused: the one request is the redo's
    assert (keys.at, keys.duration) == (4.0, 4.0)
    assert keys.continuation is not None
    np.testing.assert_array_equal(keys.continuation.samples, base.raw["keys"][:, : round(4 * SR)])
    assert keys.sections == tuple(generation.section_spans(base.song))  # read at stem time from `at`
    for name in ("keys", "bass"):
        assert paths.base(name).read_bytes() == base.files[name]  # the base generation, kept
        assert paths.section(name, 3, 4).is_file()


def test_a_follower_follows_its_leaders_redone_audio_in_the_bars(
    base: Rendered, chorus: tuple[Rendered, Requests]
) -> None:
    done, spy = chorus
    (bass,) = spy.of("bass")
    assert bass.melody is not None and (bass.at, bass.duration) == (4.0, 4.0)
    np.testing.assert_array_equal(bass.melody.samples, done.raw["keys"])  # the leader's raw audio, redone
    assert not np.array_equal(bass.melody.samples, base.raw["keys"])
    assert bass.continuation is not None
    np.testing.assert_array_equal(bass.continuation.samples, base.raw["bass"][:, : round(4 * SR)])
    # and its base generation stays the one conditioned on the leader's base: the same key, reused
    paths = RenderPaths(done.root, "t")
    key = generation.generation_key(base.song, base.song.stem("bass"), "debug-melody", paths, True, "bass")
    assert generation.melody_path(base.song, base.song.stem("bass"), paths, True) == paths.base("keys")
    assert key == generation.generation_key(
        base.song, base.song.stem("bass"), "debug-melody", RenderPaths(base.root, "t"), True, "bass"
    )


def test_the_same_redo_again_is_reused_without_a_model(
    chorus: tuple[Rendered, Requests], tmp_path: Path, no_model: None
) -> None:
    done, _ = chorus
    paths = _copy(done, tmp_path)
    records = generate_all(done.song, paths)
    for name in ("keys", "bass"):
        assert records[name].reused is True
        assert records[name].sections[0].bars == (3, 4)
        assert paths.raw(name).read_bytes() == done.files[name]


def test_a_reused_redo_does_not_say_its_sections_were_made(
    chorus: tuple[Rendered, Requests], tmp_path: Path, no_model: None
) -> None:
    done, _ = chorus
    records = generate_all(done.song, _copy(done, tmp_path))
    assert all(s.reused is not False for r in records.values() for s in r.sections)


def test_reset_sections_restores_the_base_without_a_model(
    base: Rendered, chorus: tuple[Rendered, Requests], tmp_path: Path, no_model: None
) -> None:
    done, _ = chorus
    paths = _copy(done, tmp_path)
    write_redos(paths.root, redo.reset_redos(done.song, paths.root, ["keys"]))
    assert read_redos(paths.root) == {}
    records = generate_all(done.song, paths)
    for name in ("keys", "bass"):
        assert paths.raw(name).read_bytes() == base.files[name]
        assert records[name].reused is True and records[name].sections == ()


def test_redoing_the_follower_alone_keeps_its_leader(
    base: Rendered, tmp_path: Path, requests: Requests
) -> None:
    paths = _copy(base, tmp_path)
    write_redos(paths.root, redo.ask_redos(base.song, paths.root, ["bass"], ["chorus"], [], None))
    records = generate_all(base.song, paths)
    assert records["keys"].reused is True and paths.raw("keys").read_bytes() == base.files["keys"]
    (bass,) = requests.of("bass")
    assert bass.melody is not None
    np.testing.assert_array_equal(bass.melody.samples, base.raw["keys"])
    after = _samples(paths.raw("bass"))
    np.testing.assert_array_equal(after[:, : 4 * SR], base.raw["bass"][:, : 4 * SR])
    np.testing.assert_array_equal(after[:, 8 * SR :], base.raw["bass"][:, 8 * SR :])
    assert not np.array_equal(after[:, _bars(4, 8)], base.raw["bass"][:, _bars(4, 8)])


def test_the_first_and_the_last_bars_have_one_seam_each(
    base: Rendered, tmp_path: Path, requests: Requests
) -> None:
    paths = _copy(base, tmp_path)
    write_redos(paths.root, {"keys": (SectionRedo(1, 1, 1), SectionRedo(5, 5, 2))})
    record = generate_all(base.song, paths)["keys"]
    first, last = record.sections
    assert (first.bars, first.start, first.end, first.seams) == (
        (1, 1),
        0.0,
        2.0,
        ((2.0 - JOIN_FADE_S, 2.0),),
    )
    assert (last.bars, last.start, last.end, last.seams) == ((5, 5), 8.0, 10.0, ((8.0, 8.0 + JOIN_FADE_S),))
    at_start, at_end = sorted(requests.of("keys"), key=lambda r: r.at)
    assert at_start.continuation is None and at_start.at == 0.0  # nothing before bar 1
    assert at_end.continuation is not None and at_end.at == 8.0
    after = _samples(paths.raw("keys"))
    np.testing.assert_array_equal(after[:, _bars(2, 8)], base.raw["keys"][:, _bars(2, 8)])
    assert not np.array_equal(after[:, _bars(0, 2)], base.raw["keys"][:, _bars(0, 2)])
    assert not np.array_equal(after[:, _bars(8, 10)], base.raw["keys"][:, _bars(8, 10)])


def done_sections(done: Rendered) -> tuple[SectionRedo, ...]:
    return read_redos(done.root)["keys"]


def test_another_seed_gives_other_bars(
    base: Rendered, chorus: tuple[Rendered, Requests], tmp_path: Path
) -> None:
    done, _ = chorus
    paths = _copy(done, tmp_path)
    write_redos(paths.root, redo.ask_redos(base.song, paths.root, ["keys"], ["chorus"], [], 12345))
    records = generate_all(base.song, paths)
    assert records["keys"].reused is False and records["keys"].sections[-1].seed == 12345
    assert [s.seed for s in records["keys"].sections][:-1] == [s.seed for s in done_sections(done)]
    for name in ("keys", "bass"):
        after = _samples(paths.raw(name))
        np.testing.assert_array_equal(after[:, : 4 * SR], base.raw[name][:, : 4 * SR])
        np.testing.assert_array_equal(after[:, 8 * SR :], base.raw[name][:, 8 * SR :])
        assert not np.array_equal(after[:, _bars(4, 8)], done.raw[name][:, _bars(4, 8)]), name


def test_a_stereo_stem_is_redone_in_both_channels(tmp_path: Path) -> None:
    song = _song(tmp_path, "stems:\n  - {name: pads, prompt: wide pads}\n", model="debug-stereo", duration=8)
    paths = RenderPaths(tmp_path / "t", "t")
    paths.root.mkdir()
    generate_all(song, paths)
    before = _samples(paths.raw("pads"))
    write_redos(paths.root, redo.ask_redos(song, paths.root, ["pads"], [], ["3"], None))
    record = generate_all(song, paths)["pads"]
    after = _samples(paths.raw("pads"))
    assert before.shape == after.shape == (2, 8 * SR) and record.channels == 2
    np.testing.assert_array_equal(after[:, : 4 * SR], before[:, : 4 * SR])
    np.testing.assert_array_equal(after[:, 6 * SR :], before[:, 6 * SR :])
    for channel in (0, 1):
        assert not np.array_equal(after[channel, _bars(4, 6)], before[channel, _bars(4, 6)])


def test_every_take_of_a_stem_is_redone(tmp_path: Path) -> None:
    song = _song(tmp_path, "stems:\n  - {name: keys, prompt: keys, takes: 2}\n", duration=8)
    paths = RenderPaths(tmp_path / "t", "t")
    paths.root.mkdir()
    generate_all(song, paths)
    before = {k: _samples(paths.raw(k)) for k in ("keys#1", "keys#2")}
    write_redos(paths.root, redo.ask_redos(song, paths.root, ["keys"], [], ["2-3"], None))
    records = generate_all(song, paths)
    assert set(records) == {"keys#1", "keys#2"}
    # every take of the bars goes into the take that was the stem (take 1: no render picked another), so the
    # stem outside the bars is what it was whichever take wins
    stem = before["keys#1"]
    for item in before:
        assert records[item].sections[0].bars == (2, 3) and records[item].sections[0].take == 1
        after = _samples(paths.raw(item))
        np.testing.assert_array_equal(after[:, : 2 * SR], stem[:, : 2 * SR])
        np.testing.assert_array_equal(after[:, 6 * SR :], stem[:, 6 * SR :])
        assert not np.array_equal(after[:, _bars(2, 6)], stem[:, _bars(2, 6)])
    takes = [_samples(paths.raw(item))[:, _bars(2, 6)] for item in before]
    assert not np.array_equal(takes[0], takes[1])
    assert records["keys#1"].sections[0].item_seed != records["keys#2"].sections[0].item_seed


def test_a_redo_with_a_changed_base_is_made_on_the_new_base(base: Rendered, tmp_path: Path) -> None:
    """The arrangement's keys prompt edited after a redo: the base is generated again, the redo on top of it."""
    paths = _copy(base, tmp_path)
    write_redos(paths.root, {"keys": (SectionRedo(3, 4, 1),)})
    first = generate_all(base.song, paths)["keys"]
    edited = base.song.model_copy(update={"stems": [_prompted(s) for s in base.song.stems]})
    record = generate_all(edited, paths)["keys"]
    assert first.reused is False and record.reused is False and record.sections[0].bars == (3, 4)
    fresh = RenderPaths(tmp_path / "fresh", "t")
    fresh.root.mkdir()
    generate_all(edited, fresh)  # the edited song's base, without redos
    after, new_base = _samples(paths.raw("keys")), _samples(fresh.raw("keys"))
    np.testing.assert_array_equal(after[:, : 4 * SR], new_base[:, : 4 * SR])
    assert paths.base("keys").read_bytes() == fresh.raw("keys").read_bytes()


def _prompted(stem: Any) -> Any:
    return stem.model_copy(update={"prompt": "bright keys"}) if stem.name == "keys" else stem


def test_redos_in_a_row_each_continue_from_the_one_before(
    base: Rendered, tmp_path: Path, requests: Requests
) -> None:
    paths = _copy(base, tmp_path)
    write_redos(paths.root, {"keys": (SectionRedo(3, 3, 1), SectionRedo(4, 4, 2))})
    record = generate_all(base.song, paths)["keys"]
    assert [s.bars for s in record.sections] == [(3, 3), (4, 4)]
    bar3, bar4 = sorted(requests.of("keys"), key=lambda r: r.at)
    after = _samples(paths.raw("keys"))
    assert bar3.continuation is not None and bar4.continuation is not None
    np.testing.assert_array_equal(bar3.continuation.samples, base.raw["keys"][:, : 4 * SR])
    np.testing.assert_array_equal(bar4.continuation.samples, after[:, : 6 * SR])  # bar 3 as redone
    assert not np.array_equal(after[:, _bars(4, 6)], base.raw["keys"][:, _bars(4, 6)])
    np.testing.assert_array_equal(after[:, 8 * SR :], base.raw["keys"][:, 8 * SR :])


# --- found while writing these tests (issue 26 review): each failed before its fix ---------------------------------------


def test_the_record_names_the_redo_as_last_asked(chorus: tuple[Rendered, Requests], tmp_path: Path) -> None:
    done, _ = chorus
    paths = _copy(done, tmp_path)
    write_redos(paths.root, redo.ask_redos(done.song, paths.root, ["keys"], [], ["3-4"], None))
    assert read_redos(paths.root)["keys"][-1].section is None
    records = generate_all(done.song, paths)
    # another redo on top, named as asked; nothing generated: the same bars, seed and prefix give the same audio
    assert [s.section for s in records["keys"].sections] == ["chorus", None]
    assert records["keys"].reused is True and all(s.reused for s in records["keys"].sections)


def test_bar_one_of_a_stem_with_a_continuation_file_continues_from_it(
    tmp_path: Path, requests: Requests
) -> None:
    rng = np.random.default_rng(0)
    import soundfile as sf

    sf.write(
        tmp_path / "before.wav", (0.2 * rng.standard_normal(3 * SR)).astype(np.float32), SR, subtype="FLOAT"
    )
    song = _song(tmp_path, "stems:\n  - {name: keys, prompt: keys, continuation: before.wav}\n", duration=8)
    paths = RenderPaths(tmp_path / "t", "t")
    paths.root.mkdir()
    generate_all(song, paths)
    write_redos(paths.root, redo.ask_redos(song, paths.root, ["keys"], [], ["1"], None))
    generate_all(song, paths)
    whole, bar1 = requests.of("keys")
    assert whole.continuation is not None and bar1.at == 0.0
    assert bar1.continuation is not None
    np.testing.assert_array_equal(bar1.continuation.samples, whole.continuation.samples)


def test_a_short_last_bar_is_redone_or_refused_when_asked(tmp_path: Path) -> None:
    song = _song(tmp_path, "stems:\n  - {name: keys, prompt: keys}\n", duration=8.3)
    paths = RenderPaths(tmp_path / "t", "t")
    paths.root.mkdir()
    generate_all(song, paths)
    before = _samples(paths.raw("keys"))
    try:
        asked = redo.ask_redos(song, paths.root, ["keys"], [], ["5"], None)
    except UserInputError as refused:  # refusing up front, with the reason, would do
        assert "--bars 5" in str(refused)
        return
    write_redos(paths.root, asked)
    record = generate_all(song, paths)["keys"]
    assert record.sections[0].bars == (5, 5)
    np.testing.assert_array_equal(_samples(paths.raw("keys"))[:, : 8 * SR], before[:, : 8 * SR])


def test_a_redo_past_a_shortened_tracks_end_is_not_a_zero_second_request(
    base: Rendered, tmp_path: Path
) -> None:
    paths = _copy(base, tmp_path)
    write_redos(paths.root, {"keys": (SectionRedo(5, 5, 1),)})
    shorter = _song(tmp_path, duration=8)  # 4 bars: bar 5 is gone
    try:
        records = generate_all(shorter, paths)
    except UserInputError as refused:  # or refuse, saying how to drop the redo
        assert "--reset-sections" in str(refused)
        return
    assert records["keys"].sections == ()


def test_a_band_stems_redo_redoes_the_band_take_and_its_split_follows(tmp_path: Path) -> None:
    """Band mode (issue 26 point 4): `--only drums --section chorus` on a band stem redoes the chorus of the band
    take, bit-identical outside; the Demucs split runs again on it, so every band stem's raw audio changes in the
    chorus, and the stem following the take is redone there too."""
    from flows.pipeline import band

    stems = (
        "band: {}\n"
        "stems:\n"
        "  - {name: drums, from: band, source: drums, prompt: tight drums}\n"
        "  - {name: bass, from: band, source: bass}\n"
        "  - {name: lead, prompt: lead, model: debug-melody, follow: band}\n"
    )
    song = _song(tmp_path, stems)
    paths = RenderPaths(tmp_path / "t", "t")
    paths.root.mkdir()
    generate_all(song, paths)
    band.separate_band(song, list(song.stems), paths)
    before = {n: _samples(paths.raw(n)) for n in ("band", "lead", "drums", "bass")}
    write_redos(paths.root, redo.ask_redos(song, paths.root, ["drums"], ["chorus"], [], None))
    records = generate_all(song, paths)
    assert [s.bars for s in records["band"].sections] == [(3, 4)] and records["lead"].sections[0].bars == (
        3,
        4,
    )
    band.separate_band(song, list(song.stems), paths)
    for name, old in before.items():
        new = _samples(paths.raw(name))
        assert not np.array_equal(new[:, _bars(4, 8)], old[:, _bars(4, 8)]), name
        if name in ("band", "lead"):  # generated: bit-identical outside the bars
            np.testing.assert_array_equal(new[:, _bars(0, 4)], old[:, _bars(0, 4)])
            np.testing.assert_array_equal(new[:, _bars(8, 10)], old[:, _bars(8, 10)])
