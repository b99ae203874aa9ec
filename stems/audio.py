"""The one audio type of the project and the only places audio is converted, read or written.

Audio is float32 numpy shaped ``(channels, samples)`` with its sample rate beside it. Resampling and
up/down-mixing happen only through :func:`convert_audio` (demucs ``audio.convert_audio`` is the model).
"""

from __future__ import annotations

import errno
import functools
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np

from stems.errors import AudioInputError, StorageError


@dataclass(frozen=True)
class Audio:
    """Float32 samples shaped ``(channels, samples)`` and their sample rate."""

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 2:
            raise ValueError(f"Audio.samples must be (channels, samples), got shape {self.samples.shape}")
        if self.samples.dtype != np.float32:
            object.__setattr__(self, "samples", self.samples.astype(np.float32))
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate

    def fitted(self, num_samples: int) -> Audio:
        """Exactly ``num_samples`` long (see ``fit_length``)."""
        return Audio(fit_length(self.samples, num_samples), self.sample_rate)


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the last axis: a rate round trip can be one sample off (ceil in resample_poly)."""
    if x.shape[-1] >= length:
        return np.ascontiguousarray(x[..., :length])
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, length - x.shape[-1])])


def check_finite(audio: Audio, what: str) -> None:
    """Raise naming ``what`` when the audio holds NaN or inf (they poison every later stage)."""
    if not np.isfinite(audio.samples).all():
        raise AudioInputError(f"{what}: audio contains NaN or inf values; regenerate or replace it")


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling along the last axis (Kaiser-windowed FIR, scipy ``resample_poly``)."""
    if from_rate == to_rate:
        return samples
    from scipy.signal import resample_poly

    g = gcd(int(from_rate), int(to_rate))
    out = resample_poly(samples, to_rate // g, from_rate // g, axis=-1, window=("kaiser", 8.0))
    return np.asarray(out, dtype=np.float32)


def convert_audio(audio: Audio, sample_rate: int, channels: int) -> Audio:
    """Resample and up/down-mix at a model edge: mono->N repeats, N->mono averages, N->M takes the first M."""
    x = audio.samples
    if x.shape[0] != channels:
        if channels == 1:
            x = x.mean(axis=0, keepdims=True)
        elif x.shape[0] == 1:
            x = np.repeat(x, channels, axis=0)
        elif x.shape[0] >= channels:
            x = x[:channels]
        else:
            raise ValueError(f"cannot convert {x.shape[0]} channels to {channels}")
    return Audio(resample(x, audio.sample_rate, sample_rate), sample_rate)


# Sample rates real audio uses: 8 kHz telephony is the lowest in practice (4 kHz leaves room for old speech
# corpora) and 768 kHz (16 x 48 kHz) the highest converters ship. Outside this the header lies: 2 s of 44.1 kHz
# audio under a 1 Hz header claims 24 hours, and resampling that to a model's rate asks for tens of GB.
MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 768_000
# 7.1 surround is the widest layout anything here handles (mastering folds 5.1 down; BS.1770 weights stop at 5).
MAX_CHANNELS = 8
# Refuse before decoding what would not fit in memory: 4 GiB of float32 is about 3 h of 48 kHz stereo, and the
# stages need a few times their input's size on top. Only the span actually read counts (see ``max_seconds``).
MAX_DECODED_BYTES = 4 * 2**30


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read before any sample is decoded."""

    path: Path
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate > 0 else math.inf


def check_sample_rate(sample_rate: int, what: str) -> None:
    """Raise naming ``what`` when the rate is outside what real audio uses (a damaged or lying header)."""
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioInputError(
            f"{what}: sample rate {sample_rate} Hz is not one real audio uses; {MIN_SAMPLE_RATE} to "
            f"{MAX_SAMPLE_RATE} Hz are allowed (44100 and 48000 Hz are common). The file's header is probably "
            "damaged: export the audio again from its source"
        )


def not_a_regular_file(path: Path) -> str | None:
    """``"not a regular file (a folder)"`` (or a pipe, a device, a socket) for a path that is there but is no
    file to read: reading a folder fails, and reading a pipe waits for a writer forever. None otherwise."""
    if path.is_file() or not path.exists():
        return None
    kinds = (("a folder", path.is_dir), ("a pipe", path.is_fifo), ("a socket", path.is_socket))
    kind = next((name for name, test in kinds if test()), "a device")
    return f"not a regular file ({kind})"


def check_audio_file(path: Path) -> None:
    """An AudioInputError unless ``path`` is a regular file: not found, or what stands there instead."""
    if not path.is_file():
        kind = not_a_regular_file(path)
        raise AudioInputError(
            f"{path}: {kind}; give the path of an audio file" if kind else f"{path}: audio file not found"
        )


def audio_info(path: str | Path) -> AudioInfo:
    """The header of a file libsndfile can open; AudioInputError when it is missing or cannot be opened."""
    import soundfile as sf

    path = Path(path)
    check_audio_file(path)
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises its own types for every decoding problem
        raise AudioInputError(f"{path}: cannot read audio ({exc}); use WAV, FLAC or OGG") from exc
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames))


def check_audio_info(info: AudioInfo, frames: int | None = None) -> None:
    """Reject, before decoding, a header no real audio has or ``frames`` (default all) too large to decode."""
    check_sample_rate(info.sample_rate, str(info.path))
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise AudioInputError(
            f"{info.path}: has {info.channels} channels; 1 to {MAX_CHANNELS} are allowed (mono to 7.1). "
            "Mix it down first, e.g. `ffmpeg -i in.wav -ac 2 out.wav`"
        )
    if info.frames <= 0:
        raise AudioInputError(f"{info.path}: holds no audio (0 samples); give a file with sound in it")
    frames = info.frames if frames is None else frames
    size = frames * info.channels * np.dtype(np.float32).itemsize
    if size > MAX_DECODED_BYTES:
        raise AudioInputError(
            f"{info.path}: decoding it would take {size / 2**30:.1f} GiB ({frames} samples x {info.channels} "
            f"channels at {info.sample_rate} Hz, {frames / info.sample_rate / 3600:.1f} h); at most "
            f"{MAX_DECODED_BYTES / 2**30:g} GiB is allowed. Split the file or lower its rate, "
            "e.g. `ffmpeg -i in.wav -ar 48000 -t 3600 out.wav`"
        )


def probe_audio(path: str | Path) -> AudioInfo:
    """The header of ``path``, checked (rate, channels, length) without decoding a sample."""
    info = audio_info(path)
    check_audio_info(info)
    return info


def _span(info: AudioInfo, max_seconds: float | None, tail: bool) -> tuple[int, int]:
    """(first frame, frame count) of the part of the file to read."""
    if max_seconds is None:
        return 0, info.frames
    if not (math.isfinite(max_seconds) and max_seconds > 0):
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    wanted = min(info.frames, math.ceil(max_seconds * info.sample_rate))
    if not tail:
        return 0, wanted
    # Start on a whole second of the file: resampled to any integer rate, the tail's samples then fall on the same
    # grid as the whole file's, so away from its first few samples it converts to exactly the same values.
    start = (info.frames - wanted) // info.sample_rate * info.sample_rate
    return start, info.frames - start


def read_audio(path: str | Path, *, max_seconds: float | None = None, tail: bool = False) -> Audio:
    """Read any file soundfile (libsndfile) can decode; a clear error when it cannot.

    The header is checked first (:func:`check_audio_info`), so a file that lies about its rate, channels or
    length is refused before anything is decoded. With ``max_seconds`` only the first ``max_seconds`` are read
    (with ``tail``: the last ones, from a whole second of the file, so up to 1 s more), e.g. the part of a long
    melody or continuation a render uses.
    """
    import soundfile as sf

    info = audio_info(path)
    start, frames = _span(info, max_seconds, tail)
    check_audio_info(info, frames)
    try:
        data, rate = sf.read(str(info.path), frames=frames, start=start, dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises its own types for every decoding problem
        raise AudioInputError(f"{info.path}: cannot read audio ({exc}); use WAV, FLAC or OGG") from exc
    return Audio(np.ascontiguousarray(data.T), int(rate))


# What a write can meet that the user must fix (space, permissions, a path that names the wrong kind of thing),
# with the advice each gets. Any other OSError is a fault of ours and keeps its traceback.
_SPACE = "free some space there and run the same command again: finished files are kept and reused"
_WRITABLE = "choose a writable folder (-o) or fix the folder's permissions or mount"
STORAGE_ADVICE = {
    errno.ENOSPC: _SPACE,
    errno.EDQUOT: _SPACE,
    errno.EFBIG: _SPACE,
    errno.EROFS: _WRITABLE,
    errno.EACCES: _WRITABLE,
    errno.EPERM: _WRITABLE,
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another output path (-o)",
    errno.EEXIST: "a file stands where a folder is needed: choose another output path (-o)",
    errno.EISDIR: "it is a folder, not a file: move or remove it, or give the path of a file",
    errno.ENAMETOOLONG: "the name is too long: choose a shorter output path (-o)",
}
# An encoder that fails with less than this free next to its output ran out of space.
_MIN_FREE_BYTES = 1 << 20


def storage_error(err: OSError, path: Path | str | None = None) -> StorageError | None:
    """``err`` as the StorageError the user can act on, or None when it is not a storage problem."""
    advice = STORAGE_ADVICE.get(err.errno or 0)
    if advice is None:
        return None
    where = err.filename or path or "the output"
    return StorageError(f"{where}: cannot write ({os.strerror(err.errno or 0)}); {advice}")


def _out_of_space(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < _MIN_FREE_BYTES
    except OSError:
        return False


def check_output_file(path: Path, example: str | Path | None = None) -> None:
    """Only a regular file (or nothing) may be replaced: never a folder, a device like /dev/null or a pipe.

    ``example``: a file the user could give instead (``-o example``), where the user named ``path``; without it
    the path is one the program chose (a render's own file), and what stands there must go."""
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a device, pipe or socket)"
        fix = "move or remove it, then run the command again"
        if example is not None:
            fix = f"give the path of a file to create, e.g. -o {example}"
        raise StorageError(f"{path}: cannot write there, it is {kind}; {fix}")


def ensure_folder(folder: Path) -> Path:
    """Create ``folder`` (and its parents) and make sure files can be created in it: a StorageError (exit 2)
    otherwise, before any work whose output would have nowhere to go."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StorageError(f"{folder}: is a file, not a folder; give the output folder with -o")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise (storage_error(err, folder) or err) from err
    return folder


def atomic_path(path: Path) -> Path:
    """A temporary name in the same folder, so ``os.replace`` onto ``path`` is atomic."""
    check_output_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{path.suffix}", dir=path.parent)
    except OSError as err:
        raise (storage_error(err, path.parent) or err) from err
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the modes other new files get
    os.close(fd)
    return Path(tmp)


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: done once, and set straight back
    os.umask(mask)
    return mask


class AtomicWriter:
    """Context manager giving a temp path; on success it replaces ``path``, on error it deletes the temp.

    A storage fault (full disk, read-only folder, a folder where the file should go) becomes a StorageError
    (exit 2), also when an encoder reports a full disk in its own words; the temp file never stays behind.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.tmp = atomic_path(self.path)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            try:
                os.replace(self.tmp, self.path)
                return
            except OSError as err:
                exc = err
        error = self._storage_error(exc)  # before the temp file goes: it holds the space that ran out
        self.tmp.unlink(missing_ok=True)
        if error is not None:
            raise error from exc
        if exc_type is None:  # the replace failed for a reason of ours
            raise exc

    def _storage_error(self, exc: BaseException) -> StorageError | None:
        if isinstance(exc, OSError):
            return storage_error(exc, self.path)
        if isinstance(exc, Exception) and _out_of_space(self.path.parent):
            return storage_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path)))
        return None


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with AtomicWriter(path) as tmp:
        tmp.write_bytes(data)


