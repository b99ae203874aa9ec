"""The analysis's features computed a chunk at a time equal librosa's whole-signal ones (issue 22: a 20-minute
file took 4.2 GB, a 2.9-hour one failed on a 6.8 GiB STFT)."""

from __future__ import annotations

import numpy as np
import pytest

from stems.audio import Audio
from stems.conform import analyze, spectra
from stems.conform import beats as beatlib
from stems.conform.keys import estimate_key, estimate_tuning, key_name, key_scores
from stems.streaming import ArraySignal

RATE = 22_050


def _piece(seconds: float = 40.0) -> np.ndarray:
    """A bass note and a chord a beat at 110 bpm, with a kick and some noise: onsets, pitch and harmony."""
    rng = np.random.default_rng(4)
    t = np.arange(int(seconds * RATE)) / RATE
    phase = np.mod(t, 60 / 110)
    beat = (t // (60 / 110)).astype(int)
    bass = np.array([110.0, 146.83, 164.81, 123.47])[beat % 4]
    y = 0.3 * np.sin(2 * np.pi * bass * t) * np.exp(-6 * phase)
    y += 0.1 * sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) * (beat % 8 < 4)
    y += 0.4 * np.sin(2 * np.pi * 50 * phase) * np.exp(-30 * phase) + 0.01 * rng.standard_normal(t.size)
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def y() -> np.ndarray:
    return _piece()


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a few seconds, so a 40 s piece is cut into many."""
    monkeypatch.setattr(spectra, "CHUNK_VALUES", 1 << 18)
    monkeypatch.setattr(spectra, "CQT_CHUNK_S", 9.0)


def _close(chunked: np.ndarray, whole: np.ndarray, rtol: float = 1e-5) -> None:
    assert chunked.shape == whole.shape
    np.testing.assert_allclose(chunked, whole, rtol=rtol, atol=rtol * float(np.abs(whole).max()))


def test_stft_chunks_are_librosas_centred_stft_exactly(y: np.ndarray, small_chunks: None) -> None:
    import librosa

    chunked = spectra.frames(spectra.stft_chunks(ArraySignal(y, RATE), 2048, 256))
    np.testing.assert_array_equal(chunked, librosa.stft(y, n_fft=2048, hop_length=256))


def test_onset_features_equal_the_whole_signals(y: np.ndarray, small_chunks: None) -> None:
    import librosa

    signal = ArraySignal(y, RATE)
    hop = beatlib.HOP
    env = librosa.onset.onset_strength(y=y, sr=RATE, hop_length=hop, n_fft=beatlib.N_FFT)
    ours = beatlib.onset_envelope(signal)
    first = beatlib.N_FFT // (2 * hop)  # the rise into the first frame: librosa's 0, ours from silence before
    assert env[first] == 0.0 and ours[first] > 0.5 * env.max()  # the piece's kick at 0 s is an onset
    _close(np.delete(ours, first), np.delete(env, first))
    mel = librosa.feature.melspectrogram(y=y, sr=RATE, hop_length=hop, n_mels=64, fmax=8000)
    low = librosa.onset.onset_strength(S=librosa.power_to_db(mel[:8]), sr=RATE, hop_length=hop)
    _close(beatlib.low_onsets(signal), low)
    cqt = np.abs(librosa.cqt(y, sr=RATE, hop_length=hop, fmin=beatlib.BASS_FMIN, n_bins=beatlib.BASS_BINS))
    db = librosa.amplitude_to_db(cqt, ref=np.max)
    bass = librosa.onset.onset_strength(S=db, sr=RATE, hop_length=hop, lag=2, max_size=3)
    _close(beatlib.bass_onsets(signal), bass, rtol=1e-4)  # the CQT's resampling differs at chunk edges


def test_chroma_and_tuning_equal_the_whole_signals(y: np.ndarray, small_chunks: None) -> None:
    import librosa

    signal = ArraySignal(y, RATE)
    power = np.abs(librosa.stft(y, n_fft=2048, hop_length=256)) ** 2
    assert spectra.stft_tuning(signal, 2048, 256) == librosa.estimate_tuning(S=power, sr=RATE)
    _close(spectra.chroma_stft(signal, 256), librosa.feature.chroma_stft(y=y, sr=RATE, hop_length=256))


def test_tempogram_mean_equals_the_whole_tempograms(y: np.ndarray, small_chunks: None) -> None:
    import librosa

    env = librosa.onset.onset_strength(y=y, sr=RATE, hop_length=256)
    whole = librosa.feature.tempogram(onset_envelope=env, sr=RATE, hop_length=256, win_length=689)
    _close(spectra.mean_tempogram(env, RATE, 256), whole.mean(axis=-1, keepdims=True), rtol=1e-12)


def test_key_and_tuning_of_chunks_equal_the_whole_signals(y: np.ndarray, small_chunks: None) -> None:
    """The previous whole-signal code, inline: piptrack peaks' circular mean; CQT chroma summed over time."""
    import librosa

    signal = ArraySignal(y, RATE)
    pitches, mags = librosa.piptrack(y=y, sr=RATE, n_fft=4096, hop_length=1024, fmin=60.0, fmax=4000.0)
    keep = (pitches > 0) & (mags >= 0.1 * mags.max(axis=0, keepdims=True))
    weights = mags[keep].astype(np.float64)
    resultant = np.sum(weights * np.exp(2j * np.pi * 12 * np.log2(pitches[keep] / 440.0))) / weights.sum()
    cents, confidence = estimate_tuning(signal)
    assert cents == pytest.approx(100 * np.angle(resultant) / (2 * np.pi), abs=1e-3)
    assert confidence == pytest.approx(abs(resultant), abs=1e-5)
    whole = librosa.feature.chroma_cqt(y=y, sr=RATE, hop_length=2048, tuning=cents / 100, norm=None)

    def chroma(part: np.ndarray) -> np.ndarray:
        return np.asarray(
            librosa.feature.chroma_cqt(y=part, sr=RATE, hop_length=2048, tuning=cents / 100, norm=None)
        )

    _close(spectra.cqt_frames(signal, 2048, chroma), whole, rtol=1e-4)
    scores = key_scores(whole.sum(axis=1))
    row, tonic = np.unravel_index(int(np.argmax(scores)), scores.shape)
    assert estimate_key(signal, cents)[0] == key_name(int(tonic), "major" if row == 0 else "minor")


def test_analysis_does_not_depend_on_the_chunk_size(y: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    audio = Audio(np.stack([y, y]), RATE)
    whole = analyze(audio, bpm_hint=110)
    monkeypatch.setattr(spectra, "CHUNK_VALUES", 1 << 17)
    monkeypatch.setattr(spectra, "CQT_CHUNK_S", 7.0)
    chunked = analyze(audio, bpm_hint=110)
    assert chunked.tempo_bpm == pytest.approx(whole.tempo_bpm, abs=1e-3)
    np.testing.assert_allclose(chunked.beats, whole.beats, atol=1e-4)
    assert (chunked.key, chunked.downbeat) == (whole.key, whole.downbeat)
    assert chunked.tuning_cents == pytest.approx(whole.tuning_cents, abs=0.01)
    assert chunked.tempo_confidence == pytest.approx(whole.tempo_confidence, abs=1e-4)
