"""The one audio type of the project and the only places audio is converted, read or written.

Audio is float32 numpy shaped ``(channels, samples)`` with its sample rate beside it. Resampling and
up/down-mixing happen only through :func:`convert_audio` (demucs ``audio.convert_audio`` is the model).
"""

from __future__ import annotations

import errno
import functools
import os
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


def read_audio(path: str | Path) -> Audio:
    """Read any file soundfile (libsndfile) can decode; a clear error when it cannot."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"{path}: audio file not found")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises its own types for every decoding problem
        raise AudioInputError(f"{path}: cannot read audio ({exc}); use WAV, FLAC or OGG") from exc
    return Audio(np.ascontiguousarray(data.T), int(rate))


def atomic_path(path: Path) -> Path:
    """A temporary name in the same folder, so ``os.replace`` onto ``path`` is atomic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the modes other new files get
    os.close(fd)
    return Path(tmp)


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: done once, and set straight back
    os.umask(mask)
    return mask


class AtomicWriter:
    """Context manager giving a temp path; on success it replaces ``path``, on error it deletes the temp."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.tmp = atomic_path(self.path)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.path)
            return
        self.tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise StorageError(
                f"{self.path}: cannot write ({os.strerror(exc.errno)}); free some space (or fix the folder's "
                "permissions) and run the same command again: finished files are kept and reused"
            ) from exc


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with AtomicWriter(path) as tmp:
        tmp.write_bytes(data)


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