def copy_file_atomic(source: str | Path, target: str | Path) -> None:
    """Copy ``source`` to ``target`` as every write here goes: to a temporary name, then replaced."""
    import shutil

    with AtomicWriter(target) as tmp:
        shutil.copyfile(source, tmp)


_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile command (sndfile.h)


def open_sound_file(path: Path, sample_rate: int, channels: int, subtype: str, fmt: str = "WAV") -> Any:
    """A soundfile writer whose bytes depend on the audio only.

    libsndfile adds a PEAK chunk with a timestamp to float WAVs, so the same render would give different files;
    turning it off keeps renders byte-identical (the manifest's sha256 and the stage cache rely on that).
    """
    import soundfile as sf

    handle = sf.SoundFile(str(path), "w", sample_rate, channels, subtype, format=fmt)
    sf._snd.sf_command(handle._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
    return handle


def write_wav(path: str | Path, audio: Audio, subtype: str = "FLOAT") -> None:
    """Write a WAV atomically (``subtype`` is soundfile's: FLOAT, PCM_16, PCM_24)."""
    with (
        AtomicWriter(path) as tmp,
        open_sound_file(tmp, audio.sample_rate, audio.channels, subtype) as handle,
    ):
        handle.write(np.ascontiguousarray(audio.samples.T))
