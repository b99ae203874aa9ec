"""`takes:` in the arrangement format (issue 25 point 6): its range and type at FILE:LINE:COL, the rules it
meets (a followed stem and a band stem have one take) and the note on a sketch, which plays the same every time."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.schema import parse_arrangement
from tests.flows.schema.test_chords_schema import loaded, problems, where

HEAD = "title: T\nbpm: 120\nkey: A minor\nduration: 16\nmodel: debug\n"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("0", "received the number 0; allowed: from 1 up to 8"),
        ("9", "received the number 9; allowed: from 1 up to 8"),
        ('"three"', "expected a whole number, received the text 'three'"),
    ],
)
def test_takes_out_of_range_or_not_a_number_is_refused_where_it_is_written(
    value: str, says: str, tmp_path: Path
) -> None:
    text = HEAD + f"stems:\n  - {{name: keys, prompt: soft piano, takes: {value}}}\n"
    (problem,) = problems(text, tmp_path)
    line, col = where(text, f"takes: {value}")
    assert (problem.line, problem.col) == (line, col + len("takes: ")) and problem.field == "stems[0].takes"
    assert says in problem.message, problem.message
    (top,) = problems(HEAD + f"takes: {value}\nstems:\n  - {{name: keys, prompt: soft piano}}\n", tmp_path)
    assert top.field == "takes" and says in top.message


def test_a_stem_takes_its_own_takes_else_the_arrangements(tmp_path: Path) -> None:
    text = (
        HEAD + "takes: 3\nstems:\n  - {name: keys, prompt: keys}\n  - {name: bass, prompt: bass, takes: 1}\n"
    )
    song = parse_arrangement(text, tmp_path / "song.yaml")
    assert [song.stem_takes(s) for s in song.stems] == [3, 1]
    plain = parse_arrangement(HEAD + "stems:\n  - {name: keys, prompt: keys}\n", tmp_path / "song.yaml")
    assert plain.takes == 1 and plain.stem_takes(plain.stems[0]) == 1


def test_a_followed_stem_has_one_take(tmp_path: Path) -> None:
    stems = (
        "stems:\n  - {name: keys, prompt: keys, takes: 2}\n"
        "  - {name: lead, prompt: lead, model: debug-melody, follow: keys}\n"
    )
    (problem,) = problems(HEAD + stems, tmp_path)
    assert problem.field == "stems[0].takes" and "'lead' follows it" in problem.message
    assert "set takes: 1 on 'keys'" in problem.message
    inherited = HEAD + "takes: 2\n" + stems.replace(", takes: 2", "")
    (problem,) = problems(inherited, tmp_path)
    line, col = where(inherited, "takes: 2")
    assert problem.field == "takes" and (problem.line, problem.col) == (line, col + len("takes: "))


def test_a_band_stem_has_the_band_takes_one_take(tmp_path: Path) -> None:
    text = HEAD + "band: {}\nstems:\n  - {name: drums, from: band, source: drums, takes: 2}\n"
    (problem,) = problems(text, tmp_path)
    assert problem.field == "stems[0].takes" and "'takes' does not apply" in problem.message


def test_takes_on_a_sketch_is_a_note_and_one_take_is_rendered(tmp_path: Path) -> None:
    text = (
        HEAD.replace("model: debug", "model: sketch")
        + 'chords: "Am | F"\ntakes: 4\n'
        + ("stems:\n  - {name: bass, prompt: bass, midi: bass}\n")
    )
    song, notes = loaded(text, tmp_path)
    (note,) = [n for n in notes if n.field == "takes"]
    assert "one take is rendered, not 4" in note.message and song.stem_takes(song.stems[0]) == 1
