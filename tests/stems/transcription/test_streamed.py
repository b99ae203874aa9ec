"""``transcribe`` reads a file a part at a time (issue 22: 20 minutes of drums took 5.7 GB) and finds the
notes the whole signal in memory gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stems import streaming
from stems.audio import Audio, convert_audio, read_audio, write_wav
from stems.transcription import drums
from stems.transcription.transcriber import get_transcriber, transcribe_file

RATE = 44_100


def _kit(seconds: float = 12.0) -> Audio:
    """Kick on the beat, a noise hat between, at 120 bpm, stereo."""
    rng = np.random.default_rng(2)
    y = np.zeros(int(seconds * RATE), dtype=np.float32)
    for k, start in enumerate(range(0, y.size - RATE // 4, RATE // 4)):
        n = np.arange(RATE // 8)
        if k % 2 == 0:
            y[start : start + n.size] += 0.8 * np.sin(2 * np.pi * 60 * n / RATE) * np.exp(-n / 1500)
        else:
            y[start : start + n.size] += 0.2 * rng.standard_normal(n.size) * np.exp(-n / 300)
    return Audio(np.stack([y, 0.9 * y]), RATE)


def _melody(seconds: float = 10.0) -> Audio:
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 60 + 2 * (t // 0.5 % 5)
    y = 0.3 * np.sin(2 * np.pi * np.cumsum(440 * 2 ** ((pitch - 69) / 12)) / RATE) * (np.mod(t, 0.5) < 0.4)
    return Audio(np.stack([y, y]).astype(np.float32), RATE)


def test_drum_band_power_in_chunks_is_scipys_whole_stft(monkeypatch: pytest.MonkeyPatch) -> None:
    from scipy.signal import stft

    audio = _kit()
    mono = convert_audio(audio, drums.SAMPLE_RATE, 1).samples[0]
    freqs, _, spec = stft(
        mono, fs=drums.SAMPLE_RATE, nperseg=drums.N_FFT, noverlap=drums.N_FFT - drums.HOP, boundary="even"
    )
    power = np.abs(spec) ** 2
    whole = np.stack([power[(freqs >= lo) & (freqs < hi)].sum(axis=0) for lo, hi in drums.BANDS])
    monkeypatch.setattr(drums, "CHUNK_FRAMES", 97)  # 22 chunks
    np.testing.assert_allclose(drums.band_power(audio), whole, rtol=1e-5, atol=1e-7 * float(whole.max()))


@pytest.mark.parametrize(("make", "instrument"), [(_kit, "drums"), (_melody, "lead")])
def test_a_file_is_transcribed_as_its_audio_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: object, instrument: str
) -> None:
    path = tmp_path / "stem.wav"
    write_wav(path, make())  # type: ignore[operator]
    whole = get_transcriber().transcribe(read_audio(path), instrument, "stem")
    monkeypatch.setattr(streaming, "BLOCK_FRAMES", 20_000)  # the file read in many blocks
    monkeypatch.setattr(drums, "CHUNK_FRAMES", 300)
    track = transcribe_file(path, instrument, tmp_path / "stem.mid")
    assert len(track.notes) == len(whole.notes) > 10
    for got, want in zip(track.notes, whole.notes):
        assert (got.pitch, got.velocity) == (want.pitch, want.velocity)
        assert got.start == pytest.approx(want.start, abs=1e-6) and got.end == pytest.approx(
            want.end, abs=1e-6
        )
