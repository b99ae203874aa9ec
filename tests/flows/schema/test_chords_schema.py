"""Chords, parts and sketches in the arrangement format (issue 23, points 1-4 and 8): `chords:` at the top
level and on sections, `guide:`, `model: sketch`, MIDI melodies, the notes validation gives, and the score the
pipeline builds from an arrangement. Through the CLI: tests/flows/cli/test_chords_cli.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from flows.schema import (
    Arrangement,
    Note,
    Problem,
    SchemaError,
    arrangement_json_schema,
    parse_arrangement,
    read_album,
    read_arrangement,
)
from flows.schema.score import (
    arrangement_score,
    instrument_family,
    midi_instrument,
    stem_instrument,
    tempo_map,
)
from stems.score import EXAMPLE_SYMBOLS, SKETCH_MODEL

# 120 bpm in 4/4: a bar is 2 s, so 16 s are 8 bars.
HEAD = "title: T\nbpm: 120\nkey: A minor\nduration: 16\nmodel: debug\n"
KEYS = "stems:\n  - {name: keys, prompt: soft piano}\n"


def problems(text: str, tmp_path: Path) -> list[Problem]:
    with pytest.raises(SchemaError) as caught:
        parse_arrangement(text, tmp_path / "song.yaml")
    return caught.value.problems


def where(text: str, marker: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the ``nth`` line holding ``marker``, at the marker."""
    rows = [(n, row) for n, row in enumerate(text.split("\n"), 1) if marker in row]
    line, row = rows[nth]
    return line, row.index(marker) + 1


def loaded(text: str, tmp_path: Path, name: str = "song.yaml") -> tuple[Arrangement, tuple[Note, ...]]:
    path = tmp_path / name
    path.write_text(text)
    result = read_arrangement(path)
    return result.arrangement, result.notes


def midi_file(path: Path, tracks: int = 1, notes: bool = True, drums: bool = False) -> Path:
    midi = pretty_midi.PrettyMIDI(initial_tempo=100)
    for index in range(tracks):
        part = pretty_midi.Instrument(program=index, is_drum=drums, name=f"part {index + 1}")
        if notes:
            part.notes.append(pretty_midi.Note(velocity=90, pitch=60 + index, start=0.0, end=0.5))
        midi.instruments.append(part)
    midi.write(str(path))
    return path


def tone(path: Path, seconds: float = 1.0, rate: int = 32000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32), rate)
    return path


# --- chords: ---------------------------------------------------------------------------------------------------


def test_chords_at_the_top_level_are_the_default_of_sections_without_their_own(tmp_path: Path) -> None:
    text = (
        HEAD
        + 'chords: "Am | F | C | G"\n'
        + "sections:\n  - {name: intro, bars: 4, chords: Am}\n  - {name: verse, bars: 4}\n"
        + KEYS
    )
    song = parse_arrangement(text, tmp_path / "s.yaml")
    assert song.chords == "Am | F | C | G" and [s.chords for s in song.sections] == ["Am", None]
    score = arrangement_score(song)
    assert score is not None
    assert [(c.symbol, c.start, c.end) for c in score.chords] == [
        ("Am", 0.0, 2.0),
        ("Am", 2.0, 4.0),
        ("Am", 4.0, 6.0),
        ("Am", 6.0, 8.0),
        ("Am", 8.0, 10.0),
        ("F", 10.0, 12.0),
        ("C", 12.0, 14.0),
        ("G", 14.0, 16.0),
    ]
    assert [(s.name, s.start_bar, s.bars) for s in score.sections] == [("intro", 0, 4), ("verse", 4, 4)]
    assert (score.tempo.bpm, score.tempo.numerator, score.duration) == (120.0, 4, 16.0)


