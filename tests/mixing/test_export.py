"""Export: WAV/FLAC/MP3 read back, exact lengths, resampling, tags, zips, atomic writes, ffmpeg errors."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixing import export as export_mod
from mixing import ffmpeg as ffmpeg_mod
from mixing.export import (
    export_audio,
    export_stems,
    ffmpeg_loudness,
    format_for_path,
    load_audio,
    require_ffmpeg,
    zip_files,
)
from mixing.ffmpeg import decode, parse_ebur128_summary
from stems.audio import Audio, write_wav
from stems.errors import AudioInputError, UserInputError
from tests.support.probe import ffprobe, ffprobe_tags

RATE = 32_000
TAGS = {"title": "Night Drive", "artist": "musicmaker", "album": "Demo", "track": "3"}


def tone(seconds: float = 2.0, freq: float = 1000.0, amp: float = 0.5, extra: int = 0) -> Audio:
    t = np.arange(int(seconds * RATE) + extra) / RATE
    left = amp * np.sin(2 * np.pi * freq * t)
    right = amp * np.sin(2 * np.pi * freq * 1.5 * t)
    return Audio(np.stack([left, right]).astype(np.float32), RATE)


@pytest.mark.parametrize(
    ("fmt", "depth", "subtype", "tolerance"),
    [
        ("wav", 16, "PCM_16", 2.5 / 32768),  # TPDF dither: at most 1 LSB of noise plus rounding
        ("wav", 24, "PCM_24", 1.0 / 2**23),
        ("wav", "float", "FLOAT", 0.0),
        ("flac", 16, "PCM_16", 2.5 / 32768),
        ("flac", 24, "PCM_24", 1.0 / 2**23),
    ],
)
def test_lossless_round_trip(
    fmt: str, depth: int | str, subtype: str, tolerance: float, tmp_path: Path
) -> None:
    audio = tone(extra=7)
    path = export_audio(audio, tmp_path / f"x.{fmt}", fmt=fmt, bit_depth=depth)
    info = sf.info(str(path))
    assert (info.subtype, info.samplerate, info.channels, info.frames) == (
        subtype,
        RATE,
        2,
        audio.num_samples,
    )
    back, _ = sf.read(str(path), dtype="float64", always_2d=True)
    assert np.abs(back.T - audio.samples).max() <= tolerance + 1e-9


def test_sixteen_bit_is_dithered_and_deterministic(tmp_path: Path) -> None:
    quiet = Audio(np.full((1, RATE), 0.3 / 32768, np.float32), RATE)  # 0.3 LSB: truncation would give zeros
    a = export_audio(quiet, tmp_path / "a.wav", bit_depth=16)
    b = export_audio(quiet, tmp_path / "b.wav", bit_depth=16)
    x, _ = sf.read(str(a), dtype="int16")
    assert x.astype(float).mean() == pytest.approx(0.3, abs=0.05)  # dither keeps the average level
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_resampled_export_has_exact_length_and_pitch(rate: int, tmp_path: Path) -> None:
    audio = tone(seconds=1.0, extra=3)
    path = export_audio(audio, tmp_path / "r.flac", fmt="flac", sample_rate=rate)
    back, got_rate = sf.read(str(path), dtype="float64", always_2d=True)
    assert got_rate == rate
    assert back.shape[0] == round(audio.num_samples * rate / RATE)
    spectrum = np.abs(np.fft.rfft(back[2000:-2000, 0] * np.hanning(back.shape[0] - 4000)))
    peak_hz = np.argmax(spectrum) * rate / (back.shape[0] - 4000)
    assert peak_hz == pytest.approx(1000.0, abs=2.0)
    assert np.abs(back[2000:-2000, 0]).max() == pytest.approx(0.5, abs=0.005)


def test_wav_and_flac_tags(tmp_path: Path) -> None:
    for fmt in ("wav", "flac"):
        path = export_audio(tone(0.5), tmp_path / f"t.{fmt}", fmt=fmt, tags=TAGS)
        with sf.SoundFile(str(path)) as f:
            assert (f.title, f.artist, f.album) == ("Night Drive", "musicmaker", "Demo")


@pytest.mark.parametrize("bitrate", ["320k", "V0"])
def test_mp3_with_id3_tags(bitrate: str, tmp_path: Path) -> None:
    audio = tone(seconds=2.0, extra=100)  # 64100 samples: 64100 % 1152 = 740, see the length note
    path = export_audio(audio, tmp_path / "song.mp3", fmt="mp3", bitrate=bitrate, tags=TAGS)
    tags = ffprobe_tags(path)
    assert (tags["title"], tags["artist"], tags["album"], tags["track"]) == (
        "Night Drive",
        "musicmaker",
        "Demo",
        "3",
    )
    decoded = decode(path)
    assert decoded.sample_rate == RATE and decoded.num_samples == audio.num_samples  # gapless header honoured
    err = decoded.samples - audio.samples
    snr = 10 * np.log10(np.mean(audio.samples**2) / np.mean(err**2))
    assert snr > 25.0


def test_mp3_at_48k_and_bitrate_is_cbr(tmp_path: Path) -> None:
    path = export_audio(tone(seconds=2.0), tmp_path / "s.mp3", fmt="mp3", sample_rate=48_000, bitrate="192k")
    stream = ffprobe(path, "streams")[0]
    assert stream["sample_rate"] == "48000" and stream["bit_rate"] == "192000"


def test_load_audio_reads_mp3(tmp_path: Path) -> None:
    path = export_audio(tone(1.0), tmp_path / "s.mp3", fmt="mp3")
    audio = load_audio(path)
    assert audio.channels == 2 and abs(audio.num_samples - RATE) <= 1152


def test_load_audio_falls_back_to_ffmpeg(tmp_path: Path) -> None:
    wav = tmp_path / "src.wav"
    write_wav(wav, tone(1.0))
    m4a = tmp_path / "src.m4a"  # AAC in MP4: libsndfile cannot read it
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    audio = load_audio(m4a)
    assert audio.sample_rate == RATE and audio.channels == 2
    assert abs(audio.num_samples - RATE) <= 2048
    with pytest.raises(AudioInputError, match="ffmpeg failed"):
        (tmp_path / "junk.m4a").write_bytes(b"junk")
        load_audio(tmp_path / "junk.m4a")


def test_export_stems_and_zip(tmp_path: Path) -> None:
    stems = {"drums": tone(0.3), "bass": tone(0.3, freq=100)}
    paths = export_stems(stems, tmp_path / "stems", fmt="flac", bit_depth=16, zip_path=tmp_path / "stems.zip")
    assert [p.name for p in paths] == ["drums.flac", "bass.flac", "stems.zip"]
    with zipfile.ZipFile(paths[-1]) as zf:
        assert sorted(zf.namelist()) == ["bass.flac", "drums.flac"]
    with pytest.raises(UserInputError, match="cannot be file names"):
        export_stems({"../evil": tone(0.1)}, tmp_path)


def test_zip_files(tmp_path: Path) -> None:
    a = export_audio(tone(0.2), tmp_path / "drums.wav")
    b = export_audio(tone(0.2), tmp_path / "sub" / "bass.flac", fmt="flac")
    out = zip_files([a, b], tmp_path / "stems.zip")
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["bass.flac", "drums.wav"]
        assert zf.read("drums.wav") == a.read_bytes()
    with pytest.raises(UserInputError, match="missing"):
        zip_files([a, tmp_path / "nope.wav"], tmp_path / "x.zip")
    with pytest.raises(UserInputError, match="same name"):
        zip_files([a, a], tmp_path / "y.zip")
    assert not (tmp_path / "x.zip").exists() and not (tmp_path / "y.zip").exists()


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_mod, "_write_soundfile", explode)
    with pytest.raises(RuntimeError):
        export_audio(tone(0.2), tmp_path / "mix.wav")
    assert list(tmp_path.iterdir()) == []


def test_missing_ffmpeg_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ffmpeg_mod.shutil, "which", lambda name: None)
    with pytest.raises(UserInputError, match="apt-get install ffmpeg") as info:
        require_ffmpeg()
    assert "brew install ffmpeg" in str(info.value)
    with pytest.raises(UserInputError, match="ffmpeg was not found"):
        export_audio(tone(0.2), tmp_path / "x.mp3", fmt="mp3")
    assert not (tmp_path / "x.mp3").exists()


def test_require_ffmpeg_finds_it() -> None:
    assert require_ffmpeg() == shutil.which("ffmpeg")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmt": "ogg"}, "format 'ogg' is not supported"),
        ({"fmt": "flac", "bit_depth": "float"}, "flac cannot be written with bit depth 'float'"),
        ({"bit_depth": 32}, "bit depth 32"),
        ({"fmt": "mp3", "bitrate": "999k"}, "bitrate '999k'"),
        ({"tags": {"composer": "x"}}, "unknown tag"),
        ({"sample_rate": 1000}, "sample rate 1000"),
    ],
)
def test_bad_options(kwargs: dict[str, object], message: str, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=message):
        export_audio(tone(0.2), tmp_path / "x.out", **kwargs)  # type: ignore[arg-type]


def test_nan_and_empty_are_refused(tmp_path: Path) -> None:
    x = tone(0.2).samples.copy()
    x[0, 3] = np.inf
    with pytest.raises(AudioInputError, match="NaN or inf"):
        export_audio(Audio(x, RATE), tmp_path / "x.wav")
    with pytest.raises(AudioInputError, match="0 samples"):
        export_audio(Audio(np.zeros((2, 0), np.float32), RATE), tmp_path / "y.wav")


def test_format_for_path() -> None:
    assert [format_for_path(Path(p)) for p in ("a.WAV", "b.flac", "c.mp3")] == ["wav", "flac", "mp3"]
    with pytest.raises(UserInputError, match=r"\.ogg"):
        format_for_path(Path("d.ogg"))


def test_ffmpeg_loudness_of_a_known_tone(tmp_path: Path) -> None:
    t = np.arange(48_000 * 10) / 48_000
    x = (10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    write_wav(tmp_path / "t.wav", Audio(np.stack([x, x]), 48_000))
    measured = ffmpeg_loudness(tmp_path / "t.wav")
    assert measured == pytest.approx(
        {"integrated_lufs": -23.0, "loudness_range_lu": 0.0, "true_peak_dbtp": -23.0}, abs=0.11
    )


def test_ffmpeg_loudness_of_silence_and_errors(tmp_path: Path) -> None:
    write_wav(tmp_path / "s.wav", Audio(np.zeros((2, 48_000), np.float32), 48_000))
    measured = ffmpeg_loudness(tmp_path / "s.wav")
    assert measured["integrated_lufs"] == -70.0 and measured["true_peak_dbtp"] == -np.inf
    with pytest.raises(AudioInputError, match="not found"):
        ffmpeg_loudness(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioInputError, match="ffmpeg failed"):
        ffmpeg_loudness(tmp_path / "junk.wav")


def test_parse_summary() -> None:
    text = """[Parsed_ebur128_0 @ 0x1] Summary:

  Integrated loudness:
    I:         -14.1 LUFS
    Threshold: -24.3 LUFS

  Loudness range:
    LRA:         6.2 LU
    Threshold:  -34.2 LUFS

  True peak:
    Peak:       -1.3 dBFS"""
    assert parse_ebur128_summary(text) == {
        "integrated_lufs": -14.1,
        "loudness_range_lu": 6.2,
        "true_peak_dbtp": -1.3,
    }
    with pytest.raises(AudioInputError, match="no ebur128 Summary"):
        parse_ebur128_summary("nothing here")


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3"])
def test_a_provenance_comment_reads_back_whole_in_every_format(fmt: str, tmp_path: Path) -> None:
    """The render's provenance note (which models, which licences) goes into the comment tag: it must come back
    whole (long, non-ASCII) from WAV's INFO chunk, FLAC's Vorbis comments and MP3's ID3 COMM frame."""
    note = "Made with musicmaker from models " + ", ".join(
        f"modèle-{i} (generation, CC-BY-NC-4.0)" for i in range(40)
    )
    path = export_audio(tone(0.5), tmp_path / f"p.{fmt}", fmt=fmt, tags={**TAGS, "comment": note})
    tags = ffprobe_tags(path)
    assert tags["comment"] == note and len(note) > 1000
    assert tags["title"] == "Night Drive"
