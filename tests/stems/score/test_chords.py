"""stems.score.chords: chord symbols through pychord, charts split into bars and beats, repeated and cut."""

from __future__ import annotations

import pytest

from stems.errors import UserInputError
from stems.score import ChordChartError, parse_chart, parse_symbol, section_chords

C, Db, D, Eb, E, F, Gb, G, Ab, A, Bb, B = range(12)


@pytest.mark.parametrize(
    ("symbol", "root", "bass", "tones", "quality"),
    [
        ("C", C, C, (C, E, G), "maj"),
        ("Em", E, E, (E, G, B), "min"),
        ("C6", C, C, (C, E, G, A), "maj"),
        ("G7", G, G, (G, B, D, F), "maj"),
        ("Cmaj7", C, C, (C, E, G, B), "maj"),
        ("Am7", A, A, (A, C, E, G), "min"),
        ("Bdim", B, B, (B, D, F), "other"),
        ("Caug", C, C, (C, E, Ab), "other"),
        ("Dsus2", D, D, (D, E, A), "other"),
        ("Asus4", A, A, (A, D, E), "other"),
        ("E9", E, E, (E, Gb, Ab, B, D), "maj"),
        ("Em/G", E, G, (E, G, B), "min"),
        ("Ab/Bb", Ab, Bb, (Ab, C, Eb, Bb), "maj"),
        ("Bb", Bb, Bb, (Bb, D, F), "maj"),
        ("F#m7b5", Gb, Gb, (Gb, A, C, E), "other"),
        ("Ebm7/Db", Eb, Db, (Eb, Gb, Bb, Db), "min"),
        ("C#m", Db, Db, (Db, E, Ab), "min"),
    ],
)
def test_symbols(symbol: str, root: int, bass: int, tones: tuple[int, ...], quality: str) -> None:
    chord = parse_symbol(symbol)
    assert (chord.symbol, chord.root_pc, chord.bass_pc) == (symbol, root, bass)
    assert chord.pitch_classes == tones
    assert chord.quality == quality


def test_unknown_symbol_names_itself_its_column_and_valid_ones() -> None:
    chart = "Em | C | Gfoo D | Am7"
    with pytest.raises(ChordChartError) as caught:
        parse_chart(chart)
    err = caught.value
    assert isinstance(err, UserInputError)
    assert (err.symbol, err.column) == ("Gfoo", chart.index("Gfoo"))
    assert "'Gfoo'" in str(err) and "Em/G" in str(err) and "Cmaj7" in err.examples


def test_misspelled_quality_gets_a_suggestion() -> None:
    with pytest.raises(ChordChartError, match="did you mean 'Cmaj7'"):
        parse_symbol("Cmaj77")


@pytest.mark.parametrize("symbol", ["H", "c", "Am/", "C+", "Xm7"])
def test_bad_roots_and_unsupported_spellings_are_refused(symbol: str) -> None:
    with pytest.raises(ChordChartError):
        parse_symbol(symbol)


def test_bars_split_beats_evenly_leftover_to_the_first_chords() -> None:
    events = section_chords("Em | C | G D | Am7 B7 C", bars=4, beats_per_bar=4).events
    assert [(e.symbol, e.start_beat, e.beats) for e in events] == [
        ("Em", 0, 4),
        ("C", 4, 4),
        ("G", 8, 2),
        ("D", 10, 2),
        ("Am7", 12, 2),
        ("B7", 14, 1),
        ("C", 15, 1),
    ]


def test_seven_eight_splits_four_and_three() -> None:
    events = section_chords("Dm G", bars=1, beats_per_bar=7).events
    assert [(e.symbol, e.start_beat, e.beats) for e in events] == [("Dm", 0, 4), ("G", 4, 3)]


def test_bars_repeat_in_order_to_fill_the_section() -> None:
    result = section_chords("Em | C | D", bars=7, beats_per_bar=3)
    assert [e.symbol for e in result.events] == ["Em", "C", "D", "Em", "C", "D", "Em"]
    assert [e.start_beat for e in result.events] == [0, 3, 6, 9, 12, 15, 18]
    assert result.note is None


def test_a_chart_longer_than_its_section_is_cut_with_a_note() -> None:
    result = section_chords("C | F | G | Am | F | G", bars=4, beats_per_bar=4)
    assert [e.symbol for e in result.events] == ["C", "F", "G", "Am"]
    assert result.chart_bars == 6 and result.note is not None and "5-6" in result.note


def test_outer_bar_lines_are_allowed_and_columns_count_from_the_string_start() -> None:
    bars = parse_chart("| Em  | C/E |")
    assert [[(c.symbol, col) for c, col in bar] for bar in bars] == [[("Em", 2)], [("C/E", 8)]]


@pytest.mark.parametrize(("chart", "column"), [("Em || C", 4), ("   ", 0), ("C | ", None)])
def test_empty_bars_and_charts_are_errors(chart: str, column: int | None) -> None:
    if column is None:  # a closing bar line: fine
        assert len(parse_chart(chart)) == 1
        return
    with pytest.raises(ChordChartError) as caught:
        parse_chart(chart)
    assert caught.value.column == column


def test_more_chords_than_beats_points_at_the_first_extra_one() -> None:
    chart = "C | D E F G"
    with pytest.raises(ChordChartError) as caught:
        section_chords(chart, bars=2, beats_per_bar=3)
    assert (caught.value.symbol, caught.value.column) == ("G", chart.index("G"))