def test_an_arrangement_without_chords_has_no_score(tmp_path: Path) -> None:
    song = parse_arrangement(HEAD + "sections:\n  - {name: a, bars: 8}\n" + KEYS, tmp_path / "s.yaml")
    assert song.chords is None and song.sections[0].chords is None and arrangement_score(song) is None


def test_a_section_chart_alone_makes_a_score_with_silent_sections(tmp_path: Path) -> None:
    text = HEAD + "sections:\n  - {name: a, bars: 4}\n  - {name: b, bars: 4, chords: E7}\n" + KEYS
    score = arrangement_score(parse_arrangement(text, tmp_path / "s.yaml"))
    assert score is not None and {c.symbol for c in score.chords} == {"E7"} and score.chords[0].start == 8.0


CHART_STYLES = {
    "plain": (HEAD + "chords: Em | C | Xq7 | D\n" + KEYS, "chords", 0),
    "double_quoted": (HEAD + 'chords: "Em | C | Xq7 | D"\n' + KEYS, "chords", 0),
    "single_quoted": (HEAD + "chords: 'Em | C | Xq7 | D'\n" + KEYS, "chords", 0),
    "plain_over_two_lines": (HEAD + "chords: Em | C\n  | Xq7 | D\n" + KEYS, "chords", 0),
    "literal_block": (HEAD + "chords: |\n  Em | C\n  Xq7 | D\n" + KEYS, "chords", 0),
    "folded_block": (HEAD + "chords: >-\n  Em | C |\n  Xq7 | D\n" + KEYS, "chords", 0),
    "section_flow": (
        HEAD + 'sections:\n  - {name: verse, bars: 8, chords: "Am | Xq7"}\n' + KEYS,
        "sections[0].chords",
        0,
    ),
    "section_block": (
        HEAD + "sections:\n  - name: verse\n    bars: 8\n    chords: Am | G Xq7\n" + KEYS,
        "sections[0].chords",
        0,
    ),
    "second_of_two": (
        HEAD + "chords: Xq7 | C\nsections:\n  - {name: a, bars: 8, chords: C | Xq7 Xq7}\n" + KEYS,
        "sections[0].chords",
        1,
    ),
}


@pytest.mark.parametrize("style", list(CHART_STYLES))
def test_an_unknown_symbol_is_reported_at_its_own_column(style: str, tmp_path: Path) -> None:
    text, field, nth = CHART_STYLES[style]
    found = [p for p in problems(text, tmp_path) if p.field == field]
    assert len(found) == 1, found
    (problem,) = found
    assert (problem.line, problem.col) == where(text, "Xq7", nth), (problem, style)
    assert "'Xq7'" in problem.message and "unknown" in problem.message
    assert all(symbol in problem.message for symbol in EXAMPLE_SYMBOLS), problem.message


def test_an_escaped_quoted_chart_still_names_the_symbol(tmp_path: Path) -> None:
    """A double-quoted chart with an escape cannot be mapped character by character: the problem is at the
    value's start, and the message still names the symbol."""
    text = HEAD + 'chords: "Em | \\x43 | Xq7"\n' + KEYS
    (problem,) = problems(text, tmp_path)
    assert (problem.field, (problem.line, problem.col)) == ("chords", where(text, '"Em'))
    assert "'Xq7'" in problem.message


@pytest.mark.parametrize(
    ("signature", "chart", "symbol"),
    [("3/4", "Am | C G F E", "E"), ("4/4", "Am | C G F E D", "D"), ("6/8", "C D E F G A B", "B")],
)
def test_a_bar_with_more_chords_than_beats_points_at_the_first_that_does_not_fit(
    signature: str, chart: str, symbol: str, tmp_path: Path
) -> None:
    text = HEAD + f'time_signature: "{signature}"\nchords: "{chart}"\n' + KEYS
    (problem,) = problems(text, tmp_path)
    beats = signature.split("/")[0]
    line, col = where(text, f' {symbol}"')
    assert (problem.field, (problem.line, problem.col)) == ("chords", (line, col + 1))
    assert f"a bar has {beats} beats" in problem.message, problem.message


