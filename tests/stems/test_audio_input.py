"""Audio files that lie (issue 11.3): headers are checked before decoding, only the used span is read."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import stems.audio
from flows.cli import main
from flows.pipeline import generation
from flows.schema import parse_arrangement
from mixing.loudness import measure
from mixing.master import Master, master_file
from stems.audio import Audio, convert_audio, read_audio
from stems.errors import AudioInputError
from stems.transcription.transcriber import transcribe_file


def _tone(seconds: float, rate: int = 44_100, channels: int = 2) -> np.ndarray:
    """A 440 Hz sine with 10 ms fades, shaped (samples, channels) as soundfile writes it."""
    n = round(seconds * rate)
    x = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(n) / rate)
    fade = min(n // 2, round(0.01 * rate))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[n - fade :] *= ramp[::-1]
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def _lying_wav(path: Path, claimed_rate: int) -> Path:
    """2 s of 44.1 kHz stereo whose canonical RIFF header claims ``claimed_rate`` (and a matching byte rate)."""
    sf.write(str(path), _tone(2.0), 44_100, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"fmt " and struct.unpack_from("<I", data, 24)[0] == 44_100
    block_align = struct.unpack_from("<H", data, 32)[0]
    struct.pack_into("<I", data, 24, claimed_rate)
    struct.pack_into("<I", data, 28, claimed_rate * block_align)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("rate", [1, 100, 2_000_000])
def test_read_audio_rejects_a_header_sample_rate_no_real_audio_has(tmp_path: Path, rate: int) -> None:
    path = _lying_wav(tmp_path / "lying.wav", rate)
    with pytest.raises(AudioInputError, match=rf"lying\.wav: sample rate {rate} Hz .*4000 to 768000 Hz"):
        read_audio(path)


def test_read_audio_rejects_too_many_channels_and_empty_files(tmp_path: Path) -> None:
    sf.write(str(tmp_path / "nine.wav"), _tone(0.5, channels=9), 44_100, subtype="PCM_16")
    with pytest.raises(AudioInputError, match=r"nine\.wav: has 9 channels; 1 to 8 are allowed"):
        read_audio(tmp_path / "nine.wav")
    sf.write(str(tmp_path / "empty.wav"), np.zeros((0, 2), np.float32), 44_100, subtype="PCM_16")
    with pytest.raises(AudioInputError, match=r"empty\.wav: holds no audio"):
        read_audio(tmp_path / "empty.wav")


def test_read_audio_refuses_a_decoded_size_over_the_limit_but_reads_a_span_under_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "long.wav"
    sf.write(str(path), _tone(2.0, rate=8_000, channels=1), 8_000, subtype="PCM_16")
    monkeypatch.setattr(stems.audio, "MAX_DECODED_BYTES", 8_000 * 4)  # 1 s of 8 kHz mono float32
    with pytest.raises(
        AudioInputError, match=r"long\.wav: decoding it would take .* \(16000 samples x 1 chan"
    ):
        read_audio(path)
    assert read_audio(path, max_seconds=0.5).num_samples == 4_000


def test_read_audio_reads_only_the_span_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "ramp.wav"
    rate = 8_000
    ramp = (np.arange(10 * rate) % 30_000 / 32_768.0).astype(np.float32)[:, None]
    sf.write(str(path), ramp, rate, subtype="PCM_16")
    head = read_audio(path, max_seconds=2.5)
    np.testing.assert_array_equal(head.samples[0], ramp[: round(2.5 * rate), 0])
    tail = read_audio(path, max_seconds=2.5, tail=True)  # from a whole second: the last 3 s
    np.testing.assert_array_equal(tail.samples[0], ramp[7 * rate :, 0])
    assert read_audio(path, max_seconds=60).num_samples == 10 * rate


def test_a_tail_read_converts_to_the_same_samples_as_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "take.wav"
    rng = np.random.default_rng(3)
    sf.write(str(path), rng.normal(0, 0.1, (44_100 * 5 + 123, 2)).astype(np.float32), 44_100, subtype="FLOAT")
    whole = convert_audio(read_audio(path), 32_000, 1).samples
    tail = convert_audio(read_audio(path, max_seconds=2.0, tail=True), 32_000, 1).samples
    used = 32_000 * 2  # the part a stage takes, away from the tail's first (zero-padded) samples
    np.testing.assert_allclose(tail[:, -used:], whole[:, -used:], atol=1e-6)


def test_transcribe_rejects_a_1_hz_header_fast_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _lying_wav(tmp_path / "bad.wav", 1)
    with pytest.raises(AudioInputError, match="sample rate 1 Hz"):
        transcribe_file(path, "bass", tmp_path / "bad.mid")
    assert main(["transcribe", str(path), "--instrument", "bass"]) == 2
    err = capsys.readouterr().err
    assert "bad.wav: sample rate 1 Hz" in err and "Traceback" not in err
    assert not (tmp_path / "bad.mid").exists()


def test_master_rejects_a_1_hz_header_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _lying_wav(tmp_path / "bad.wav", 1)
    with pytest.raises(AudioInputError, match="sample rate 1 Hz"):
        master_file(path, tmp_path / "out.wav")
    with pytest.raises(AudioInputError, match="sample rate 1 Hz"):
        Master().master(Audio(_tone(2.0).T, 1))
    assert main(["master", str(path), "-o", str(tmp_path / "out.wav")]) == 2
    err = capsys.readouterr().err
    assert "bad.wav: sample rate 1 Hz" in err and "IndexError" not in err
    assert not (tmp_path / "out.wav").exists()


def test_master_folds_5_1_down_to_stereo_by_bs775(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    x = (rng.normal(0, 0.05, (6, 3 * 48_000)) * np.array([[1], [1], [1], [4], [1], [1]])).astype(np.float32)
    result = Master().master(Audio(x, 48_000))
    assert result.audio.channels == 2
    h = np.sqrt(0.5)
    left = x[0] + h * x[2] + h * x[4]  # LFE (x[3]) left out
    np.testing.assert_allclose(
        np.corrcoef(result.audio.samples[0], left)[0, 1], 1.0, atol=1e-3
    )  # the limiter only scales it
    assert abs((result.report.integrated_lufs or 0.0) - -14.0) <= 0.1
    sf.write(str(tmp_path / "six.wav"), x.T, 48_000, subtype="FLOAT")
    assert master_file(tmp_path / "six.wav", tmp_path / "out.wav").audio.channels == 2


@pytest.mark.parametrize("channels", [7, 8])
def test_master_on_more_channels_is_a_clear_error_not_an_index_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], channels: int
) -> None:
    x = _tone(2.0, channels=channels)
    with pytest.raises(AudioInputError, match=rf"has {channels} channels; mastering takes mono to 5"):
        Master().master(Audio(x.T, 44_100))
    path = tmp_path / "wide.wav"
    sf.write(str(path), x, 44_100, subtype="PCM_16")
    assert main(["master", str(path), "-o", str(tmp_path / "out.wav")]) == 2
    assert f"wide.wav: has {channels} channels" in capsys.readouterr().err


@pytest.mark.parametrize("samples", [1, 17_639])
def test_master_of_audio_shorter_than_one_gating_block_is_too_short_to_measure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], samples: int
) -> None:
    x = np.full((samples, 1), 0.5, np.float32)
    with pytest.raises(AudioInputError, match=rf"too short to measure .*received {samples} samples at 44100"):
        Master().master(Audio(x.T, 44_100))
    path = tmp_path / "blip.wav"
    sf.write(str(path), x, 44_100, subtype="PCM_16")
    assert main(["master", str(path), "-o", str(tmp_path / "out.wav")]) == 2
    err = capsys.readouterr().err
    assert "blip.wav: too short to measure (BS.1770 needs at least one 400 ms block)" in err
    assert "-14.0" not in err and not (tmp_path / "out.wav").exists()
    one_block = Master().master(Audio(_tone(0.4, channels=1).T, 44_100))  # 17640 samples: just enough
    assert abs((measure(one_block.audio).integrated_lufs or 0.0) - -14.0) <= 0.1


def _long_wav(path: Path, minutes: float, rate: int = 8_000) -> Path:
    """A long mono sine written a minute at a time (the test never holds the whole file)."""
    chunk = _tone(60.0, rate=rate, channels=1)
    with sf.SoundFile(str(path), "w", rate, 1, "PCM_16") as handle:
        for _ in range(round(minutes)):
            handle.write(chunk)
    return path


def _song(tmp_path: Path, stem_extra: str, model: str = "debug-melody", duration: float = 6) -> Path:
    path = tmp_path / "song.yaml"
    path.write_text(
        f"title: T\nbpm: 100\nkey: C major\nduration: {duration}\nmodel: {model}\n"
        f"stems:\n  - {{name: keys, prompt: keys{stem_extra}}}\n"
    )
    return path


def test_a_long_melody_is_read_only_as_far_as_it_is_used(tmp_path: Path) -> None:
    melody = _long_wav(tmp_path / "theme.wav", minutes=20)
    song = _song(tmp_path, f", melody: {melody}")
    arrangement = parse_arrangement(song.read_text(), song)
    tracemalloc.start()
    try:
        (request,) = generation.build_requests(arrangement, ["keys"], None, True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert request.melody is not None
    assert 36.0 <= request.melody.duration <= 6 + 30 + 1 + 1e-9  # 6 s stem + one 30 s chroma chunk + margin
    assert peak < 4 * 2**20, f"reading 37 s of 8 kHz mono took {peak / 2**20:.1f} MiB (the file: 38 MiB)"


def test_a_long_continuation_is_read_only_from_its_tail(tmp_path: Path) -> None:
    take = _long_wav(tmp_path / "take.wav", minutes=20)
    song = _song(tmp_path, f", continuation: {take}", model="debug")
    arrangement = parse_arrangement(song.read_text(), song)
    (request,) = generation.build_requests(arrangement, ["keys"], None, False)
    assert request.continuation is not None
    # the longest prompt (30 s) + margin, from a whole second of the file
    assert 31.0 <= request.continuation.duration <= 32.0
    last_second = sf.read(str(take), start=-8_000, dtype="float32")[0]
    np.testing.assert_array_equal(request.continuation.samples[0, -8_000:], last_second)


def test_render_refuses_a_lying_melody_before_any_model_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import stems.musicgen.generator

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded before the melody was checked")

    monkeypatch.setattr(stems.musicgen.generator, "get_generator", no_model)
    melody = _lying_wav(tmp_path / "theme.wav", 1)
    song = _song(tmp_path, f", melody: {melody}")
    assert main(["render", str(song), "--dry-run"]) == 2
    assert "theme.wav: sample rate 1 Hz" in capsys.readouterr().err
    assert main(["render", str(song), "-o", str(tmp_path / "out")]) == 2
    assert "theme.wav: sample rate 1 Hz" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
