"""stems.takes.measures on real audio: a band rendered by FluidSynth (tests/flows/cli/test_conform_grid.py's
``band``: A minor, Am F Dm Em a bar, 100.5 bpm after a 120 ms lead) against the same band flawed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stems.audio import Audio, read_audio
from stems.score import lay_out
from stems.takes import Target, measure, rank
from stems.takes.measures import dropouts_per_minute, silent_share
from stems.transcription.midi import Note, TempoMap
from tests.flows.cli.test_conform_grid import LEAD, PLAYED, band
from tests.flows.cli.test_conform_grid import pytestmark as pytestmark  # FluidSynth and Rubber Band

CHART = "Am | F | Dm | Em"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Audio:
    return read_audio(band(tmp_path_factory.mktemp("takes") / "band.wav", pickup=0, chords=True))


def target(audio: Audio, **changes: object) -> Target:
    score = lay_out(TempoMap(PLAYED), audio.duration, [], default_chords=CHART)
    return replace(Target(PLAYED, 4, "A minor", chords=score.chords), **changes)  # type: ignore[arg-type]


def test_the_good_take_scores_high_on_every_term_it_can_measure(good: Audio) -> None:
    scored = measure(good, target(good))
    values = {name: term.value for name, term in scored.terms.items()}
    assert values["harmony"] is not None and values["harmony"] >= 0.8, values
    assert values["key"] == 1.0 and values["tempo"] is not None and values["tempo"] > 0.95, values
    assert values["clipping"] == 1.0 and values["dropouts"] == 1.0, values
    assert values["bleed"] is None and values["guide"] is None  # not separated, no guide: not in the total
    assert scored.total > 0.8


def test_a_semitone_off_a_clipped_and_a_gapped_take_rank_below_the_good_one(good: Audio) -> None:
    from stems.conform.warp import stretch

    ends = np.array([0.0, good.duration])
    semitone = stretch(good, ends, ends, cents=100.0)  # Rubber Band, the tempo kept
    clipped = Audio(np.clip(8.0 * good.samples, -1.0, 1.0), good.sample_rate)
    gapped = good.samples.copy()
    for start in np.arange(1.0, 18.0, 2.0):  # 20 ms of digital silence every 2 s while the band plays
        a = round(start * good.sample_rate)
        gapped[:, a : a + round(0.02 * good.sample_rate)] = 0.0
    takes = [good, semitone, clipped, Audio(gapped, good.sample_rate)]
    scored = [measure(take, target(good)) for take in takes]
    assert rank(scored)[0] == 0, [s.to_json() for s in scored]
    assert scored[1].terms["harmony"].value < 0.3 and scored[1].terms["key"].value == 0.0  # type: ignore[operator]
    assert scored[2].terms["clipping"].value == 0.0
    assert dropouts_per_minute(takes[3]) * good.duration / 60.0 == pytest.approx(9.0, abs=0.5)
    assert dropouts_per_minute(good) == 0.0  # the notes' releases and rests are no dropouts


def test_harmony_by_the_part_counts_beats_on_its_pitch_classes(good: Audio, tmp_path: Path) -> None:
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(band(tmp_path / "band.wav", pickup=0, chords=True).with_suffix(".mid")))
    part = [  # the notes the band plays, on the grid (bar 1 at 0 s, not after the lead)
        Note(n.start - LEAD, n.end - LEAD, n.pitch, n.velocity)
        for track in midi.instruments
        if not track.is_drum
        for n in track.notes
    ]
    right = measure(good, target(good, chords=None, part=part)).terms["harmony"].value
    wrong = [replace(n, pitch=n.pitch + 1) for n in part]
    off = measure(good, target(good, chords=None, part=wrong)).terms["harmony"].value
    assert right is not None and off is not None and right > 0.6 > 0.2 > off, (
        right,
        off,
    )  # measured 1.0, 0.0


def test_silence_is_a_share_of_blocks(good: Audio) -> None:
    padded = Audio(np.concatenate([good.samples, np.zeros_like(good.samples)], axis=1), good.sample_rate)
    share = silent_share(good)  # FluidSynth's tail after the last note
    assert 0.1 < share < 0.3 and silent_share(padded) == pytest.approx((share + 1.0) / 2.0, abs=0.01)
