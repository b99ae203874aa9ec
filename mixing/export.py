"""Export: WAV (16/24-bit, float), FLAC (16/24-bit), MP3 (ffmpeg's LAME), stem zips.

Every file is written to a temporary name in its folder and moved into place when complete
(``stems.audio.AtomicWriter``), so a killed export never leaves a half-written file under the real name.
Resampling goes through ``stems.audio.resample`` and the length is made exact:
``round(samples * new_rate / old_rate)``.

Everything is written a block at a time (:func:`export_file` reads a float WAV in blocks, so a long master
or conformed stem is never held whole), except 16-bit, whose dither is drawn over the whole signal at once.
MP3: 32-bit integers go to a temporary WAV and ffmpeg encodes it with the arguments pydub used to give it.

MP3 lengths: ffmpeg writes LAME's gapless header (encoder delay and padding), so decoders that honour it
(ffmpeg, libsndfile/mpg123) return the exact length, except when ``samples % 1152`` is 1..46: then LAME's
last frame cannot carry the padding and decoders return up to 46 extra samples of silence (<= 1.5 ms).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from mixing.ffmpeg import decode, ffmpeg_loudness, require_ffmpeg
from mixing.formats import bitrate_problem, format_problem, vbr_quality
from stems.audio import AtomicWriter, Audio, check_finite, open_sound_file, read_audio, resample
from stems.errors import AudioInputError, UserInputError

__all__ = [
    "export_audio",
    "export_file",
    "export_stems",
    "ffmpeg_loudness",
    "format_for_path",
    "load_audio",
    "require_ffmpeg",
    "zip_files",
]

log = logging.getLogger(__name__)

_SUBTYPES: dict[int | str, str] = {16: "PCM_16", 24: "PCM_24", "float": "FLOAT"}
_SUFFIXES = {".wav": "wav", ".wave": "wav", ".flac": "flac", ".mp3": "mp3"}
# Tag names we accept -> libsndfile's names (WAV INFO chunk / FLAC Vorbis comments); ffmpeg takes ours as is.
TAGS = {
    "title": "title",
    "artist": "artist",
    "album": "album",
    "track": "tracknumber",
    "date": "date",
    "genre": "genre",
    "comment": "comment",
}
_DITHER_SEED = 0x5EED  # fixed: the same render exports the same bytes


def format_for_path(path: Path) -> str:
    """Export format from a file suffix (.wav, .flac, .mp3)."""
    fmt = _SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise UserInputError(f"{path}: unknown output suffix {Path(path).suffix!r}; use .wav, .flac or .mp3")
    return fmt


def load_audio(path: Path) -> Audio:
    """Read WAV/FLAC/OGG/MP3 with libsndfile, anything else ffmpeg can decode through ffmpeg."""
    try:
        return read_audio(path)
    except AudioInputError:
        if not Path(path).is_file():
            raise
        log.info("%s: libsndfile cannot read it; decoding with ffmpeg", path)
        return decode(Path(path))


def _check_options(fmt: str, bit_depth: int | str, bitrate: str, tags: Mapping[str, str] | None) -> None:
    problem = format_problem(fmt, bit_depth) or (bitrate_problem(bitrate) if fmt == "mp3" else None)
    if problem:
        raise UserInputError(problem)
    unknown = sorted(set(tags or {}) - set(TAGS))
    if unknown:
        raise UserInputError(f"unknown tag(s) {unknown}; allowed tags are {', '.join(TAGS)}")


def _resampled(audio: Audio, sample_rate: int | None) -> Audio:
    if sample_rate is None or sample_rate == audio.sample_rate:
        return audio
    if not (isinstance(sample_rate, int) and 8_000 <= sample_rate <= 192_000):
        raise UserInputError(
            f"export sample rate {sample_rate!r} is not valid; use 8000..192000 (e.g. 44100, 48000)"
        )
    length = exact_length(audio.num_samples, audio.sample_rate, sample_rate)
    out = resample(audio.samples, audio.sample_rate, sample_rate)[:, :length]
    if out.shape[1] < length:
        out = np.pad(out, ((0, 0), (0, length - out.shape[1])))
    return Audio(np.ascontiguousarray(out), sample_rate)


def _clipped(samples: np.ndarray, name: str) -> np.ndarray:
    over = int(np.count_nonzero(np.abs(samples) > 1.0))
    if over:
        log.warning(
            "%s: %d samples beyond full scale were clipped (master before a fixed-point export)", name, over
        )
    return np.clip(samples, -1.0, 1.0)


def _quantised_16(samples: np.ndarray, name: str) -> np.ndarray:
    """16-bit integers with TPDF dither of +-1 LSB (the standard choice: error independent of the signal)."""
    rng = np.random.default_rng(_DITHER_SEED)
    tpdf = rng.random(samples.shape, dtype=np.float32) - rng.random(samples.shape, dtype=np.float32)
    # float32 is exact enough here: at |x| <= 32768 its resolution is 1/256 LSB.
    scaled = _clipped(samples, name) * np.float32(32767.0) + tpdf
    return np.clip(np.rint(scaled, out=scaled), -32768, 32767, out=scaled).astype(np.int16)


def _encoded(samples: np.ndarray, bit_depth: int | str, name: str) -> np.ndarray:
    """Samples as the writer takes them: dithered 16-bit integers, clipped floats for 24 bits, or as is."""
    if bit_depth == 16:
        return _quantised_16(samples, name)
    if bit_depth == 24:  # below -140 dBFS, dither would be inaudible; libsndfile scales floats to 24 bits
        return _clipped(samples, name)
    return samples


def _write_soundfile(
    blocks: Iterable[np.ndarray],
    rate: int,
    channels: int,
    tmp: Path,
    fmt: str,
    bit_depth: int | str,
    tags: Mapping[str, str],
) -> None:
    with open_sound_file(tmp, rate, channels, _SUBTYPES[bit_depth], fmt.upper()) as f:
        for key, value in tags.items():
            if str(value):  # libsndfile refuses an empty tag
                setattr(f, TAGS[key], str(value))
        for samples in blocks:
            f.write(np.ascontiguousarray(_encoded(samples, bit_depth, tmp.name).T))


def _int32(samples: np.ndarray, name: str) -> np.ndarray:
    """32-bit integers into the encoder: no dither/requantisation before LAME's own quantiser."""
    return np.round(_clipped(samples, name).astype(np.float64) * (2**31 - 1)).astype("<i4")


