"""Section redos as the render folder keeps them (issue 26): bars of a named section (repeated names, ``name:N``,
the last section running to the track's end), ``--bars`` parsing and bounds, merging a new redo into the old
ones, and ``.musicmaker/sections.json`` read back, hand-broken files included. No model runs here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.pipeline.paths import SECTIONS
from flows.pipeline.sections import (
    SectionRedo,
    appended,
    bar_span,
    check_bars,
    parse_bars,
    read_redos,
    redos_of,
    section_bars,
    total_bars,
    write_redos,
)
from flows.schema import Arrangement, parse_arrangement
from stems.errors import UserInputError

# 120 bpm 4/4: a bar is 2 s, so 12 s is 6 bars.
HEAD = "title: T\nbpm: 120\nkey: A minor\nduration: {duration}\nmodel: debug\n"
STEMS = "stems:\n  - {name: keys, prompt: keys}\n"
UNIQUE = "sections:\n  - {name: intro, bars: 2}\n  - {name: verse, bars: 2}\n  - {name: chorus, bars: 2}\n"
REPEATED = (
    "sections:\n"
    "  - {name: verse, bars: 1}\n"
    "  - {name: chorus, bars: 2}\n"
    "  - {name: verse, bars: 1}\n"
    "  - {name: chorus, bars: 2}\n"
)


def _song(tmp_path: Path, sections: str, duration: float = 12) -> Arrangement:
    text = HEAD.format(duration=duration) + sections + STEMS
    return parse_arrangement(text, tmp_path / "song.yaml")


def _refusal(song: Arrangement, name: str) -> str:
    with pytest.raises(UserInputError) as caught:
        section_bars(song, name)
    return str(caught.value)


# --- bars of a section ----------------------------------------------------------------------------------------


def test_unique_sections_give_their_bars(tmp_path: Path) -> None:
    song = _song(tmp_path, UNIQUE)
    assert total_bars(song) == 6
    assert section_bars(song, "intro") == (1, 2, "intro")
    assert section_bars(song, "verse") == (3, 4, "verse")
    assert section_bars(song, "chorus") == (5, 6, "chorus")
    assert bar_span(song, 3, 4) == (4.0, 8.0)


def test_a_repeated_name_is_refused_alone_and_taken_with_its_occurrence(tmp_path: Path) -> None:
    song = _song(tmp_path, REPEATED)
    message = _refusal(song, "chorus")
    assert "2 sections are called 'chorus'" in message and "--section chorus:2" in message
    assert section_bars(song, "chorus:1") == (2, 3, "chorus:1")
    assert section_bars(song, "chorus:2") == (5, 6, "chorus:2")
    assert section_bars(song, "verse:2") == (4, 4, "verse:2")
    for bad in ("chorus:3", "chorus:0", "chorus:x", "chorus:"):
        message = _refusal(song, bad)
        assert "occurs 2 time(s)" in message and "chorus:2 (bars 5-6)" in message, bad


def test_occurrence_of_a_unique_name(tmp_path: Path) -> None:
    song = _song(tmp_path, UNIQUE)
    assert section_bars(song, "verse:1") == (3, 4, "verse:1")
    assert "occurs 1 time(s)" in _refusal(song, "verse:2")


def test_a_name_with_the_occurrence_mark_is_taken_as_it_is_written(tmp_path: Path) -> None:
    sections = "sections:\n  - {name: 'part:2', bars: 2}\n  - {name: part, bars: 4}\n"
    song = _song(tmp_path, sections)
    assert section_bars(song, "part:2") == (1, 2, "part:2")  # the section so named, not part's 2nd occurrence
    assert section_bars(song, "part") == (3, 6, "part")


def test_an_unknown_section_lists_the_known_ones_with_their_bars(tmp_path: Path) -> None:
    message = _refusal(_song(tmp_path, REPEATED), "bridge")
    assert "no section 'bridge'" in message
    assert "verse:1 (bars 1-1), chorus:1 (bars 2-3), verse:2 (bars 4-4), chorus:2 (bars 5-6)" in message
    message = _refusal(_song(tmp_path, UNIQUE), "bridge:1")
    assert (
        "no section 'bridge'" in message
        and "intro (bars 1-2), verse (bars 3-4), chorus (bars 5-6)" in message
    )


def test_no_sections_says_to_name_bars(tmp_path: Path) -> None:
    message = _refusal(_song(tmp_path, ""), "chorus")
    assert "no sections" in message and "--bars" in message


def test_the_last_section_runs_to_the_tracks_end(tmp_path: Path) -> None:
    # 4 bars of sections in a 12 s (6-bar) track: the outro takes bars 3..6, as generation places its text.
    song = _song(tmp_path, "sections:\n  - {name: intro, bars: 2}\n  - {name: outro, bars: 2}\n")
    assert section_bars(song, "outro") == (3, 6, "outro")
    # 11 s: 5.5 bars, the cut bar 6 counts; its span stops at the track's end
    song = _song(tmp_path, "sections:\n  - {name: intro, bars: 2}\n  - {name: outro, bars: 2}\n", 11)
    assert total_bars(song) == 6 and section_bars(song, "outro") == (3, 6, "outro")
    assert bar_span(song, 6, 6) == (10.0, 11.0)
    # a section the schema lets start at the track's end (one bar over) is not placed, nor redone
    song = _song(tmp_path, "sections:\n  - {name: a, bars: 3}\n  - {name: late, bars: 1}\n", 6)
    assert section_bars(song, "a") == (1, 3, "a")
    message = _refusal(song, "late")
    assert "no section 'late'" in message and "a (bars 1-3)" in message


# --- --bars ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "bars"), [("9-16", (9, 16)), ("3", (3, 3)), ("2-2", (2, 2))])
def test_parse_bars(text: str, bars: tuple[int, int]) -> None:
    assert parse_bars(text) == bars


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "FIRST-LAST"),
        ("a-b", "FIRST-LAST"),
        ("1.5-2", "FIRST-LAST"),
        ("-3", "FIRST-LAST"),
        ("0-2", "count from 1"),
        ("5-3", "not before the first"),
    ],
)
def test_bad_bars_are_refused(text: str, says: str) -> None:
    with pytest.raises(UserInputError) as caught:
        parse_bars(text)
    assert says in str(caught.value) and f"--bars {text}" in str(caught.value)


def test_check_bars_stops_at_the_tracks_last_bar(tmp_path: Path) -> None:
    song = _song(tmp_path, UNIQUE, 11)  # 5.5 bars: 6 of them
    check_bars(song, 1, 6)
    check_bars(song, 6, 6)
    with pytest.raises(UserInputError) as caught:
        check_bars(song, 5, 7)
    assert "the track has 6 bars" in str(caught.value) and "11 s at 120 bpm, 4/4" in str(caught.value)


# --- merging and storing ------------------------------------------------------------------------------------


def test_a_new_redo_goes_on_top_in_the_order_asked() -> None:
    old = (SectionRedo(5, 6, 8, "chorus"), SectionRedo(1, 2, 7))
    assert appended(old, SectionRedo(6, 8, 10)) == (*old, SectionRedo(6, 8, 10))
    assert appended((), SectionRedo(4, 4, 3)) == (SectionRedo(4, 4, 3),)
    # the last one asked again changes nothing; an earlier one asked again goes on top once more
    assert appended(old, SectionRedo(1, 2, 7)) == old
    assert appended(old, SectionRedo(5, 6, 8, "chorus")) == (*old, SectionRedo(5, 6, 8, "chorus"))
    # the same bars with another seed, or asked by another name, are another redo
    assert appended(old, SectionRedo(1, 2, 99))[-1] == SectionRedo(1, 2, 99)
    assert appended(old, SectionRedo(1, 2, 7, "intro"))[-1] == SectionRedo(1, 2, 7, "intro")


def test_redos_round_trip_through_sections_json(tmp_path: Path) -> None:
    assert read_redos(tmp_path) == {}  # no file
    redos = {
        "keys": (SectionRedo(1, 2, 7, "intro"), SectionRedo(5, 6, 8)),
        "bass#2": (SectionRedo(3, 3, 0),),
        "drums": (),  # nothing to keep: not written
    }
    write_redos(tmp_path, redos)
    assert read_redos(tmp_path) == {k: v for k, v in redos.items() if v}
    assert redos_of(tmp_path, "keys") == redos["keys"] and redos_of(tmp_path, "drums") == ()
    stored = json.loads((tmp_path / SECTIONS).read_text())
    assert stored["keys"][0] == {"section": "intro", "bars": [1, 2], "seed": 7}
    assert (
        SectionRedo(1, 2, 7, "intro").label == "intro (bars 1-2)" and SectionRedo(5, 6, 8).label == "bars 5-6"
    )
    write_redos(tmp_path, {})
    assert read_redos(tmp_path) == {}


@pytest.mark.parametrize(
    "text", ["{not json", "", "[1, 2]", '"keys"', "null", "\xff\xfe", "[" * 100_000 + "]" * 100_000]
)
def test_a_broken_sections_file_reads_as_no_redos(tmp_path: Path, text: str) -> None:
    (tmp_path / SECTIONS).parent.mkdir(parents=True)
    (tmp_path / SECTIONS).write_bytes(text.encode("utf-8", "surrogateescape"))
    assert read_redos(tmp_path) == {}


def test_a_hand_edited_sections_file_loses_only_its_bad_entries(tmp_path: Path) -> None:
    good = {"section": "chorus", "bars": [5, 6], "seed": 3}
    data = {
        "keys": [
            {"bars": [1, 2], "seed": 4},  # no section: a --bars redo
            good,
            {"bars": [3], "seed": 1},
            {"bars": [0, 2], "seed": 1},
            {"bars": [4, 3], "seed": 1},
            {"bars": [1.0, 2], "seed": 1},
            {"bars": [True, 2], "seed": 1},
            {"bars": [1, 2], "seed": "1"},
            {"bars": [1, 2], "seed": 1.5},
            {"bars": [1, 2], "seed": 1, "section": 5},
            "bars 1-2",
            None,
        ],
        "bass": "not a list",
        "lead": [],
        "pads": [{"bars": "1-2", "seed": 1}],
    }
    (tmp_path / SECTIONS).parent.mkdir(parents=True)
    (tmp_path / SECTIONS).write_text(json.dumps(data))
    assert read_redos(tmp_path) == {"keys": (SectionRedo(1, 2, 4), SectionRedo(5, 6, 3, "chorus"))}
