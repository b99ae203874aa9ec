"""bench/takes.py: the flawed takes it builds, how one short set of them ranks, and its JSON."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from stems.audio import Audio
from tests.support.bench_scripts import load_bench

SET = (
    21,
    "bach/bwv64.2",
    "bach/bwv126.6",
)  # place in the shuffle (tuning split), chorale, another in A minor
SET_SECONDS = 8.0  # two bars at its 74 bpm


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("takes")


@pytest.fixture(scope="module")
def scored(bench: ModuleType) -> dict[str, Any]:
    index, path, other = SET
    piece = bench.chords.chorale(path, index)
    wrong = bench.corpus.Piece(other, piece.bpm, piece.programs)
    takes = bench.build(piece, wrong, SET_SECONDS, np.random.default_rng([0, index]))
    assert list(takes.takes) == list(bench.VARIANTS)
    lengths = {audio.num_samples for audio in takes.takes.values()}
    assert lengths == {round(8 * 60 / 74 * takes.takes["good"].sample_rate)}  # cut to the written bars
    return dict(bench.score(takes))


def test_a_set_ranks_every_take_and_names_what_was_drawn(bench: ModuleType, scored: dict[str, Any]) -> None:
    assert scored["piece"] == "bach/bwv64.2" and scored["key"] == "A minor"
    assert sorted(scored["ranked"]) == sorted(bench.VARIANTS)
    ranks = [scored["takes"][v]["rank"] for v in scored["ranked"]]
    assert ranks == list(range(1, len(bench.VARIANTS) + 1))
    totals = [scored["takes"][v]["total"] for v in scored["ranked"]]
    assert totals == sorted(totals, reverse=True) and all(0.0 <= t <= 1.0 for t in totals)
    drawn = scored["drawn"]
    assert 0.03 <= abs(drawn["tempo_factor"] - 1.0) <= 0.06
    assert drawn["semitones"] in (-1, 1) and drawn["cents"] in (-30.0, 30.0)
    assert drawn["wrong"].startswith("bach/bwv126.6") and drawn["wrong_transpose"] == 0
    json.dumps(scored)  # JSON as it is


def test_each_flaw_is_caught_by_its_term_and_ranks_below_good(scored: dict[str, Any]) -> None:
    takes = scored["takes"]

    def term(variant: str, name: str) -> float:
        return float(takes[variant]["terms"][name][0])

    def figure(variant: str, name: str) -> float:
        return float(takes[variant]["terms"][name][1])

    assert term("clipped", "clipping") == 0.0 and term("good", "clipping") == 1.0
    assert term("semitone", "harmony") == 0.0 and term("semitone", "key") == 0.0
    assert figure("cents", "tuning") - figure("good", "tuning") == pytest.approx(
        scored["drawn"]["cents"], abs=5
    )
    assert term("tempo", "tempo") < 0.8 < term("good", "tempo")
    assert term("noise", "beat_stability") <= term("good", "beat_stability")
    assert term("wrong_chords", "harmony") < term("good", "harmony") - 0.5
    good = takes["good"]["rank"]
    for flaw in ("clipped", "noise", "semitone", "wrong_chords", "tempo", "cents"):
        assert takes[flaw]["rank"] > good, (flaw, takes[flaw])


def test_summary_of_one_set(bench: ModuleType, scored: dict[str, Any]) -> None:
    out = bench.summary([scored])
    assert out["sets"] == 1 and out["goal_good_first"] == 1.0
    assert out["good_first"] == float(scored["ranked"][0] == "good") and out["met"] is (
        out["good_first"] == 1
    )
    assert set(out["mean_rank"]) == set(bench.VARIANTS) == set(out["mean_terms"])
    assert set(out["ranked_above_good"]) <= set(bench.FLAWS)
    assert out["mean_terms"]["clipped"]["clipping"] == 0.0
    json.dumps(out)


def test_mixed_sets_the_added_signal_db_under_the_take(bench: ModuleType) -> None:
    rate = 22_050
    rng = np.random.default_rng(0)
    take = Audio((0.3 * rng.standard_normal((2, rate))).astype(np.float32), rate)
    other = Audio(np.ones((1, rate // 2), dtype=np.float32), rate)  # mono and short: spread and padded
    out = bench.mixed(take, other, -6.0)
    added = out.samples - take.samples
    assert out.samples.shape == take.samples.shape
    assert bench._rms(added) / bench._rms(take.samples) == pytest.approx(10 ** (-6 / 20), rel=1e-4)
    assert np.all(added[:, rate // 2 :] == 0.0)


def test_wrong_piece_prefers_the_same_key_then_transposes_one_in_the_same_mode(bench: ModuleType) -> None:
    piece = bench.chords.chorale("bach/bwv64.2", 21)  # A minor, 4/4
    ex = bench.corpus.excerpt(piece, SET_SECONDS, key=True)
    pool = ["bach/bwv32.6", "bach/bwv227.1", "bach/bwv126.6"]  # G major, E minor, A minor
    assert bench.wrong_piece(piece, ex, SET_SECONDS, pool).path == "bach/bwv126.6"
    moved = bench.wrong_piece(piece, ex, SET_SECONDS, pool[:2])
    assert (moved.path, moved.transpose, moved.programs, moved.bpm) == ("bach/bwv227.1", 5, (0,), 74.0)


@pytest.mark.slow
def test_quick_bench_prints_the_ranking_and_the_cost(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    bench.main(["--quick"])
    out = json.loads(capsys.readouterr().out)
    assert out["split"] == "tuning" and out["sets"] == bench.QUICK == len(out["per_set"])
    assert [r["piece"] for r in out["per_set"]] == ["bach/bwv32.6", "bach/bwv64.2"]  # shuffle places 20, 21
    assert 0.0 <= out["good_first"] <= 1.0 and isinstance(out["met"], bool)
    cost = out["cost"]
    assert cost["takes"] == bench.COST_TAKES and cost["ms_per_step"]["batch_1"] > 0
    assert cost["ratio"] == pytest.approx(
        cost["ms_per_step"]["batch_4"] / cost["ms_per_step"]["batch_1"], rel=0.01
    )
