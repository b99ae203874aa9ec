"""In-project chroma against transformers' MusicgenMelodyFeatureExtractor, and on synthetic chords.

How the match is verified: the real ``MusicgenMelodyFeatureExtractor`` class is imported and run. Its
only torchaudio use is ``torchaudio.transforms.Spectrogram(n_fft, win_length=n_fft, hop_length, power=2,
center=True, pad=0, normalized=True)``; torchaudio is not installed, so the test gives the module a
stand-in computing that transform from its documented definition (``torch.stft`` with a periodic Hann
window, reflect padding, divided by ``sqrt(sum(window**2))``, magnitude squared). Everything else —
padding/truncation to 30 s, the chroma filter bank, the inf-norm, the one-hot argmax — is the
extractor's own code, and its ``input_features`` must equal ``stems.musicgen.chroma.melody_chroma`` exactly.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from stems.audio import Audio
from stems.musicgen.chroma import (
    HOP,
    N_FFT,
    chroma_filter_bank,
    chroma_frames,
    chroma_raw,
    melody_chroma,
    one_hot_chroma,
    pitch_classes,
)

SR = 32_000


def _note(freq: float, seconds: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return np.sin(2 * np.pi * freq * t)


def _midi_hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _chord(notes: list[int], seconds: float = 3.0) -> np.ndarray:
    return (sum(_note(_midi_hz(n), seconds) for n in notes) / len(notes)).astype(np.float32)


class _Spectrogram:
    """torchaudio.transforms.Spectrogram(normalized=True, power=2, center=True) from its definition."""

    def __init__(
        self,
        n_fft: int,
        win_length: int,
        hop_length: int,
        power: float,
        center: bool,
        pad: int,
        normalized: bool,
    ) -> None:
        import torch

        assert power == 2 and center and pad == 0 and normalized and win_length == n_fft
        self.n_fft, self.hop, self.window = n_fft, hop_length, torch.hann_window(win_length)

    def __call__(self, x):  # type: ignore[no-untyped-def]
        import torch

        spec = torch.stft(
            x, self.n_fft, self.hop, window=self.window, center=True, pad_mode="reflect", return_complex=True
        )
        return (spec / self.window.pow(2).sum().sqrt()).abs().pow(2)


@pytest.fixture(scope="module")
def extractor():  # type: ignore[no-untyped-def]
    import transformers.models.musicgen_melody.feature_extraction_musicgen_melody as fe

    fe.torchaudio = types.SimpleNamespace(transforms=types.SimpleNamespace(Spectrogram=_Spectrogram))
    yield fe.MusicgenMelodyFeatureExtractor()
    del fe.torchaudio


def test_filter_bank_equals_transformers_and_librosa_port() -> None:
    from transformers.audio_utils import chroma_filter_bank as reference

    ours = chroma_filter_bank(SR, N_FFT)
    theirs = reference(sampling_rate=SR, num_frequency_bins=N_FFT, tuning=0, num_chroma=12)
    assert ours.shape == (12, N_FFT // 2 + 1)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "seconds, kind",
    [(3.0, "noise"), (3.0, "chord"), (0.3, "chord"), (7.77, "melody"), (31.5, "noise")],
)
def test_matches_transformers_feature_extractor(extractor, seconds: float, kind: str) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(int(seconds * 100))
    n = int(seconds * SR)
    if kind == "noise":
        x = rng.standard_normal(n).astype(np.float32) * 0.3
    elif kind == "chord":
        x = _chord([60, 64, 67], seconds)
    else:  # a stepwise melody: one note per half second
        notes = rng.integers(55, 80, size=int(np.ceil(seconds * 2)))
        x = np.concatenate([_note(_midi_hz(int(m)), 0.5) for m in notes])[:n].astype(np.float32)
    theirs = extractor(x, sampling_rate=SR, return_tensors="np")["input_features"][0]
    ours = melody_chroma(Audio(x[None], SR))
    assert ours.shape == theirs.shape
    assert ours.shape[0] == chroma_frames(min(seconds, 30.0)) or seconds < N_FFT / SR
    mismatched = int((ours.argmax(-1) != theirs.argmax(-1)).sum())
    assert mismatched == 0, f"{mismatched} of {len(ours)} frames pick another pitch class"
    np.testing.assert_array_equal(ours, theirs)


def test_raw_chroma_matches_torch_stft_pipeline(extractor) -> None:  # type: ignore[no-untyped-def]
    import torch

    x = _chord([57, 60, 64], 2.0) + 0.01 * np.random.default_rng(1).standard_normal(2 * SR).astype(np.float32)
    spec = _Spectrogram(N_FFT, N_FFT, HOP, 2, True, 0, True)(torch.from_numpy(x.astype(np.float32)))
    raw = torch.einsum("cf,ft->ct", extractor.chroma_filters, spec)
    expected = torch.nn.functional.normalize(raw, p=float("inf"), dim=0, eps=1e-6).T.numpy()
    np.testing.assert_allclose(chroma_raw(x), expected, rtol=0, atol=2e-4)


@pytest.mark.parametrize(
    "notes, classes",
    [
        ([60, 64, 67], {0, 4, 7}),
        ([57, 60, 64], {9, 0, 4}),
        ([62, 66, 69], {2, 6, 9}),
        ([55, 59, 62, 65], {7, 11, 2, 5}),
    ],
)
def test_chords_light_up_their_pitch_classes(notes: list[int], classes: set[int]) -> None:
    raw = chroma_raw(_chord(notes))
    assert pitch_classes(raw, threshold=0.5) == classes
    others = [c for c in range(12) if c not in classes]
    assert raw.mean(axis=0)[others].max() < 0.35


def test_single_note_is_one_hot_on_its_class_everywhere() -> None:
    onehot = melody_chroma(Audio(_note(440.0, 2.0).astype(np.float32)[None], SR))
    assert onehot.shape == (chroma_frames(2.0), 12)
    np.testing.assert_array_equal(onehot.sum(axis=1), 1.0)
    assert set(onehot.argmax(axis=1)) == {9}  # A


def test_other_rates_and_stereo_are_converted_first() -> None:
    mono = _note(_midi_hz(64), 2.0, 44_100).astype(np.float32)
    stereo = Audio(np.stack([mono, mono]), 44_100)
    chroma = melody_chroma(stereo)
    assert chroma.shape == (chroma_frames(2.0), 12)
    assert set(chroma.argmax(axis=1)) == {4}  # E
    assert stereo.samples.shape == (2, 88_200)  # input untouched


def test_one_hot_is_argmax() -> None:
    raw = np.array([[0.1, 0.9, 0.2] + [0.0] * 9, [1.0] + [0.5] * 11], dtype=np.float32)
    np.testing.assert_array_equal(one_hot_chroma(raw).argmax(axis=1), [1, 0])
    assert one_hot_chroma(raw).sum() == 2.0
