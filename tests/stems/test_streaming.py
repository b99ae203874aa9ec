"""Audio read in blocks gives the samples the whole-file reads give (issue 22: bounded memory on long files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stems import streaming
from stems.audio import Audio, convert_audio, read_audio
from stems.errors import AudioInputError


def _noise(path: Path, rate: int, channels: int, seconds: float, subtype: str = "PCM_24") -> Path:
    rng = np.random.default_rng(rate + channels)
    sf.write(str(path), rng.uniform(-0.5, 0.5, (int(rate * seconds), channels)), rate, subtype=subtype)
    return path


@pytest.mark.parametrize(
    ("rate", "channels"), [(44_100, 2), (48_000, 2), (32_000, 1), (22_050, 1), (96_000, 6)]
)
def test_mono_signal_is_the_whole_files_downmix_and_resampling_bit_for_bit(
    tmp_path: Path, rate: int, channels: int
) -> None:
    path = _noise(tmp_path / "in.wav", rate, channels, 3.3)
    whole = convert_audio(read_audio(path), 22_050, 1).samples[0]
    with streaming.mono_signal(path, 22_050, block=7_000) as signal:  # blocks far smaller than the file
        assert signal.length == whole.size and signal.sample_rate == 22_050
        np.testing.assert_array_equal(signal.segment(0, signal.length), whole)
        np.testing.assert_array_equal(signal.segment(-5, 3), np.concatenate([np.zeros(5), whole[:3]]))
        tail = signal.segment(signal.length - 2, signal.length + 4)
        np.testing.assert_array_equal(tail, np.concatenate([whole[-2:], np.zeros(4)]))


def test_file_blocks_refuse_nan_like_read_audio(tmp_path: Path) -> None:
    x = np.zeros((5000, 2), dtype=np.float32)
    x[4000, 1] = np.nan
    sf.write(str(tmp_path / "nan.wav"), x, 8000, subtype="FLOAT")
    with pytest.raises(AudioInputError, match="NaN or inf"):
        list(streaming.file_blocks(tmp_path / "nan.wav", block=1024))


@pytest.mark.parametrize(
    ("start", "length"), [(0, 9000), (700, 9000), (-700, 9000), (500, 3000), (-9500, 100)]
)
def test_placed_blocks_pad_cut_and_fit_as_the_in_memory_render(start: int, length: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8000)).astype(np.float32)
    whole = np.pad(x, ((0, 0), (start, 0))) if start > 0 else x[:, -start:]
    expected = Audio(whole, 8000).fitted(length).samples
    blocks = (x[:, i : i + 1500] for i in range(0, 8000, 1500))
    got = np.concatenate(list(streaming.placed(blocks, 2, start, length)), axis=1)
    np.testing.assert_array_equal(got, expected)


def test_float_file_keeps_what_was_appended() -> None:
    values = streaming.FloatFile()
    values.append(np.arange(10, dtype=np.float32))
    values.append(np.arange(10, 15, dtype=np.float32))
    assert values.size == 15
    np.testing.assert_array_equal(values.read(8, 12), [8, 9, 10, 11])
    np.testing.assert_array_equal(values.read(13, 40), [13, 14])
    assert values.read(20, 30).size == 0
    values.close()


@pytest.mark.parametrize(
    ("module", "limit", "args"),
    [
        ("stems.conform.files", "MAX_ANALYSIS_S", ["analyze"]),
        ("stems.conform.files", "MAX_ANALYSIS_S", ["conform", "--bpm", "120", "-o", "{out}.wav"]),
        (
            "stems.transcription.transcriber",
            "MAX_TRANSCRIPTION_S",
            ["transcribe", "--instrument", "bass", "-o", "{out}.mid"],
        ),
    ],
)
def test_a_file_longer_than_a_command_takes_is_refused_before_decoding(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    module: str,
    limit: str,
    args: list[str],
) -> None:
    """Issue 22: what a command keeps grows with the file's length; past its limit it says so, exit 2."""
    import importlib

    from flows.cli import main

    path = _noise(tmp_path / "long.wav", 8000, 1, 90.0)
    monkeypatch.setattr(importlib.import_module(module), limit, 60.0)  # as if 90 s were hours

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded a file it refuses")

    monkeypatch.setattr("soundfile.SoundFile.read", no_decoding)
    command = [args[0], str(path), *(a.format(out=tmp_path / "out") for a in args[1:])]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert (
        "long.wav: lasts 1.5 minutes" in err
        and "at most 1 minute (" in err
        and "ffmpeg -i in.wav -t 60" in err
    )
    assert not list(tmp_path.glob("out*"))
