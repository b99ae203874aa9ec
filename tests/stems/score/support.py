"""Helpers shared by the stems.score tests."""

from __future__ import annotations

from stems.score import Score, TimedChord


def planned(score: Score, seconds: float) -> TimedChord:
    """The chord the score plans at ``seconds``; fails the test where there is none."""
    chord = score.chord_at(seconds)
    assert chord is not None, f"no chord planned at {seconds} s"
    return chord
