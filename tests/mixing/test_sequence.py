"""Album sequencing on its own: track order, silent gaps, equal-power crossfades, channel and rate handling,
the CUE sheet's times, and the inputs it refuses."""

from __future__ import annotations

import numpy as np
import pytest

from mixing.sequence import crossfade_problem, cue_sheet, cue_time, sequence
from stems.audio import Audio
from stems.errors import UserInputError

RATE = 1000


def const(value: float, seconds: float, channels: int = 2, rate: int = RATE) -> Audio:
    return Audio(np.full((channels, round(seconds * rate)), value, dtype=np.float32), rate)


def test_tracks_keep_their_order_and_gaps_are_silence() -> None:
    out = sequence([const(0.25, 1.0), const(0.5, 2.0), const(0.75, 0.5)], gap=0.25)
    assert out.starts == (0.0, 1.25, 3.5) and out.durations == (1.0, 2.0, 0.5)
    x = out.audio.samples
    assert x.shape == (2, 4000) and out.audio.sample_rate == RATE  # no gap after the last track
    np.testing.assert_array_equal(x[:, :1000], 0.25)
    np.testing.assert_array_equal(x[:, 1000:1250], 0.0)
    np.testing.assert_array_equal(x[:, 1250:3250], 0.5)
    np.testing.assert_array_equal(x[:, 3250:3500], 0.0)
    np.testing.assert_array_equal(x[:, 3500:], 0.75)


def test_no_gap_and_no_crossfade_butts_tracks_together() -> None:
    out = sequence([const(0.5, 1.0), const(-0.5, 1.0)])
    assert out.starts == (0.0, 1.0) and out.audio.num_samples == 2000


def test_a_crossfade_overlaps_tracks_with_equal_power_ramps() -> None:
    out = sequence([const(1.0, 2.0), const(1.0, 2.0)], crossfade=0.5)
    assert out.starts == (0.0, 1.5) and out.audio.num_samples == 3500
    x = out.audio.samples[0]
    np.testing.assert_array_equal(x[:1500], 1.0)  # the first track untouched before the overlap
    np.testing.assert_array_equal(x[2000:], 1.0)  # the second after it
    fade_out, fade_in = (
        np.cos(0.5 * np.pi * (np.arange(500) + 0.5) / 500),
        np.sin(0.5 * np.pi * (np.arange(500) + 0.5) / 500),
    )
    np.testing.assert_allclose(x[1500:2000], fade_out + fade_in, atol=1e-6)
    np.testing.assert_allclose(fade_out**2 + fade_in**2, 1.0, atol=1e-6)  # equal power, not equal gain


def test_tracks_are_converted_to_the_first_tracks_rate_and_the_channel_count() -> None:
    out = sequence([const(0.25, 1.0, channels=2), const(0.5, 1.0, channels=1, rate=2 * RATE)], channels=2)
    assert out.audio.sample_rate == RATE and out.audio.samples.shape == (2, 2000)
    assert out.durations == (1.0, 1.0)


def test_gap_and_crossfade_together_or_negative_are_refused() -> None:
    with pytest.raises(UserInputError, match="not both"):
        sequence([const(0.1, 1.0)] * 2, gap=1.0, crossfade=0.1)
    with pytest.raises(UserInputError, match="zero or more"):
        sequence([const(0.1, 1.0)] * 2, gap=-1.0)
    with pytest.raises(UserInputError, match="at least one track"):
        sequence([])


def test_a_crossfade_longer_than_half_the_shortest_track_is_refused() -> None:
    assert crossfade_problem(0.5, [1.0, 3.0]) is None
    problem = crossfade_problem(0.6, [1.0, 3.0])
    assert problem is not None and "at most 0.5 s" in problem
    with pytest.raises(UserInputError, match="longer than half the shortest track"):
        sequence([const(0.1, 1.0), const(0.1, 3.0)], crossfade=0.6)


def test_cue_times_are_red_book_frames() -> None:
    assert cue_time(0.0) == "00:00:00"
    assert cue_time(6.5) == "00:06:38"  # 37.5 frames round to 38
    assert cue_time(61.0 + 74 / 75) == "01:01:74"


def test_the_cue_sheet_lists_tracks_in_order() -> None:
    sheet = cue_sheet("album.wav", 'My "Album"', None, [("One", 0.0), ("Two", 3.0)])
    assert sheet.splitlines() == [
        'PERFORMER ""',
        "TITLE \"My 'Album'\"",
        'FILE "album.wav" WAVE',
        "  TRACK 01 AUDIO",
        '    TITLE "One"',
        "    INDEX 01 00:00:00",
        "  TRACK 02 AUDIO",
        '    TITLE "Two"',
        "    INDEX 01 00:03:00",
    ]
