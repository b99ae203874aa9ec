"""The arrangement's score (``stems.score``): its sections and chord charts on the arrangement's grid."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flows.schema.models import Arrangement

if TYPE_CHECKING:
    from stems.score import Score


def arrangement_score(arrangement: Arrangement) -> Score | None:
    """The chords of every section in time, or None when the arrangement has no chords at all."""
    from stems.score import SectionChart, lay_out
    from stems.transcription.midi import TempoMap

    default = getattr(arrangement, "chords", None)
    charts = [
        SectionChart(s.name, s.bars, getattr(s, "chords", None), s.prompt) for s in arrangement.sections
    ]
    if default is None and all(c.chords is None for c in charts):
        return None
    tempo = TempoMap(arrangement.bpm, arrangement.beats_per_bar, arrangement.beat_unit)
    return lay_out(tempo, arrangement.duration, charts, default)
