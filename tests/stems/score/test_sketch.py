"""stems.score.sketch: parts rendered by the real FluidSynth with FluidR3_GM; their pitch content is the chord."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from stems.audio import Audio
from stems.instruments import resolve_instrument
from stems.musicgen.chroma import melody_chroma
from stems.score import (
    SOUNDFONT,
    Score,
    SectionChart,
    SketchUnavailableError,
    adherence,
    frame_times,
    lay_out,
    make_part,
    render_part,
)
from stems.score import sketch as sketch_module
from stems.transcription.midi import TempoMap

needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not SOUNDFONT.is_file(),
    reason="needs fluidsynth and FluidR3_GM (make install)",
)
RATE = 22_050


def score(chart: str = "C | Am | F#m7b5 | Bb/D", meter: tuple[int, int] = (4, 4)) -> Score:
    return lay_out(
        TempoMap(100.0, *meter),
        4 * TempoMap(100.0, *meter).bar_seconds,
        [SectionChart("verse", 4, chart, "")],
    )


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def chord_chroma(audio: Audio, s: Score) -> list[tuple[tuple[int, ...], list[int]]]:
    """Per chord: its pitch classes, and the as many strongest pitch classes of the audio's CQT chroma while
    it plays (0.2 s in from each end)."""
    import librosa

    chroma = librosa.feature.chroma_cqt(y=audio.samples[0], sr=audio.sample_rate, hop_length=512)
    times = librosa.frames_to_time(np.arange(chroma.shape[1]), sr=audio.sample_rate, hop_length=512)
    out = []
    for chord in s.chords:
        mean = chroma[:, (times > chord.start + 0.2) & (times < chord.end - 0.2)].mean(axis=1)
        out.append(
            (
                tuple(sorted(chord.pitch_classes)),
                sorted(np.argsort(mean)[::-1][: len(chord.pitch_classes)].tolist()),
            )
        )
    return out


@pytest.mark.slow
@needs_fluidsynth
@pytest.mark.parametrize("family", ["piano", "pad", "strings"])
def test_a_sketch_sounds_the_chords_of_its_part(family: str) -> None:
    s = score()
    audio = render_part(make_part(family, resolve_instrument(family), s), s, RATE, 1)
    assert (audio.sample_rate, audio.channels, audio.num_samples) == (RATE, 1, round(s.duration * RATE))
    assert rms(audio.samples) > 0.005
    for planned, heard in chord_chroma(audio, s):
        assert heard == list(planned)


@pytest.mark.slow
@needs_fluidsynth
@pytest.mark.parametrize("family", ["piano", "bass", "lead"])
def test_the_models_chroma_of_a_sketch_lands_on_the_chord(family: str) -> None:
    """MusicGen's own chroma extractor (one-hot argmax) on the rendered part, against the plan. (FluidR3's
    clean electric guitar is left out: its strong third harmonics put the argmax on the fifth of a chord
    tone, 0.46-0.75 on chord tones.)"""
    tempo = TempoMap(100.0, 3, 4)
    s = lay_out(tempo, 8 * tempo.bar_seconds, [], "Em | C | G D | Am7 B7 | C | G/B | Am | F")
    audio = render_part(make_part(family, resolve_instrument(family), s, seed=1), s, 32_000, 1)
    chroma = melody_chroma(audio, s.duration)
    times = frame_times(len(chroma))
    level = np.array(
        [rms(audio.samples[0][max(0, int(t * 32_000) - 2048) : int(t * 32_000) + 2048]) for t in times]
    )
    fit = adherence(chroma, times, level > 0.01 * level.max(), s)
    assert fit.frames > 0.8 * len(chroma) and fit.chord_fraction >= 0.9


@pytest.mark.slow
@needs_fluidsynth
def test_pan_and_gain_are_applied() -> None:
    s = score()
    part = make_part("piano", resolve_instrument("piano"), s)
    centre = render_part(part, s, RATE, 2)
    left, right = (render_part(part, s, RATE, 2, pan=p) for p in (-1.0, 1.0))
    assert rms(left.samples[0]) > 1.5 * rms(left.samples[1]) and rms(right.samples[1]) > 1.5 * rms(
        right.samples[0]
    )
    quieter = render_part(part, s, RATE, 2, gain_db=-6.0)
    assert rms(quieter.samples) / rms(centre.samples) == pytest.approx(10 ** (-6 / 20), rel=1e-3)


@pytest.mark.slow
@needs_fluidsynth
def test_drums_render_and_an_odd_rate_is_converted() -> None:
    s = score(meter=(7, 8))
    audio = render_part(make_part("drums", resolve_instrument("drums"), s), s, 192_000, 1)
    assert (audio.sample_rate, audio.num_samples) == (192_000, round(s.duration * 192_000))
    assert rms(audio.samples) > 0.005


def test_missing_tools_say_how_to_install_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = score()
    part = make_part("piano", resolve_instrument("piano"), s)
    with pytest.raises(
        SketchUnavailableError, match="soundfont .*apt-get install fluidsynth fluid-soundfont-gm"
    ):
        render_part(part, s, RATE, 1, soundfont=tmp_path / "missing.sf2")
    monkeypatch.setattr(sketch_module, "FLUIDSYNTH", "fluidsynth-not-installed")
    with pytest.raises(SketchUnavailableError, match="fluidsynth command.*make install"):
        render_part(part, s, RATE, 1)