def _write_mp3(
    blocks: Iterable[np.ndarray], rate: int, channels: int, tmp: Path, bitrate: str, tags: Mapping[str, str]
) -> None:
    vbr = vbr_quality(bitrate)
    rate_args = ["-q:a", str(vbr)] if vbr is not None else ["-b:a", bitrate]
    tag_args = [a for k, v in tags.items() for a in ("-metadata", f"{k}={v}")]
    tag_args += ["-id3v2_version", "3"] if tags else []
    with tempfile.TemporaryDirectory(prefix="musicmaker-mp3-") as folder:
        wav = Path(folder, "pcm.wav")
        with open_sound_file(wav, rate, channels, "PCM_32") as f:
            for samples in blocks:
                f.write(np.ascontiguousarray(_int32(samples, tmp.name).T))
        command = [require_ffmpeg(), "-y", "-f", "wav", "-i", str(wav), "-acodec", "libmp3lame"]
        done = subprocess.run(
            [*command, *rate_args, *tag_args, "-f", "mp3", str(tmp)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{tmp.name}: ffmpeg failed to encode MP3 (exit {done.returncode}): {tail}")


def _write(
    blocks: Iterable[np.ndarray],
    rate: int,
    channels: int,
    path: Path,
    fmt: str,
    bit_depth: int | str,
    tags: Mapping[str, str] | None,
    bitrate: str,
) -> None:
    """Write ``blocks`` (float32 ``(channels, n)``) to ``path`` atomically in ``fmt``."""
    with AtomicWriter(path) as tmp:
        if fmt == "mp3":
            _write_mp3(blocks, rate, channels, tmp, bitrate, tags or {})
        else:
            _write_soundfile(blocks, rate, channels, tmp, fmt, bit_depth, tags or {})


def export_audio(
    audio: Audio,
    path: Path,
    fmt: str = "wav",
    bit_depth: int | str = 24,
    sample_rate: int | None = None,
    tags: Mapping[str, str] | None = None,
    bitrate: str = "320k",
) -> Path:
    """Write ``audio`` as WAV/FLAC/MP3 at its rate or ``sample_rate``; MP3 ignores ``bit_depth``.

    ``bitrate`` is MP3 only: constant ``"320k"`` (32k..320k) or VBR ``"V0"``..``"V9"``.
    ``tags``: title, artist, album, track, date, genre, comment (ID3 for MP3, INFO/Vorbis otherwise).
    """
    path = Path(path)
    _check_options(fmt, bit_depth, bitrate, tags)
    check_finite(audio, f"export {path.name}")
    if audio.num_samples == 0:
        raise AudioInputError(f"{path.name}: nothing to export (0 samples)")
    if fmt == "mp3":
        require_ffmpeg()
    audio = _resampled(audio, sample_rate)
    _write([audio.samples], audio.sample_rate, audio.channels, path, fmt, bit_depth, tags, bitrate)
    log.info("exported %s (%s, %d Hz, %.1f s)", path, fmt, audio.sample_rate, audio.duration)
    return path


def export_file(
    src: Path,
    path: Path,
    fmt: str = "wav",
    bit_depth: int | str = 24,
    tags: Mapping[str, str] | None = None,
    bitrate: str = "320k",
) -> Path:
    """:func:`export_audio` of the audio file ``src`` (at its own rate), read and written a block at a time,
    so memory does not grow with its length. 16-bit is not offered: its dither is drawn over the whole
    signal at once (:func:`export_audio`), and blocks would draw other values."""
    from stems.streaming import checked_info, file_blocks

    path = Path(path)
    _check_options(fmt, bit_depth, bitrate, tags)
    if bit_depth == 16:
        raise ValueError("export_file writes 24-bit or float; 16-bit exports go through export_audio")
    info = checked_info(src)
    if fmt == "mp3":
        require_ffmpeg()
    _write(file_blocks(src), info.sample_rate, info.channels, path, fmt, bit_depth, tags, bitrate)
    log.info("exported %s (%s, %d Hz, %.1f s)", path, fmt, info.sample_rate, info.duration)
    return path


def export_stems(
    stems: Mapping[str, Audio],
    folder: Path,
    fmt: str = "wav",
    bit_depth: int | str = 24,
    sample_rate: int | None = None,
    zip_path: Path | None = None,
) -> list[Path]:
    """Export each stem as ``folder/<name>.<fmt>``; with ``zip_path`` also zip them (returned last)."""
    bad = [name for name in stems if not name or Path(name).name != name or name.startswith(".")]
    if bad:
        raise UserInputError(f"stem names {bad} cannot be file names; use letters, digits, '-' or '_'")
    _check_options(fmt, bit_depth, "320k", None)
    paths = [
        export_audio(audio, Path(folder) / f"{name}.{fmt}", fmt, bit_depth, sample_rate)
        for name, audio in stems.items()
    ]
    return paths + [zip_files(paths, zip_path)] if zip_path is not None else paths


# Zip entries carry no time, owner or permission of the files on disk: the same stems make the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold (DOS time)
_ZIP_MODE = 0o100644 << 16  # a regular file, rw-r--r--, in the Unix bits of external_attr


def zip_files(paths: Sequence[Path], zip_path: Path) -> Path:
    """Zip ``paths`` (stored under their file names, sorted) atomically into ``zip_path``, byte-deterministic."""
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UserInputError(f"cannot zip missing file(s): {', '.join(missing)}")
    names = [p.name for p in paths]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserInputError(f"two files would have the same name in {zip_path.name}: {', '.join(dupes)}")
    with AtomicWriter(zip_path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for p in sorted(paths, key=lambda p: p.name):
            _add_to_zip(zf, p)
    return Path(zip_path)


def _add_to_zip(zf: zipfile.ZipFile, path: Path) -> None:
    """Stream ``path`` into ``zf`` deflated at zlib's default level (6), with fixed metadata."""
    info = zipfile.ZipInfo(path.name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, wherever the zip is made
    info.external_attr = _ZIP_MODE
    info.file_size = path.stat().st_size  # lets zipfile choose Zip64 up front for a stem over 2 GiB
    with open(path, "rb") as src, zf.open(info, "w") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def exact_length(num_samples: int, from_rate: int, to_rate: int) -> int:
    """The length an export at ``to_rate`` has: ``round(num_samples * to_rate / from_rate)``."""
    return round(num_samples * to_rate / from_rate) if to_rate != from_rate else num_samples
