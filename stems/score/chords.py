"""Chord charts: ``"Em | C | G D | Am7 B7"`` parsed into chord symbols and a beat timeline per section.

A chart is bars separated by ``|`` (an opening or closing bar line is allowed); a bar holds one or more
chord symbols separated by spaces. The symbols split the bar's beats evenly and the leftover beats go to
the first chords (4/4 with three chords: 2 + 1 + 1; 7/8 with two: 4 + 3). The bars repeat in order to fill
a section; a chart longer than its section is cut, and :class:`SectionChords` says so in ``note``.

Symbols are parsed by pychord (``pychord.Chord``: a root A-G with up to two sharps or flats, a quality from
its table of about 120, an optional slash bass), not by a regex table of ours. pychord was chosen over
music21's ``harmony.ChordSymbol`` because (measured on this machine, ``python -X importtime``) it imports in
about 16 ms against music21's 250-300 ms, and schema validation imports it; because it reads the flat
spellings charts use (``Bb``, ``Ebm7/Db``), which music21 spells ``B-`` and rejects as ``Bb``; and because it
rejects what it does not know with the reason (``Unknown quality: foo``). Neither takes ``C+`` or
``Cø7``; write ``Caug`` and ``Cm7b5``.

Beats are the time signature's beats (the denominator's note: eighths in 6/8), counted from the start of
the section; :mod:`stems.score.timeline` puts sections end to end in seconds.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from stems.errors import UserInputError

if TYPE_CHECKING:
    from pychord import Chord as PyChord

BAR_LINE = "|"
# Shown whenever a symbol is refused: one of every kind the chart format promises.
EXAMPLE_SYMBOLS: tuple[str, ...] = (
    "C",
    "Am",
    "G7",
    "Cmaj7",
    "Dm7",
    "F6",
    "Bdim",
    "Caug",
    "Dsus2",
    "Asus4",
    "E9",
    "Em/G",
    "Bb",
    "F#m7b5",
)

ChordQuality = Literal["maj", "min", "other"]
MAJOR: ChordQuality = "maj"
MINOR: ChordQuality = "min"
OTHER: ChordQuality = "other"
# Semitones above the root that decide the maj/min class (mir_eval's "majmin" vocabulary: a chord with a
# major third and no augmented fifth is maj, a minor third and no diminished fifth is min, the rest -
# dim, aug, m7b5, sus, power chords - are other and left out of maj/min scoring).
MAJOR_THIRD, MINOR_THIRD, DIMINISHED_FIFTH, PERFECT_FIFTH, AUGMENTED_FIFTH = 4, 3, 6, 7, 8


class ChordChartError(UserInputError):
    """A chord chart that cannot be read: ``symbol`` is the text at fault ("" for an empty bar), ``column``
    its 0-based character offset in the chart string (so the schema can point at FILE:LINE:COL),
    ``examples`` symbols that would be accepted."""

    def __init__(self, message: str, *, symbol: str, column: int) -> None:
        super().__init__(message)
        self.symbol = symbol
        self.column = column
        self.examples = EXAMPLE_SYMBOLS


@dataclass(frozen=True)
class Chord:
    """One chord symbol, read.

    ``symbol`` is exactly as written; ``pitch_classes`` (0 = C) are the chord's tones in rising order from
    the root, then a slash bass that is not one of them; ``bass_pc`` is the slash bass, else the root;
    ``quality`` is the maj/min class chord recognition is scored on.
    """

    symbol: str
    root_pc: int
    bass_pc: int
    pitch_classes: tuple[int, ...]
    quality: ChordQuality


@dataclass(frozen=True)
class ChordEvent(Chord):
    """A chord as it is played in a section: from ``start_beat`` (0 = the section's first beat) for
    ``beats`` beats of the time signature."""

    start_beat: int = 0
    beats: int = 0

    @property
    def end_beat(self) -> int:
        return self.start_beat + self.beats


@dataclass(frozen=True)
class SectionChords:
    """A chart laid over one section: its events, and a note when the chart was cut to fit."""

    events: tuple[ChordEvent, ...]
    bars: int
    chart_bars: int
    note: str | None = None


def parse_symbol(symbol: str, column: int = 0) -> Chord:
    """The chord ``symbol`` names; :class:`ChordChartError` (at ``column``) when pychord cannot read it."""
    from pychord import Chord as PyChord

    try:
        parsed = PyChord(symbol)
    except ValueError as exc:
        raise ChordChartError(
            _unknown_message(symbol, column, str(exc)), symbol=symbol, column=column
        ) from None
    return _chord(symbol, parsed)


def _chord(symbol: str, parsed: PyChord) -> Chord:
    from pychord.utils import note_to_val

    root = note_to_val(parsed.root) % 12
    tones = sorted(
        {v % 12 for v in parsed.quality.get_components(parsed.root, False)}, key=lambda pc: (pc - root) % 12
    )
    bass = parsed.components(False)[0] % 12  # the slash bass, or the lowest note of a numbered inversion
    extra = () if bass in tones else (bass,)
    return Chord(symbol, root, bass, (*tones, *extra), classify({(pc - root) % 12 for pc in tones}))


def classify(intervals: set[int]) -> ChordQuality:
    """maj, min or other from the semitones above the root (see MAJOR_THIRD)."""
    if MAJOR_THIRD in intervals and not (AUGMENTED_FIFTH in intervals and PERFECT_FIFTH not in intervals):
        return MAJOR
    if MINOR_THIRD in intervals and not (DIMINISHED_FIFTH in intervals and PERFECT_FIFTH not in intervals):
        return MINOR
    return OTHER


def _unknown_message(symbol: str, column: int, reason: str) -> str:
    close = _close_symbols(symbol)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return (
        f"chord symbol {symbol!r} at column {column + 1} is unknown ({reason}){hint}; write a root A-G with "
        f"an optional # or b, a quality and an optional /bass, e.g. {', '.join(EXAMPLE_SYMBOLS)}"
    )


def _close_symbols(symbol: str) -> list[str]:
    """Symbols with the same root and a quality pychord knows that is spelled like the one written."""
    match = re.match(r"^([A-G](?:bb|##|b|#)?)([^/]*)", symbol)
    if match is None:
        return []
    root, quality = match.groups()
    return [root + q for q in difflib.get_close_matches(quality, _qualities(), n=3, cutoff=0.6)]


@functools.cache
def _qualities() -> tuple[str, ...]:
    from pychord import QualityManager

    return tuple(QualityManager().get_qualities())


def _tokens(chart: str) -> Iterator[tuple[int, list[tuple[str, int]]]]:
    """(column of the bar, [(symbol, column)]) per bar; an opening or closing bar line is allowed."""
    inner = chart.rstrip()
    inner = inner[:-1] if inner.endswith(BAR_LINE) else inner
    first = len(inner) - len(inner.lstrip())
    offset = first + 1 if inner[first : first + 1] == BAR_LINE else 0
    for text in inner[offset:].split(BAR_LINE):
        symbols = [(m.group(), offset + m.start()) for m in re.finditer(r"\S+", text)]
        yield offset, symbols
        offset += len(text) + 1


def parse_chart(chart: str) -> tuple[tuple[tuple[Chord, int], ...], ...]:
    """The chart's bars, each a tuple of (chord, column); every problem is a :class:`ChordChartError`."""
    if not chart.strip().strip(BAR_LINE).strip():
        raise ChordChartError(
            f"the chord chart is empty; write bars separated by '{BAR_LINE}', e.g. \"Em | C | G D | Am7 B7\"",
            symbol="",
            column=0,
        )
    bars = []
    for number, (column, symbols) in enumerate(_tokens(chart), start=1):
        if not symbols:
            raise ChordChartError(
                f"bar {number} of the chord chart (column {column + 1}) is empty; every bar between "
                f"'{BAR_LINE}' needs at least one chord symbol, e.g. \"Em | C | G D\"",
                symbol="",
                column=column,
            )
        bars.append(tuple((parse_symbol(text, col), col) for text, col in symbols))
    return tuple(bars)


def section_chords(chart: str, bars: int, beats_per_bar: int) -> SectionChords:
    """The chart repeated bar by bar over ``bars`` bars of ``beats_per_bar`` beats (cut, with a note, when
    it is longer)."""
    parsed = parse_chart(chart)
    for bar in parsed:
        if len(bar) > beats_per_bar:
            chord, column = bar[beats_per_bar]
            raise ChordChartError(
                f"a bar holds {len(bar)} chords from column {bar[0][1] + 1} but a bar has {beats_per_bar} "
                f"beats; write at most {beats_per_bar} chords per bar (one per beat)",
                symbol=chord.symbol,
                column=column,
            )
    events = [
        event
        for index in range(bars)
        for event in bar_events(parsed[index % len(parsed)], index * beats_per_bar, beats_per_bar)
    ]
    return SectionChords(tuple(events), bars, len(parsed), cut_note(len(parsed), bars))


def cut_note(chart_bars: int, bars: int) -> str | None:
    """What is said when a chart of ``chart_bars`` bars is longer than its section of ``bars`` (else None)."""
    if chart_bars <= bars:
        return None
    cut = f"bar {chart_bars}" if chart_bars == bars + 1 else f"bars {bars + 1}-{chart_bars}"
    return f"the chord chart has {chart_bars} bars but the section has {bars}: {cut} of the chart not played"


def bar_events(bar: tuple[tuple[Chord, int], ...], start: int, beats_per_bar: int) -> list[ChordEvent]:
    """One bar's chords splitting its beats evenly, the leftover beats going to the first chords."""
    share, leftover = divmod(beats_per_bar, len(bar))
    out, beat = [], start
    for index, (chord, _) in enumerate(bar):
        beats = share + (1 if index < leftover else 0)
        out.append(
            ChordEvent(
                chord.symbol, chord.root_pc, chord.bass_pc, chord.pitch_classes, chord.quality, beat, beats
            )
        )
        beat += beats
    return out
