"""Sections' chord charts laid end to end on the arrangement's grid, in beats and seconds.

Sections sit back to back on whole bars, and the last one runs to the track's end, as
``stems.musicgen.plan.section_spans`` places them for generation (a section starting at or after the end is
not played); a section without its own chart plays the default chart, and one without either plays no
chords. ``bpm`` counts the time signature's beats, as everywhere else (``TempoMap``).
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from stems.errors import UserInputError
from stems.score.chords import ChordEvent, cut_note, section_chords
from stems.transcription.midi import TempoMap

# A section's length in bars is rounded up from seconds with this slack, so float error cannot add a bar.
BAR_EPSILON = 1e-9


@dataclass(frozen=True)
class SectionChart:
    """One section as the arrangement gives it: ``chords`` None means the default chart."""

    name: str
    bars: int
    chords: str | None = None
    prompt: str = ""


@dataclass(frozen=True)
class ScoreSection:
    """A section on the time line: bars from ``start_bar``, seconds ``[start, end)``."""

    name: str
    prompt: str
    start_bar: int
    bars: int
    start: float
    end: float


@dataclass(frozen=True)
class TimedChord(ChordEvent):
    """A chord as played in the track: ``start_beat`` counts from the track's first beat; ``start``/``end``
    are seconds (``end`` cut at the track's end); ``section`` indexes ``Score.sections``."""

    section: int = 0
    start: float = 0.0
    end: float = 0.0


@dataclass(frozen=True)
class Score:
    """The harmony and form of a track: every chord and section in time, and notes on charts that were cut."""

    tempo: TempoMap
    duration: float
    sections: tuple[ScoreSection, ...]
    chords: tuple[TimedChord, ...]
    notes: tuple[str, ...] = ()

    @property
    def beat_seconds(self) -> float:
        return 60.0 / self.tempo.bpm

    @property
    def bars(self) -> int:
        return sum(s.bars for s in self.sections)

    @functools.cached_property
    def _starts(self) -> list[float]:
        return [c.start for c in self.chords]

    def chord_at(self, seconds: float) -> TimedChord | None:
        """The chord sounding at ``seconds``, or None (before 0, after the end, in a section without chords)."""
        index = bisect.bisect_right(self._starts, seconds) - 1
        if index < 0 or seconds >= self.chords[index].end:
            return None
        return self.chords[index]

    def section_at(self, seconds: float) -> ScoreSection | None:
        for section in self.sections:
            if section.start <= seconds < section.end:
                return section
        return None


def lay_out(
    tempo: TempoMap, duration: float, sections: Sequence[SectionChart], default_chords: str | None = None
) -> Score:
    """Place the sections (or, without any, one section of the whole track) and their charts in time.

    Raises :class:`stems.score.chords.ChordChartError` for a chart that cannot be read.
    """
    if not (math.isfinite(duration) and duration > 0):
        raise UserInputError(f"duration must be a positive number of seconds, got {duration!r}")
    placed = _place(tempo, duration, sections or [SectionChart("", 1)])
    chords: list[TimedChord] = []
    notes: list[str] = []
    for index, (section, chart) in enumerate(placed):
        text = chart.chords if chart.chords is not None else default_chords
        if text is None:
            continue
        laid = section_chords(text, section.bars, tempo.numerator)
        note = cut_note(laid.chart_bars, chart.bars if sections else section.bars)
        if note is not None:  # against the bars written: the last section's length follows the duration
            notes.append(f"section {section.name!r}: {note}" if section.name else note)
        first_beat = section.start_bar * tempo.numerator
        chords.extend(_timed(e, index, first_beat, tempo, duration) for e in laid.events)
    return Score(
        tempo,
        duration,
        tuple(s for s, _ in placed),
        tuple(c for c in chords if c.start < duration),
        tuple(notes),
    )


def _place(
    tempo: TempoMap, duration: float, sections: Sequence[SectionChart]
) -> list[tuple[ScoreSection, SectionChart]]:
    """Sections on whole bars; the last one played is stretched or cut to end at ``duration``."""
    bar = tempo.bar_seconds
    starts: list[tuple[int, SectionChart]] = []
    start_bar = 0
    for chart in sections:
        if start_bar * bar >= duration:
            break
        starts.append((start_bar, chart))
        start_bar += chart.bars
    out = []
    for index, (first, chart) in enumerate(starts):
        last = index == len(starts) - 1
        bars = max(1, math.ceil((duration - first * bar) / bar - BAR_EPSILON)) if last else chart.bars
        end = duration if last else (first + bars) * bar
        out.append((ScoreSection(chart.name, chart.prompt, first, bars, first * bar, end), chart))
    return out


def _timed(event: ChordEvent, section: int, first_beat: int, tempo: TempoMap, duration: float) -> TimedChord:
    beat = 60.0 / tempo.bpm
    start_beat = first_beat + event.start_beat
    return TimedChord(
        event.symbol,
        event.root_pc,
        event.bass_pc,
        event.pitch_classes,
        event.quality,
        start_beat,
        event.beats,
        section=section,
        start=start_beat * beat,
        end=min((start_beat + event.beats) * beat, duration),
    )