def test_a_section_chart_is_checked_against_the_time_signature_too(tmp_path: Path) -> None:
    text = HEAD + 'time_signature: "3/4"\nsections:\n  - {name: a, bars: 4, chords: "C D E F"}\n' + KEYS
    (problem,) = problems(text, tmp_path)
    assert (problem.field, (problem.line, problem.col)) == ("sections[0].chords", where(text, 'F"'))


@pytest.mark.parametrize(
    ("value", "marker", "fragment"),
    [
        ('""', '""', "the chord chart is empty"),
        ('"Em || C"', "||", "bar 2 of the chord chart"),
        ("5", "5", "expected text, received the number 5"),
        ("[Em, C]", "[Em", "expected text, received a list"),
    ],
)
def test_empty_charts_bars_and_wrong_types_are_refused(
    value: str, marker: str, fragment: str, tmp_path: Path
) -> None:
    text = HEAD + f"chords: {value}\n" + KEYS
    (problem,) = problems(text, tmp_path)
    line, col = where(text, marker)
    assert (problem.field, problem.line, problem.col) == ("chords", line, col + (1 if marker == "||" else 0))
    assert fragment in problem.message, problem.message


def test_a_chart_is_refused_without_yaml_too() -> None:
    from pydantic import ValidationError

    data = {
        "title": "t",
        "bpm": 90,
        "key": "A minor",
        "duration": 10,
        "stems": [{"name": "a", "prompt": "x"}],
    }
    with pytest.raises(ValidationError, match="'Hq'"):
        Arrangement.model_validate({**data, "chords": "C | Hq"})
    with pytest.raises(ValidationError, match="a bar has 3 beats"):
        Arrangement.model_validate({**data, "time_signature": "3/4", "chords": "C D E F"})


# --- guide: ----------------------------------------------------------------------------------------------------


def test_guide_is_on_by_default_and_takes_true_or_false(tmp_path: Path) -> None:
    text = (
        HEAD + 'chords: "Am | F"\nstems:\n  - {name: a, prompt: x}\n  - {name: b, prompt: y, guide: false}\n'
    )
    song = parse_arrangement(text, tmp_path / "s.yaml")
    assert [s.guide for s in song.stems] == [True, False]
    bad = HEAD + "stems:\n  - {name: a, prompt: x, guide: maybe}\n"
    (problem,) = problems(bad, tmp_path)
    assert (problem.field, (problem.line, problem.col)) == ("stems[0].guide", where(bad, "maybe"))
    assert "true or false" in problem.message


@pytest.mark.parametrize(
    ("extra", "stem", "fragment"),
    [
        ("", "{name: a, prompt: x, model: debug-melody, guide: true}", "no chords"),
        ('chords: "Am"\n', "{name: a, prompt: x, guide: false}", "takes no melody"),
        ('chords: "Am"\n', "{name: a, prompt: x, model: sketch, guide: true}", "sketch"),
        (
            'chords: "Am"\n',
            "{name: a, prompt: x, model: debug-melody, melody: m.wav, guide: false}",
            "own melody",
        ),
    ],
)
def test_a_guide_written_where_it_changes_nothing_is_a_note(
    extra: str, stem: str, fragment: str, tmp_path: Path
) -> None:
    tone(tmp_path / "m.wav", seconds=16)
    text = HEAD + extra + f"stems:\n  - {stem}\n"
    _, notes = loaded(text, tmp_path)
    (note,) = notes
    line, col = where(text, "guide: ")
    assert (note.field, (note.line, note.col)) == ("stems[0].guide", (line, col + len("guide: ")))
    assert fragment in note.message, note.message


# --- notes -----------------------------------------------------------------------------------------------------


