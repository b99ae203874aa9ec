"""Window planning, sections and stem order: pure arithmetic, no model."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stems.errors import UserInputError
from stems.musicgen.plan import (
    SectionSpan,
    bar_seconds,
    generation_order,
    plan_frames,
    plan_windows,
    section_for,
    section_spans,
    window_text,
)


def test_bar_seconds_counts_time_signature_beats() -> None:
    assert bar_seconds(120, 4) == pytest.approx(2.0, abs=1e-12)
    assert bar_seconds(96, 3) == pytest.approx(1.875, abs=1e-12)
    with pytest.raises(UserInputError, match="bpm"):
        bar_seconds(0, 4)
    with pytest.raises(UserInputError, match="beats per bar"):
        bar_seconds(120, 0)


def test_section_spans_snap_to_bars_and_last_runs_to_duration() -> None:
    spans = section_spans([("intro", 8, "sparse"), ("chorus", 16, "full band")], 96, 4, 300.0)
    bar = 2.5  # 4 beats at 96 bpm
    assert spans == [
        SectionSpan("intro", 0.0, 8 * bar, "sparse"),
        SectionSpan("chorus", 8 * bar, 300.0, "full band"),
    ]
    assert section_spans([], 96, 4, 300.0) == []


def test_section_spans_drop_sections_after_the_end() -> None:
    spans = section_spans([("a", 4, "x"), ("b", 4, "y"), ("c", 4, "z")], 120, 4, 10.0)
    assert [(s.name, s.start, s.end) for s in spans] == [("a", 0.0, 8.0), ("b", 8.0, 10.0)]
    with pytest.raises(UserInputError, match="at least 1 bar"):
        section_spans([("a", 0, "x")], 120, 4, 10.0)


def test_300_s_with_stride_18_is_16_windows_like_audiocraft() -> None:
    plans = plan_windows(300.0, 18.0)
    assert len(plans) == 16
    assert (plans[0].start, plans[0].new_start, plans[0].end) == (0.0, 0.0, 30.0)
    for k, plan in enumerate(plans[1:], start=1):
        assert plan.start == pytest.approx(18.0 * k, abs=1e-9)
        assert plan.new_start == pytest.approx(plans[k - 1].end, abs=1e-9)
        assert plan.new_start - plan.start == pytest.approx(12.0, abs=1e-9)  # 30 - stride of context
    assert (plans[-1].start, plans[-1].new_start, plans[-1].end) == pytest.approx(
        (270.0, 282.0, 300.0), abs=1e-9
    )


def test_short_stem_is_one_window_trimmed() -> None:
    assert [(p.start, p.new_start, p.end) for p in plan_windows(20.0, 18.0)] == [(0.0, 0.0, 20.0)]


def test_continuation_prompt_is_capped_to_the_overlap() -> None:
    short = plan_windows(60.0, 18.0, prompt=5.0)
    assert (short[0].start, short[0].new_start, short[0].end) == (-5.0, 0.0, 25.0)
    capped = plan_windows(60.0, 18.0, prompt=20.0)
    assert (capped[0].start, capped[0].end) == (-12.0, 18.0)
    assert capped[1].start == pytest.approx(6.0, abs=1e-9)


def test_bad_stride_is_a_user_error() -> None:
    with pytest.raises(UserInputError, match="extend_stride"):
        plan_windows(60.0, 30.0)
    with pytest.raises(UserInputError, match="duration"):
        plan_windows(-1.0, 18.0)


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(1, 20_000),
    stride=st.integers(1, 1499),
    prompt=st.integers(0, 2000),
)
def test_frame_windows_tile_the_stem(total: int, stride: int, prompt: int) -> None:
    window = 1500
    plans = plan_frames(total, stride, window, prompt)
    assert plans[0].new_start == 0 and plans[-1].end == total
    assert plans[0].prompt == min(prompt, window - stride)
    for prev, cur in itertools.pairwise(plans):
        assert cur.new_start == prev.end  # new audio is contiguous, never overlapping
        assert cur.prompt == window - stride  # context kept = window - stride
        assert cur.new > 0
    assert all(p.end - p.start <= window for p in plans)
    expected = 1 + max(0, math.ceil((total - (window - plans[0].prompt)) / stride))
    assert len(plans) == expected


def test_each_window_takes_the_section_its_new_audio_falls_in() -> None:
    spans = section_spans(
        [("intro", 8, "sparse"), ("verse", 16, "groove"), ("chorus", 40, "full")], 96, 4, 300.0
    )
    plans = plan_windows(300.0, 18.0)
    texts = [
        window_text("funk drums", "96 bpm, A minor", section_for(spans, p.new_start, p.end)) for p in plans
    ]
    # intro [0, 20), verse [20, 60), chorus [60, 300)
    assert texts[0] == "funk drums, 96 bpm, A minor, sparse"  # new audio 0-30: 20 s intro vs 10 s verse
    assert texts[1] == "funk drums, 96 bpm, A minor, groove"  # 30-48
    assert texts[2] == "funk drums, 96 bpm, A minor, groove"  # 48-66: 12 s verse, 6 s chorus
    assert texts[3:] == ["funk drums, 96 bpm, A minor, full"] * 13


def test_window_text_skips_empty_parts() -> None:
    assert window_text("bass", "", None) == "bass"
    assert window_text(" bass ", "120 bpm", SectionSpan("a", 0, 1, "")) == "bass, 120 bpm"


def test_generation_order_levels_follow_dependencies() -> None:
    follows = {"drums": None, "bass": "keys", "keys": None, "lead": "bass"}
    assert generation_order(follows) == [["drums", "keys"], ["bass"], ["lead"]]
    assert generation_order({}) == []


def test_generation_order_rejects_cycles_and_unknown_stems() -> None:
    with pytest.raises(UserInputError, match="cycle.*a -> b -> a|cycle.*b -> a -> b"):
        generation_order({"a": "b", "b": "a", "c": None})
    with pytest.raises(UserInputError, match="not a stem"):
        generation_order({"a": "ghost"})
    with pytest.raises(UserInputError, match="follows itself"):
        generation_order({"a": "a"})
