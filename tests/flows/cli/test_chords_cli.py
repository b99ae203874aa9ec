"""Chords, sketches and MIDI melodies through the CLI (issue 23, points 1, 4 and 8): `validate` and
`render --dry-run` print notes as `FILE:LINE:COL: note: field: message` and exit 0; a bad chart, a sketch
stem without an instrument or a MIDI melody without notes is refused alike by validate, --dry-run and
render, and render writes nothing before refusing."""

from __future__ import annotations

import re
from pathlib import Path

import pretty_midi
import pytest

from flows.cli import main

HEAD = "title: Chart Song\nbpm: 120\nkey: A minor\nduration: 16\nmodel: debug\n"
KEYS = "stems:\n  - {name: keys, prompt: soft piano}\n"
PROBLEM_RE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<field>\S+): (?P<message>.+)$")
NOTE_RE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): note: (?P<field>\S+): (?P<message>.+)$")
CUT = (
    HEAD + "sections:\n  - {name: intro, bars: 2, chords: Am | F | C | G}\n  - {name: rest, bars: 6}\n" + KEYS
)
CUT_NOTE = "the chord chart has 4 bars but the section has 2: bars 3-4 of the chart not played"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def at(text: str, marker: str) -> tuple[str, str]:
    """(line, column) of ``marker``'s first line, as the CLI prints them."""
    line, row = next((n, row) for n, row in enumerate(text.split("\n"), 1) if marker in row)
    return str(line), str(row.index(marker) + 1)


def song(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "song.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("argv", [["validate"], ["render", "--dry-run"]])
def test_notes_are_printed_with_their_position_and_exit_0(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = song(tmp_path, CUT)
    code, out, err = run(capsys, *argv[:1], str(path), *argv[1:])
    assert code == 0, err
    (line,) = [m for m in map(NOTE_RE.match, err.splitlines()) if m]
    assert (line["file"], line["line"], line["col"], line["field"]) == (
        str(path),
        *at(CUT, "Am | F"),
        "sections[0].chords",
    )
    assert line["message"] == CUT_NOTE
    assert "Traceback" not in err and (f"{path}: ok" in out if argv == ["validate"] else "Plan for" in out)


def test_validate_quiet_prints_no_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", "--quiet", str(song(tmp_path, CUT)))
    assert (code, out, err) == (0, "", "")


def test_an_album_prints_the_notes_of_its_tracks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    track = song(tmp_path, CUT)
    album = tmp_path / "album.yaml"
    album.write_text(f"title: Al\ntracks: [{track.name}]\n")
    for argv in (["validate", str(album)], ["album", "render", str(album), "--dry-run"]):
        code, _, err = run(capsys, *argv)
        notes = [m for m in map(NOTE_RE.match, err.splitlines()) if m]
        assert code == 0 and [(n["file"], n["message"]) for n in notes] == [
            (str(track.resolve()), CUT_NOTE)
        ], err


def test_a_playable_chart_prints_nothing_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = song(tmp_path, HEAD + 'chords: "Am | F | C | G"\n' + KEYS)
    assert run(capsys, "validate", str(path))[0::2] == (0, "")


def _midi(path: Path, notes: bool) -> None:
    midi = pretty_midi.PrettyMIDI()
    part = pretty_midi.Instrument(program=0, name="tune")
    if notes:
        part.notes.append(pretty_midi.Note(velocity=90, pitch=64, start=0.0, end=1.0))
    midi.instruments.append(part)
    midi.write(str(path))


REFUSED = {
    "unknown_symbol": (HEAD + 'chords: "Em | C | Xq7 | D"\n' + KEYS, "chords", "Xq7", "'Xq7'"),
    "too_many_chords": (
        HEAD + 'time_signature: "3/4"\nsections:\n  - {name: a, bars: 8, chords: "C D E F"}\n' + KEYS,
        "sections[0].chords",
        'F"',
        "a bar has 3 beats",
    ),
    "sketch_midi_false": (
        HEAD + 'chords: "Am"\nstems:\n  - {name: keys, prompt: k, model: sketch, midi: false}\n',
        "stems[0].midi",
        "false}",
        "name an instrument",
    ),
    "sketch_without_chords": (
        HEAD + "stems:\n  - {name: keys, prompt: k, model: sketch}\n",
        "stems[0].model",
        "sketch}",
        "add chords:",
    ),
    "empty_midi_melody": (HEAD + "melody: empty.mid\n" + KEYS, "melody", "empty.mid", "no pitched notes"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_validate_dry_run_and_render_refuse_alike_and_render_writes_nothing(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, field, marker, fragment = REFUSED[case]
    _midi(tmp_path / "empty.mid", notes=False)
    path = song(tmp_path, text)
    out = tmp_path / "out"
    found = []
    for argv in (
        ["validate", str(path)],
        ["render", str(path), "--dry-run"],
        ["render", str(path), "-o", str(out)],
    ):
        code, stdout, err = run(capsys, *argv)
        assert code == 2 and "Traceback" not in err + stdout, (argv, err)
        assert not out.exists(), f"{argv} wrote {sorted(out.rglob('*'))} before refusing"
        found.append(err)
    assert found[0] == found[1] == found[2], found
    (problem,) = [m for m in map(PROBLEM_RE.match, found[0].splitlines()) if m]
    assert (problem["file"], problem["field"]) == (str(path), field)
    line, col = at(text, marker)
    assert (problem["line"], problem["col"]) == (line, col)
    assert fragment in problem["message"], problem["message"]


def test_a_sketch_arrangement_plans_without_any_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        HEAD.replace("model: debug", "model: sketch")
        + 'chords: "Am | F | C | G"\nstems:\n  - {name: bass, prompt: b}\n  - {name: keys, prompt: k}\n'
        + "  - {name: lead, prompt: l, model: debug}\n"
    )
    code, out, err = run(capsys, "render", str(song(tmp_path, text)), "--dry-run")
    assert code == 0, err
    assert "sketch (FluidSynth, no model): bass, keys" in out, out
    assert "batch 1: debug" in out and "batch 2" not in out, out
    code, out, err = run(capsys, "render", str(song(tmp_path, text)), "--dry-run", "--json")
    import json

    plan = json.loads(out)
    assert (
        code == 0
        and plan["sketch"] == ["bass", "keys"]
        and [b["model"] for b in plan["batches"]] == ["debug"]
    )


def test_render_refuses_sketch_stems_without_fluidsynth_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import stems.score.sketch

    monkeypatch.setattr(stems.score.sketch, "FLUIDSYNTH", "fluidsynth-not-installed")
    text = HEAD.replace("model: debug", "model: sketch") + 'chords: "Am | F"\n' + KEYS
    path, out = song(tmp_path, text), tmp_path / "out"
    assert run(capsys, "render", str(path), "--dry-run")[0] == 0  # a plan needs no synth
    code, _, err = run(capsys, "render", str(path), "-o", str(out))
    assert code == 2 and "fluidsynth" in err and "make install" in err, err
    assert not out.exists()