def test_a_chart_longer_than_its_section_is_a_note_at_that_chart(tmp_path: Path) -> None:
    text = (
        HEAD
        + "sections:\n  - {name: intro, bars: 2, chords: Am | F | C | G}\n  - {name: rest, bars: 6, chords: Am}\n"
        + KEYS
    )
    song, notes = loaded(text, tmp_path)
    (note,) = notes
    assert isinstance(note, Note) and (note.field, (note.line, note.col)) == (
        "sections[0].chords",
        where(text, "Am | F"),
    )
    assert (
        note.message == "the chord chart has 4 bars but the section has 2: bars 3-4 of the chart not played"
    )
    assert (
        str(note)
        == f"{tmp_path / 'song.yaml'}:{note.line}:{note.col}: note: sections[0].chords: {note.message}"
    )


def test_the_default_chart_cut_by_a_section_is_a_note_naming_the_section(tmp_path: Path) -> None:
    text = (
        HEAD + 'chords: "Am | F | C"\nsections:\n  - {name: intro, bars: 2}\n  - {name: b, bars: 6}\n' + KEYS
    )
    _, notes = loaded(text, tmp_path)
    (note,) = notes
    assert (note.field, (note.line, note.col)) == ("chords", where(text, '"Am'))
    assert note.message == (
        "section 'intro': the chord chart has 3 bars but the section has 2: bar 3 of the chart not played"
    )


@pytest.mark.parametrize(
    ("stems", "why"),
    [
        ("  - {name: drums, prompt: kit}\n", "drums"),
        ("  - {name: drums, prompt: kit}\n  - {name: pad, prompt: p, midi: false}\n", "midi: false"),
        ("  - {name: beat, prompt: kit, midi: drums}\n", "drums"),
    ],
)
def test_chords_that_no_stem_can_play_are_a_note(stems: str, why: str, tmp_path: Path) -> None:
    text = HEAD + 'chords: "Am | F"\nstems:\n' + stems
    _, notes = loaded(text, tmp_path)
    (note,) = notes
    assert (note.field, (note.line, note.col)) == ("chords", where(text, '"Am'))
    assert "no stem plays the chords" in note.message and why in note.message, note.message


def test_a_default_chart_every_section_replaces_is_a_note(tmp_path: Path) -> None:
    text = (
        HEAD
        + 'chords: "Am | F"\nsections:\n  - {name: a, bars: 4, chords: C}\n  - {name: b, bars: 4, chords: G}\n'
        + KEYS
    )
    _, notes = loaded(text, tmp_path)
    (note,) = notes
    assert note.field == "chords" and "every section has its own" in note.message


def test_a_playable_chart_gives_no_note(tmp_path: Path) -> None:
    text = (
        HEAD + 'chords: "Am | F | C | G"\nsections:\n  - {name: a, bars: 4}\n  - {name: b, bars: 4}\n' + KEYS
    )
    song, notes = loaded(text, tmp_path)
    assert notes == () and song.chords == "Am | F | C | G"


# --- model: sketch ---------------------------------------------------------------------------------------------


def test_sketch_stems_take_their_instrument_from_midi_or_the_same_guess_as_the_pipeline(
    tmp_path: Path,
) -> None:
    (tmp_path / SKETCH_MODEL).mkdir()  # a folder called sketch next to the file is not a checkpoint
    text = (
        HEAD
        + 'chords: "Am | F"\nstems:\n'
        + "  - {name: bass, prompt: b, model: sketch}\n"
        + '  - {name: ep, prompt: e, model: sketch, midi: "Electric Piano 1"}\n'
        + "  - {name: thing, prompt: t, model: sketch}\n"
        + "  - {name: drums, prompt: d}\n"
    )
    song = parse_arrangement(text, tmp_path / "s.yaml")
    assert [song.stem_model(s) for s in song.stems] == [SKETCH_MODEL, SKETCH_MODEL, SKETCH_MODEL, "debug"]
    bass, ep, thing, drums = (stem_instrument(s) for s in song.stems)
    assert bass is not None and (bass.family, bass.program) == ("bass", 33)
    assert ep is not None and (ep.name, ep.family, ep.program) == ("electric piano 1", "keys", 4)
    assert thing is not None and thing.family == "keys"  # no family in its name: keys, as transcription
    assert drums is not None and drums.is_drum


