"""stems.transcription.transcriber: the basic-pitch facade on synthetic tones, settings, bad input, files, accuracy floor."""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from stems.audio import Audio, write_wav
from stems.errors import AudioInputError, UserInputError
from stems.transcription.midi import TempoMap, grid_seconds
from stems.transcription.settings import BASIC_PITCH_DEFAULTS
from stems.transcription.transcriber import (
    INSTRUMENT_FAMILIES,
    TranscriptionSettings,
    default_model_path,
    get_transcriber,
    settings_for,
    transcribe_file,
)
from tests.support import paths
from tests.support.bench_scripts import load_bench

ROOT = paths.REPO
SCALE = (48, 50, 52, 53, 55, 57, 59, 60)
NOTE_S = 0.5
ONSET_TOL = 0.05  # MIREX note-onset tolerance


def harmonic_tone(pitch: int, seconds: float, sr: int, harmonics: int = 5) -> np.ndarray:
    """A sawtooth-like tone (1/k partials) with 10 ms attack and 50 ms release fades."""
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, harmonics + 1) if f0 * k < sr / 2)
    fade = np.minimum(1.0, np.minimum(t / 0.01, (seconds - t) / 0.05))
    return (0.3 * x * fade).astype(np.float32)


def scale_audio(sr: int, channels: int) -> Audio:
    mono = np.concatenate([harmonic_tone(p, NOTE_S, sr) for p in SCALE])
    return Audio(np.repeat(mono[None], channels, axis=0), sr)


# --- settings -----------------------------------------------------------------------------------


def test_every_family_has_settings_and_a_gm_program() -> None:
    for family in INSTRUMENT_FAMILIES:
        s = settings_for(family)
        assert s.family == family and 0 <= s.program <= 127
        assert s.is_drum == (family == "drums")
    assert settings_for("bass").monophonic and not settings_for("piano").monophonic
    assert settings_for("bass").max_frequency is not None and settings_for("bass").max_frequency < 500


def test_overrides_and_their_errors() -> None:
    s = settings_for("Piano", onset_threshold=0.35, pitch_bends=True)
    assert (s.onset_threshold, s.pitch_bends, s.family) == (0.35, True, "piano")
    with pytest.raises(UserInputError, match="ukulele.*bass"):
        settings_for("ukulele")
    with pytest.raises(UserInputError, match="onset_treshold.*allowed"):
        settings_for("bass", onset_treshold=0.3)
    with pytest.raises(UserInputError, match="monophonic"):
        settings_for("bass", monophonic="yes")
    with pytest.raises(UserInputError, match="between 0 and 1"):
        settings_for("bass", frame_threshold=1.5)


# --- the facade against basic-pitch itself ----------------------------------------------------------


def test_posteriors_match_basic_pitch_run_inference_on_a_file(tmp_path: Path) -> None:
    """Our array windowing reproduces basic_pitch.inference.run_inference (which reads a file)."""
    from basic_pitch.inference import run_inference

    audio = scale_audio(22050, 1)  # at the model rate no resampler is involved on either side
    path = tmp_path / "scale.wav"
    write_wav(path, audio)
    transcriber = get_transcriber()
    ours = transcriber.posteriors(audio)
    theirs = run_inference(path, default_model_path())
    for key in ("note", "onset", "contour"):
        assert ours[key].shape == theirs[key].shape
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-4)


@pytest.mark.parametrize(("sr", "channels"), [(44100, 2), (16000, 1), (22050, 1)])
def test_scale_is_transcribed_at_any_rate_and_channel_count(sr: int, channels: int) -> None:
    track = get_transcriber().transcribe(scale_audio(sr, channels), "lead", "lead")
    assert [n.pitch for n in track.notes] == list(SCALE)
    starts = np.array([n.start for n in track.notes])
    np.testing.assert_allclose(starts, np.arange(len(SCALE)) * NOTE_S, atol=ONSET_TOL)
    assert all(40 <= n.velocity <= 127 for n in track.notes)
    assert track.program == settings_for("lead").program and not track.is_drum
    assert track.seconds > 0


