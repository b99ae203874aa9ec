"""Issue 24 point 5: when the warp is refused (it would move the beats away from the grid), a requested key or
tuning shift is still applied, in memory (``conform``) and file to file (``conform_file``).

The stem is a FluidSynth rendering of a band in A minor played 30 cents sharp, already on the 120 bpm grid.
A real refusal needs a beat tracker that fails on the output only; the test makes the analysis of the output
(the input of ``verdict``'s comparison) report its beats a quarter beat late, so the warp is refused, and
measures the pitch of what comes out with the unpatched tuning analysis.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import tests.stems.conform.test_conform as band
from stems.audio import Audio, read_audio
from stems.conform import Analysis, Grid, analyze, conform
from stems.conform import apply as conform_apply
from stems.conform import files as conform_files

pytestmark = band.pytestmark
SHARP = 30.0  # cents the band is played sharp: the shift asked is -30 (A minor to A minor, retuned to A440)
LATE = 0.125  # s the patched output analysis puts its beats late: a quarter beat at 120 bpm, ~125 ms error


def late(analysis: Analysis) -> Analysis:
    return replace(analysis, beats=tuple(b + LATE for b in analysis.beats))


@pytest.fixture(scope="module")
def sharp(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Audio]:
    path = tmp_path_factory.mktemp("retune-kept") / "sharp"
    audio = band.render(path, band.beat_grid(32, 120.0, 0.0), cents=SHARP, drums=False)
    return path.with_suffix(".wav"), audio


def check_shifted(audio: Audio, reason: str) -> None:
    assert "tempo left as is: conforming moved the beats away from the grid" in reason, reason
    assert "shifted +30 cents" not in reason and "shifted -" in reason, reason
    measured = analyze(audio).tuning_cents
    assert abs(measured) < 8.0, f"output still {measured:+.1f} cents off A440: the shift was not applied"


def test_conform_keeps_the_tuning_shift_when_the_warp_is_refused(
    sharp: tuple[Path, Audio], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, audio = sharp
    before = analyze(audio)
    assert abs(before.tuning_cents - SHARP) < 8.0, before.tuning_cents
    real = conform_apply.analyze
    monkeypatch.setattr(conform_apply, "analyze", lambda *a, **k: late(real(*a, **k)))
    result = conform(audio, Grid(bpm=120.0, duration=16.0, key="A minor"), key=True, analysis=before)
    assert result.applied and result.stretch == 1.0, result.reason
    assert abs(result.shift_cents + SHARP) < 8.0 and result.audio.num_samples == 16 * band.RATE
    check_shifted(result.audio, result.reason)


def test_conform_file_keeps_the_tuning_shift_when_the_warp_is_refused(
    sharp: tuple[Path, Audio], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, audio = sharp
    real = conform_files._analysis

    def analysis(at: Path, grid: Grid, family: str | None) -> Analysis:
        found = real(at, grid, family)
        return found if at == path else late(found)

    monkeypatch.setattr(conform_files, "_analysis", analysis)
    out = tmp_path / "retuned.wav"
    result = conform_files.conform_file(path, out, bpm=120.0, key="A minor")
    assert result.applied and result.stretch == 1.0 and out.is_file(), result.reason
    written = read_audio(out)
    assert sf.info(str(out)).samplerate == band.RATE and written.num_samples == audio.num_samples
    np.testing.assert_allclose(
        written.samples.std(), audio.samples.std(), rtol=0.1
    )  # not silence, same level
    check_shifted(written, result.reason)