def test_the_arrangement_default_model_may_be_sketch(tmp_path: Path) -> None:
    text = HEAD.replace("model: debug", "model: sketch") + 'chords: "Am"\n' + KEYS
    song = parse_arrangement(text, tmp_path / "s.yaml")
    assert song.stem_model(song.stems[0]) == SKETCH_MODEL


SKETCH_ERRORS = {
    "no_chords_stem": (
        HEAD + "stems:\n  - {name: keys, prompt: k, model: sketch}  #<\n",
        "stems[0].model",
        "add chords:",
    ),
    "no_chords_default": (
        HEAD.replace("model: debug", "model: sketch  #<") + KEYS,
        "model",
        "add chords:",
    ),
    "midi_false": (
        HEAD + 'chords: "Am"\nstems:\n  - {name: keys, prompt: k, model: sketch, midi: false}  #<\n',
        "stems[0].midi",
        "name an instrument",
    ),
    "follow": (
        HEAD
        + 'chords: "Am"\nstems:\n  - {name: a, prompt: k}\n  - {name: b, prompt: k, model: sketch, follow: a}  #<\n',
        "stems[1].follow",
        "sketch",
    ),
    "melody_audio": (
        HEAD + 'chords: "Am"\nstems:\n  - {name: lead, prompt: k, model: sketch, melody: m.wav}  #<\n',
        "stems[0].melody",
        "MIDI",
    ),
    "continuation": (
        HEAD + 'chords: "Am"\nstems:\n  - {name: keys, prompt: k, model: sketch, continuation: m.wav}  #<\n',
        "stems[0].continuation",
        "sketch",
    ),
    "separate": (
        HEAD + 'chords: "Am"\nstems:\n  - {name: keys, prompt: k, model: sketch, separate: piano}  #<\n',
        "stems[0].separate",
        "clean by construction",
    ),
    "separation_model": (
        HEAD
        + 'chords: "Am"\nstems:\n  - {name: keys, prompt: k, model: sketch, separation_model: htdemucs}  #<\n',
        "stems[0].separation_model",
        "sketch",
    ),
    "melody_midi_not_a_lead": (
        HEAD + 'chords: "Am"\nstems:\n  - {name: bass, prompt: k, model: sketch, melody: m.mid}  #<\n',
        "stems[0].melody",
        "only a lead",
    ),
    "band_model": (
        HEAD
        + 'chords: "Am"\nband:\n  model: sketch  #<\nstems:\n  - {name: drums, from: band, source: drums}\n',
        "band.model",
        "band take",
    ),
    "band_default_model": (
        HEAD.replace("model: debug", "model: sketch  #<")
        + 'chords: "Am"\nband: {}\nstems:\n  - {name: drums, from: band, source: drums}\n',
        "model",
        "band take",
    ),
}


@pytest.mark.parametrize("case", list(SKETCH_ERRORS))
def test_what_a_sketch_stem_cannot_do_is_refused_at_its_field(case: str, tmp_path: Path) -> None:
    text, field, fragment = SKETCH_ERRORS[case]
    tone(tmp_path / "m.wav")
    midi_file(tmp_path / "m.mid")
    found = problems(text, tmp_path)
    assert [p.field for p in found] == [field], found
    (problem,) = found
    assert problem.line == where(text, "#<")[0]
    assert fragment in problem.message, problem.message