def test_default_settings_report_partials_that_ours_remove() -> None:
    audio = scale_audio(22050, 1)
    default = get_transcriber().transcribe(audio, "lead", "x", settings=BASIC_PITCH_DEFAULTS)
    ours = get_transcriber().transcribe(audio, "lead", "x")
    assert len(default.notes) > len(SCALE)  # basic-pitch reports the 5th harmonic as notes too
    assert len(ours.notes) == len(SCALE)


def test_monophonic_tracks_never_overlap() -> None:
    chord = sum(harmonic_tone(p, 1.0, 22050) for p in (40, 44, 47))
    track = get_transcriber().transcribe(Audio(chord[None], 22050), "bass", "bass")
    assert len(track.notes) >= 1
    for a, b in zip(track.notes, track.notes[1:]):
        assert a.end <= b.start + 1e-9


def test_polyphonic_chord_gives_all_three_notes() -> None:
    chord = sum(harmonic_tone(p, 1.0, 22050) for p in (60, 64, 67))
    track = get_transcriber().transcribe(Audio(chord[None], 22050), "piano", "piano")
    assert {60, 64, 67} <= {n.pitch for n in track.notes}


def test_frequency_range_drops_notes_outside_it() -> None:
    high = Audio(harmonic_tone(84, 1.0, 22050)[None], 22050)  # C6, 1046 Hz: above any bass
    assert get_transcriber().transcribe(high, "bass", "bass").notes == ()
    assert [n.pitch for n in get_transcriber().transcribe(high, "lead", "lead").notes] == [84]


def test_quantize_puts_onsets_on_the_grid() -> None:
    tempo = TempoMap(100.0)
    track = get_transcriber().transcribe(scale_audio(22050, 1), "lead", "lead", tempo=tempo, quantize="1/16")
    step = grid_seconds("1/16", tempo)
    assert len(track.notes) == len(SCALE)
    for note in track.notes:
        assert note.start / step == pytest.approx(round(note.start / step), abs=1e-6)
        assert note.end - note.start >= step - 1e-9


def test_pitch_bends_follow_a_glide() -> None:
    sr = 22050
    t = np.arange(sr) / sr
    f = 220.0 * 2 ** (np.clip(t - 0.3, 0, 0.4) / 0.4 / 12)  # glide up one semitone between 0.3 and 0.7 s
    x = (0.3 * np.sin(2 * np.pi * np.cumsum(f) / sr) * np.minimum(1, (1 - t) / 0.05)).astype(np.float32)
    track = get_transcriber().transcribe(Audio(x[None], sr), "lead", "lead")
    assert track.pitch_bends, "a glide should produce pitch-wheel events"
    values = [b.value for b in track.pitch_bends]
    assert max(values) - min(values) >= 2048  # at least half a semitone of movement (4096 per semitone)


# --- bad input ------------------------------------------------------------------------------------


def test_silence_gives_empty_track_with_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    silent = Audio(np.zeros((2, 44100), dtype=np.float32), 44100)
    with caplog.at_level(logging.WARNING, logger="stems.transcription.transcriber"):
        track = get_transcriber().transcribe(silent, "keys", "keys")
    assert track.notes == () and len(track.warnings) == 1 and "keys" in track.warnings[0]
    assert "silent" in caplog.text
    assert get_transcriber().transcribe(silent, "drums", "kit").notes == ()


def test_nan_audio_is_an_error_naming_the_stem() -> None:
    x = np.zeros((1, 22050), dtype=np.float32)
    x[0, 100] = np.nan
    with pytest.raises(AudioInputError, match="'guitar 2'"):
        get_transcriber().transcribe(Audio(x, 22050), "guitar", "guitar 2")


def test_caller_array_is_not_modified() -> None:
    audio = scale_audio(22050, 2)
    before = audio.samples.copy()
    get_transcriber().transcribe(audio, "piano", "p")
    np.testing.assert_array_equal(audio.samples, before)


