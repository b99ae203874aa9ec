"""Issue 24 point 1: where the first downbeat goes on the grid, in the three modes of ``records.Grid`` (pure
time-map arithmetic; the CLI on rendered audio is tests/flows/cli/test_conform_grid.py)."""

from __future__ import annotations

import numpy as np
import pytest

from stems.conform import Grid, timemap

BEAT, BAR = 0.5, 2.0  # 120 bpm 4/4


def played(lead: float, pickup: int, beats: int = 16, period: float = 0.52) -> np.ndarray:
    """Beat times of a piece at 115.4 bpm: ``pickup`` beats from ``lead``, then bar 1."""
    return lead + period * np.arange(beats + pickup)


def test_the_cli_grid_keeps_a_pickup_before_the_first_bar_line_that_leaves_room() -> None:
    beats = played(lead=0.12, pickup=1)
    tmap = timemap.build(beats, float(beats[1]), 9.0, BEAT, BAR, origin=0.0, keep_pickup=True)
    np.testing.assert_allclose(tmap(beats), 1.5 + BEAT * np.arange(len(beats)), atol=1e-9)
    assert tmap.downbeat_at == BAR and tmap.pickup == 1  # bar 2: the pickup beat at 1.5 s, in bar 1
    assert 1.0 < tmap.target[0] < 1.5  # the 120 ms lead-in before the pickup is kept too (it fits)


def test_the_cli_grid_puts_bar_one_at_0_s_and_cuts_a_lead_in_shorter_than_a_beat() -> None:
    beats = played(lead=0.12, pickup=0)
    tmap = timemap.build(beats, float(beats[0]), 9.0, BEAT, BAR, origin=0.0, keep_pickup=True)
    np.testing.assert_allclose(tmap(beats), BEAT * np.arange(len(beats)), atol=1e-9)
    assert tmap.downbeat_at == 0.0 and tmap.pickup == 0 and tmap.target[0] < 0.0  # the lead-in: cut
    three = played(lead=0.12, pickup=3)  # a three-beat pickup: bar 2 again, the pickup from 0.5 s
    tmap = timemap.build(three, float(three[3]), 10.0, BEAT, BAR, origin=0.0, keep_pickup=True)
    assert tmap.downbeat_at == BAR and tmap.pickup == 3 and tmap(three[0]) == pytest.approx(0.5)


def test_an_uncertain_downbeat_goes_to_a_beat_line_with_its_pickup_from_0_s() -> None:
    beats = played(lead=0.12, pickup=1)  # ``apply`` passes one beat as the bar when the downbeat is unsure
    tmap = timemap.build(beats, float(beats[1]), 9.0, BEAT, BEAT, origin=0.0, keep_pickup=True)
    assert tmap.downbeat_at == BEAT and tmap(beats[0]) == pytest.approx(0.0)


def test_the_arrangement_grid_is_unchanged_nearest_bar_line_and_the_pickup_cut() -> None:
    beats = played(lead=0.12, pickup=1)
    tmap = timemap.build(beats, float(beats[1]), 9.0, BEAT, BAR, origin=0.0)
    assert tmap.downbeat_at == 0.0 and tmap(beats[0]) == pytest.approx(-BEAT)  # before 0 s: cut
    assert tmap.pickup == 0
    late = played(lead=1.7, pickup=1)  # bar 1 lands at 2.07 s at the new tempo: the bar line at 2 s
    tmap = timemap.build(late, float(late[1]), 11.0, BEAT, BAR, origin=0.0)
    assert tmap.downbeat_at == BAR and tmap.pickup == 1
    assert timemap.downbeat_target(2.3, 1.0, BAR, 0.0) == BAR  # what the pipeline's stage has always done


def test_grid_says_its_mode() -> None:
    assert Grid(bpm=120.0).to_dict()["keep_pickup"] is False
    assert Grid(bpm=120.0, keep_pickup=True).to_dict() == {
        "bpm": 120.0,
        "beats_per_bar": 4,
        "duration": None,
        "key": None,
        "origin": 0.0,
        "keep_pickup": True,
    }