def test_a_sketch_lead_plays_its_own_midi_melody(tmp_path: Path) -> None:
    midi_file(tmp_path / "tune.mid")
    text = HEAD + 'chords: "Am"\nstems:\n  - {name: lead, prompt: l, model: sketch, melody: tune.mid}\n'
    song = parse_arrangement(text, tmp_path / "s.yaml")
    assert song.stems[0].melody == (tmp_path / "tune.mid").resolve()


# --- melody: a MIDI file ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mid", ".midi", ".MID"])
def test_a_midi_melody_is_accepted_on_the_arrangement_and_on_a_stem(suffix: str, tmp_path: Path) -> None:
    midi_file(tmp_path / f"tune{suffix}")
    text = (
        HEAD.replace("model: debug", "model: debug-melody")
        + f"melody: tune{suffix}\nstems:\n  - {{name: a, prompt: x}}\n  - {{name: b, prompt: y, melody: tune{suffix}}}\n"
    )
    song, notes = loaded(text, tmp_path)
    assert song.melody == song.stems[1].melody == (tmp_path / f"tune{suffix}").resolve()
    assert notes == ()


@pytest.mark.parametrize(
    ("notes", "drums", "fragment"),
    [(False, False, "holds no pitched notes"), (True, True, "(only drums)")],
)
def test_a_midi_melody_without_a_pitched_note_is_refused_at_its_line(
    notes: bool, drums: bool, fragment: str, tmp_path: Path
) -> None:
    midi_file(tmp_path / "empty.mid", notes=notes, drums=drums)
    for text, field in (
        (HEAD + "melody: empty.mid\n" + KEYS, "melody"),
        (
            HEAD + "stems:\n  - {name: a, prompt: x, model: debug-melody, melody: empty.mid}\n",
            "stems[0].melody",
        ),
    ):
        (problem,) = problems(text, tmp_path)
        assert (problem.field, (problem.line, problem.col)) == (field, where(text, "empty.mid"))
        assert fragment in problem.message, problem.message


def test_a_damaged_midi_melody_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.mid").write_bytes(b"MThd not really")
    (problem,) = problems(HEAD + "melody: bad.mid\n" + KEYS, tmp_path)
    assert problem.field == "melody" and "cannot read it as a MIDI file" in problem.message


def test_a_midi_melody_of_sixteen_tracks_is_a_note_that_the_first_is_used(tmp_path: Path) -> None:
    midi_file(tmp_path / "band.mid", tracks=16)
    text = HEAD.replace("model: debug", "model: debug-melody") + "melody: band.mid\n" + KEYS
    _, notes = loaded(text, tmp_path)
    (note,) = notes
    assert (note.field, (note.line, note.col)) == ("melody", where(text, "band.mid"))
    assert "holds 16 tracks with notes; the melody is the first, 'part 1'" in note.message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (HEAD + "melody: tune.mid\nmelody_stems: [vocals]  #<\n" + KEYS, "melody_stems"),
        (
            HEAD
            + "stems:\n  - {name: a, prompt: x, model: debug-melody, melody: tune.mid, melody_stems: []}  #<\n",
            "stems[0].melody_stems",
        ),
        (
            HEAD
            + "melody_stems: false  #<\nstems:\n  - {name: a, prompt: x, model: debug-melody, melody: tune.mid}\n",
            "melody_stems",
        ),
    ],
)
def test_melody_stems_with_a_midi_melody_is_refused(text: str, field: str, tmp_path: Path) -> None:
    midi_file(tmp_path / "tune.mid")
    (problem,) = problems(text, tmp_path)
    assert (problem.field, problem.line) == (field, where(text, "#<")[0])
    assert "MIDI" in problem.message and "remove melody_stems" in problem.message, problem.message


def test_melody_stems_still_applies_to_an_audio_melody_beside_a_midi_one(tmp_path: Path) -> None:
    midi_file(tmp_path / "tune.mid")
    tone(tmp_path / "riff.wav", seconds=16)
    text = (
        HEAD.replace("model: debug", "model: debug-melody")
        + "melody: tune.mid\nmelody_stems: []\nstems:\n  - {name: a, prompt: x, melody: riff.wav}\n"
    )
    assert parse_arrangement(text, tmp_path / "s.yaml").melody_stems == []