def test_unknown_instrument_is_a_user_error() -> None:
    with pytest.raises(UserInputError, match="allowed|use one of"):
        get_transcriber().transcribe(scale_audio(22050, 1), "theremin", "t")


def test_missing_model_is_a_clear_error_and_progress_is_reported(tmp_path: Path) -> None:
    from stems.errors import ModelUnavailableError
    from stems.transcription.transcriber import Transcriber

    with pytest.raises(ModelUnavailableError, match="reinstall basic-pitch"):
        Transcriber(model_path=tmp_path / "missing.onnx").transcribe(scale_audio(22050, 1), "bass", "b")
    seen: list[tuple[str, int, int]] = []
    get_transcriber().transcribe(scale_audio(22050, 1), "bass", "b", progress=lambda *call: seen.append(call))
    total = seen[-1][2]
    assert total >= 2 and seen[-1] == ("b", total, total)  # the model's batches, then the note tracking
    assert [call[1] for call in seen] == list(range(1, total + 1)) and {call[2] for call in seen} == {total}


def test_transcriber_is_shared() -> None:
    assert get_transcriber() is get_transcriber()
    assert (get_transcriber().sample_rate, get_transcriber().channels) == (22050, 1)


# --- files ------------------------------------------------------------------------------------------


def test_transcribe_file_writes_midi(tmp_path: Path) -> None:
    wav, mid = tmp_path / "in.wav", tmp_path / "out" / "lead.mid"
    write_wav(wav, scale_audio(44100, 2), subtype="PCM_16")
    track = transcribe_file(wav, "lead", mid, tempo=TempoMap(90.0, 3, 4))
    pm = pretty_midi.PrettyMIDI(str(mid))
    assert pm.get_tempo_changes()[1][0] == pytest.approx(90.0, abs=0.01)
    (inst,) = pm.instruments
    assert [n.pitch for n in inst.notes] == list(SCALE) == [n.pitch for n in track.notes]
    assert inst.program == settings_for("lead").program
    assert track.name == "in"


def test_transcribe_file_missing_input_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not found"):
        transcribe_file(tmp_path / "nope.wav", "bass", tmp_path / "x.mid")
    assert not (tmp_path / "x.mid").exists()


def test_settings_dataclass_is_frozen() -> None:
    s = settings_for("bass")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.onset_threshold = 0.1  # type: ignore[misc]
    assert isinstance(s, TranscriptionSettings)


# --- accuracy floor on fluidsynth renderings (a slice of bench/eval_transcription.py) ---------------

# Floors sit 0.1-0.15 below what these 6 s clips measure (seed 7), so they catch regressions (a
# broken window offset or threshold drops F1 to near 0) without flaking on small changes.
FLOORS = {
    "bass": 0.8,
    "piano": 0.8,
    "keys": 0.85,
    "guitar": 0.5,
    "lead": 0.8,
    "strings": 0.2,
    "pad": 0.45,
    "vocals": 0.65,
    "brass": 0.8,
    "woodwind": 0.85,
}


@functools.cache
def _slice_scores(family: str) -> tuple[float, float]:
    """(ours, basic-pitch defaults) onset-F1 on one fluidsynth-rendered clip of the family."""
    ev = load_bench("eval_transcription")
    clip = ev.make_clip(family, 7, 6.0)
    ours = ev.evaluate_pitched(clip, ev.clip_settings(clip))
    default = ev.evaluate_pitched(clip, BASIC_PITCH_DEFAULTS)
    return ours["onset_f1"], default["onset_f1"]


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FLOORS))
def test_fluidsynth_slice_onset_f1_floor(family: str) -> None:
    assert _slice_scores(family)[0] >= FLOORS[family]


@pytest.mark.slow
def test_fluidsynth_slice_beats_defaults_on_average() -> None:
    pairs = [_slice_scores(f) for f in sorted(FLOORS)]
    gain = float(np.mean([ours - default for ours, default in pairs]))
    assert gain >= 0.10, f"mean onset-F1 gain over basic-pitch defaults is {gain:.3f}"
