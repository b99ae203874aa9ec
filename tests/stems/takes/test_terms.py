"""stems.takes.terms: each term's arithmetic, the total and the ranking (pure; measured audio is test_measure)."""

from __future__ import annotations

import numpy as np
import pytest

from stems.takes import WEIGHTS, rank
from stems.takes.terms import (
    RELATIVE_KEY,
    flat_top_share,
    key_term,
    scores,
    share_term,
    tempo_term,
    tuning_term,
)

A_MINOR, C_MAJOR, E_MINOR = (9, "minor"), (0, "major"), (4, "minor")


def test_tempo_is_judged_at_the_arranged_level() -> None:
    assert tempo_term(60.0, 120.0) == (1.0, 0.0)  # half time: conform plays it at the arranged level
    assert tempo_term(240.0, 120.0) == (1.0, 0.0)
    value, error = tempo_term(126.0, 120.0)
    assert error == pytest.approx(0.05) and value == pytest.approx(0.5)
    assert tempo_term(150.0, 120.0)[0] == 0.0  # 25 % off
    assert tempo_term(None, 120.0) == (0.0, None)  # no beat found


def test_key_and_its_relative_and_another() -> None:
    assert key_term(A_MINOR, A_MINOR) == 1.0
    assert key_term(C_MAJOR, A_MINOR) == RELATIVE_KEY and key_term(A_MINOR, C_MAJOR) == RELATIVE_KEY
    assert key_term(E_MINOR, A_MINOR) == 0.0 and key_term((10, "minor"), A_MINOR) == 0.0
    assert key_term(None, A_MINOR) == 0.0 and key_term(A_MINOR, None) is None


def test_tuning_and_shares() -> None:
    assert tuning_term(0.0) == 1.0 and tuning_term(-25.0) == 0.5 and tuning_term(60.0) == 0.0
    assert share_term(0.25) == 0.75 and share_term(None) is None and share_term(0.02, 0.01) == 0.0


def test_the_total_is_the_weighted_mean_of_what_was_measured() -> None:
    measured = scores(harmony=(0.5, 0.5), tempo=(1.0, 0.0))
    assert set(measured.terms) == set(WEIGHTS) and measured.terms["bleed"].value is None
    weights = WEIGHTS["harmony"], WEIGHTS["tempo"]
    assert measured.total == pytest.approx((0.5 * weights[0] + weights[1]) / sum(weights))
    assert scores().total == 0.0
    with pytest.raises(ValueError, match="unknown take terms"):
        scores(loudness=(1.0, None))
    json = measured.to_json()
    assert json["harmony"] == {"value": 0.5, "weight": WEIGHTS["harmony"], "figure": 0.5}


def test_rank_is_best_first_and_a_tie_keeps_the_first_take() -> None:
    takes = [scores(harmony=(v, v)) for v in (0.2, 0.9, 0.5, 0.9)]
    assert rank(takes) == [1, 3, 2, 0]


def test_flat_tops_are_clipping_and_a_peak_is_not() -> None:
    t = np.arange(44_100) / 44_100
    sine = np.sin(2 * np.pi * 110 * t).astype(np.float32)
    assert flat_top_share(sine[None, :]) == 0.0  # a peak of 1.0 now and then is no flat top
    clipped = 0.5 * np.clip(4 * sine, -1, 1)  # clipped, then turned down
    assert flat_top_share(np.stack([clipped, clipped])) > 0.5
    assert flat_top_share(np.zeros((2, 100), np.float32)) == 0.0