# --- the JSON Schema and the functions the pipeline shares --------------------------------------------------------


def test_the_json_schema_knows_chords_guide_sketch_and_midi_melodies() -> None:
    schema = arrangement_json_schema()
    for chords in (schema["properties"]["chords"], schema["$defs"]["Section"]["properties"]["chords"]):
        assert {"type": "string"} in chords["anyOf"] and "|" in chords["description"], chords
        assert "Em | C | G D | Am7 B7" in str(chords)
    guide = schema["$defs"]["Stem"]["properties"]["guide"]
    assert guide["type"] == "boolean" and guide["default"] is True and "part" in guide["description"]
    for melody in (schema["properties"]["melody"], schema["$defs"]["Stem"]["properties"]["melody"]):
        assert ".mid" in melody["description"], melody
    for model in (schema["properties"]["model"], schema["$defs"]["Stem"]["properties"]["model"]):
        assert SKETCH_MODEL in str(model), model


def test_the_schema_guesses_instruments_as_the_pipeline_does(tmp_path: Path) -> None:
    from flows.pipeline import stages

    text = HEAD + (
        "stems:\n  - {name: drums, prompt: a}\n  - {name: strings2, prompt: b}\n  - {name: x, prompt: c, "
        "separate: guitar}\n  - {name: y, prompt: d, midi: 72}\n  - {name: z, prompt: e, midi: false}\n"
        "  - {name: w, prompt: f}\n"
    )
    song = parse_arrangement(text, tmp_path / "s.yaml")
    for stem in song.stems:
        assert instrument_family(stem) == stages.instrument_family(stem), stem.name
        assert midi_instrument(stem) == stages.midi_instrument(stem), stem.name
    assert stem_instrument(song.stems[4]) is None
    assert tempo_map(song) == stages.tempo_map(song)


# --- albums ----------------------------------------------------------------------------------------------------


def test_album_tracks_get_the_same_chord_checks_and_notes(tmp_path: Path) -> None:
    bad = HEAD + 'chords: "Am | Xq7"\n' + KEYS
    cut = HEAD + "sections:\n  - {name: a, bars: 1, chords: Am | F}\n  - {name: b, bars: 7}\n" + KEYS
    (tmp_path / "bad.yaml").write_text(bad)
    (tmp_path / "cut.yaml").write_text(cut)
    album = tmp_path / "album.yaml"
    album.write_text("title: Al\ntracks: [cut.yaml, bad.yaml]\n")
    with pytest.raises(SchemaError) as caught:
        read_album(album)
    (problem,) = caught.value.problems
    assert (problem.file, problem.field, (problem.line, problem.col)) == (
        str((tmp_path / "bad.yaml").resolve()),
        "chords",
        where(bad, "Xq7"),
    )
    album.write_text(
        "title: Al\ntracks:\n  - cut.yaml\n  - arrangement:\n      title: In\n      bpm: 120\n"
        "      key: C major\n      duration: 8\n      model: debug\n      chords: 'C | Hq'\n"
        "      stems: [{name: k, prompt: k}]\n"
    )
    with pytest.raises(SchemaError) as caught:
        read_album(album)
    (problem,) = caught.value.problems
    inline = album.read_text()
    assert (problem.file, problem.field, (problem.line, problem.col)) == (
        str(album),
        "chords",
        where(inline, "Hq"),
    )
    album.write_text("title: Al\ntracks: [cut.yaml]\n")
    result = read_album(album)
    (note,) = result.notes
    assert (note.file, note.field) == (str((tmp_path / "cut.yaml").resolve()), "sections[0].chords")
    assert "bar 2 of the chart not played" in note.message and len(result.tracks) == 1
