"""Takes: several candidates of a stem, each measured against what it was asked to be and ranked.

:func:`measure` gives a take's :class:`TakeScores`: a term per measure of ``WEIGHTS`` (fit to the grid before
conform, harmony against the planned chords or the part, key, tuning, bleed, clipping, silence, dropouts,
agreement with its melody guide), each a number in 0..1 with its weight, and their weighted mean;
:func:`rank` orders takes best first. What each term measures on public-domain music: ``bench/takes.py``.
"""

from __future__ import annotations

from stems.takes.measures import Target, measure
from stems.takes.terms import WEIGHTS, TakeScores, Term, rank

__all__ = ["WEIGHTS", "TakeScores", "Target", "Term", "measure", "rank"]
