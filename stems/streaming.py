"""Audio read in blocks, so no command holds a long file whole (issue 22: 20 minutes of stereo took 4.2 GB).

Two views of a file. :func:`file_blocks` yields it block by block at its own rate and channels (mastering,
conforming's warp). :func:`mono_signal` downmixes and resamples it once, block by block, into a temporary
file of float32 samples that the analysis and the transcription then read in segments (:class:`Signal`), as
they would read an array: the same samples ``convert_audio(read_audio(path), rate, 1)`` gives, bit for bit,
at 4 bytes a sample on disk instead of the whole input in memory.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from stems.audio import Audio, AudioInfo, audio_info, check_audio_info, check_finite, resample, storage_error
from stems.errors import AudioInputError

# Frames per read: about 24 s of 44.1 kHz, 8 MB of stereo float32; small next to any bound, large enough
# that numpy's per-call overhead vanishes.
BLOCK_FRAMES = 1 << 20
_FLOAT_BYTES = np.dtype(np.float32).itemsize


class Signal(Protocol):
    """A mono float32 signal read in segments: an array (:class:`ArraySignal`) or a temporary file."""

    @property
    def length(self) -> int: ...

    @property
    def sample_rate(self) -> int: ...

    def segment(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` to ``stop`` (float32), zeros where that runs outside the signal."""
        ...


def _padded(read: np.ndarray, start: int, stop: int, length: int) -> np.ndarray:
    """``read`` (the samples of ``[max(start, 0), min(stop, length))``) placed in zeros spanning the request."""
    if start >= 0 and stop <= length:
        return read
    out = np.zeros(stop - start, dtype=np.float32)
    lo = max(start, 0) - start
    out[lo : lo + read.size] = read
    return out


@dataclass(frozen=True)
class ArraySignal:
    """A mono signal held in memory (the in-memory ``analyze`` and ``transcribe`` read through this)."""

    samples: np.ndarray
    sample_rate: int

    @property
    def length(self) -> int:
        return int(self.samples.shape[0])

    def segment(self, start: int, stop: int) -> np.ndarray:
        read = self.samples[max(start, 0) : max(min(stop, self.length), 0)]
        return _padded(np.asarray(read, dtype=np.float32), start, stop, self.length)


class FloatFile:
    """float32 values appended to an unlinked temporary file and read back with ``pread`` (never mapped, so
    what was read leaves memory with the array that holds it). Close it when done."""

    def __init__(self) -> None:
        self._handle = tempfile.TemporaryFile(prefix="musicmaker-")
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        data = np.ascontiguousarray(values, dtype=np.float32).tobytes()
        try:
            os.pwrite(self._handle.fileno(), data, self.size * _FLOAT_BYTES)
        except OSError as err:  # a full temporary folder is the user's to fix (TMPDIR), not a crash
            raise (storage_error(err, tempfile.gettempdir()) or err) from err
        self.size += len(data) // _FLOAT_BYTES

    def read(self, start: int, stop: int) -> np.ndarray:
        """Values ``start`` to ``stop``, cut to those written."""
        lo, hi = max(start, 0), max(min(stop, self.size), 0)
        if hi <= lo:
            return np.zeros(0, dtype=np.float32)
        data = os.pread(self._handle.fileno(), (hi - lo) * _FLOAT_BYTES, lo * _FLOAT_BYTES)
        return np.frombuffer(data, dtype=np.float32).copy()

    def close(self) -> None:
        self._handle.close()


class ArrayStore:
    """:class:`FloatFile`'s interface over an array of ``size`` values, for signals already in memory."""

    def __init__(self, size: int) -> None:
        self._values = np.empty(size, dtype=np.float32)
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        self._values[self.size : self.size + values.size] = values
        self.size += values.size

    def read(self, start: int, stop: int) -> np.ndarray:
        return self._values[max(start, 0) : max(min(stop, self.size), 0)]

    def close(self) -> None:
        self._values = np.empty(0, dtype=np.float32)


class Store(Protocol):
    """Per-sample values kept while a signal is streamed: :class:`ArrayStore` or :class:`FloatFile`."""

    size: int

    def append(self, values: np.ndarray) -> None: ...

    def read(self, start: int, stop: int) -> np.ndarray: ...

    def close(self) -> None: ...


class FileSignal:
    """A mono signal in a :class:`FloatFile`. Close it, or use it as a context manager."""

    def __init__(self, values: FloatFile, sample_rate: int) -> None:
        self._values, self._rate = values, sample_rate

    @property
    def length(self) -> int:
        return self._values.size

    @property
    def sample_rate(self) -> int:
        return self._rate

    def segment(self, start: int, stop: int) -> np.ndarray:
        return _padded(self._values.read(start, stop), start, stop, self.length)

    def close(self) -> None:
        self._values.close()

    def __enter__(self) -> FileSignal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BlockSource(Protocol):
    """A multichannel signal that can be read from its start a block at a time, as often as needed, and
    that says where per-sample values of it are best kept (memory for an array, disk for a file)."""

    @property
    def sample_rate(self) -> int: ...

    @property
    def channels(self) -> int: ...

    @property
    def num_samples(self) -> int: ...

    def blocks(self) -> Iterator[np.ndarray]:
        """float32 ``(channels, n)`` blocks of :data:`BLOCK_FRAMES` (the last one shorter)."""
        ...

    def store(self) -> Store: ...


@dataclass(frozen=True)
class ArrayBlocks:
    """In-memory audio as a :class:`BlockSource` (its blocks are views)."""

    audio: Audio

    @property
    def sample_rate(self) -> int:
        return self.audio.sample_rate

    @property
    def channels(self) -> int:
        return self.audio.channels

    @property
    def num_samples(self) -> int:
        return self.audio.num_samples

    def blocks(self) -> Iterator[np.ndarray]:
        for start in range(0, self.num_samples, BLOCK_FRAMES):
            yield self.audio.samples[:, start : start + BLOCK_FRAMES]

    def store(self) -> Store:
        return ArrayStore(self.num_samples)


@dataclass(frozen=True)
class FileBlocks:
    """A file libsndfile reads as a :class:`BlockSource` (:func:`file_blocks`); per-sample values of it go
    to temporary files."""

    info: AudioInfo

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @property
    def channels(self) -> int:
        return self.info.channels

    @property
    def num_samples(self) -> int:
        return self.info.frames

    def blocks(self) -> Iterator[np.ndarray]:
        return file_blocks(self.info.path)

    def store(self) -> Store:
        return FloatFile()


# The longest input each command reads, in seconds. Mastering keeps a few numbers per 100 ms (300 MB at any
# length, measured on 20 and 60 minutes), so it takes whatever :data:`stems.audio.MAX_DECODED_BYTES` allows.
# The analysis keeps a few dozen per 11.6 ms frame: 400 MB at 20 minutes, +1.75 MB a minute (a 44.1 kHz stereo
# file, issue 22), so 6 hours stay near 1 GB. Transcription keeps basic-pitch's 440 posteriors a frame and
# note tracking works on copies of them: 794 MB at 20 minutes, 1262 MB at 60 (+11.7 MB a minute).
MAX_ANALYSIS_S = 6 * 3600
MAX_TRANSCRIPTION_S = 3600


def check_duration(info: AudioInfo, longest_s: float, what: str) -> None:
    """Refuse, before decoding, a file longer than ``longest_s`` seconds for ``what`` (exit 2)."""
    if info.duration > longest_s:
        raise AudioInputError(
            f"{info.path}: lasts {_span(info.duration)}; {what} takes at most {_span(longest_s)} (what it keeps "
            "grows with the length, and past that it would need more than 1.5 GB of memory). Split the file, "
            f"e.g. `ffmpeg -i in.wav -t {longest_s:g} part1.wav -ss {longest_s:g} part2.wav`"
        )


def _span(seconds: float) -> str:
    """4.5 hours, 1 hour, 90 minutes, 1.5 minutes."""
    value, unit = (seconds / 3600, "hour") if seconds >= 3600 else (seconds / 60, "minute")
    value = round(value, 1)
    return f"{value:g} {unit}{'' if value == 1 else 's'}"


def checked_info(path: str | Path) -> AudioInfo:
    """The header of ``path``, checked as :func:`stems.audio.read_audio` checks it, before anything is decoded."""
    info = audio_info(path)
    check_audio_info(info)
    return info


def file_blocks(path: str | Path, block: int | None = None, start: int = 0) -> Iterator[np.ndarray]:
    """The file's samples from frame ``start`` on, ``block`` frames (default :data:`BLOCK_FRAMES`) at a time,
    each float32 ``(channels, n)`` and C-contiguous, as :func:`stems.audio.read_audio` would have sliced them."""
    import soundfile as sf

    block = block or BLOCK_FRAMES
    info = checked_info(path)
    try:
        with sf.SoundFile(str(info.path)) as handle:
            if start:
                handle.seek(start)
            while True:
                data = handle.read(block, dtype="float32", always_2d=True)
                if data.shape[0] == 0:
                    return
                samples = np.ascontiguousarray(data.T)
                check_finite(Audio(samples, info.sample_rate), str(info.path))
                yield samples
    except (RuntimeError, sf.LibsndfileError) as exc:  # libsndfile's own types for a decoding problem
        raise AudioInputError(f"{info.path}: cannot read audio ({exc}); use WAV, FLAC or OGG") from exc


def downmixed(blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Each block as mono, the mean of its channels (as ``convert_audio`` downmixes)."""
    for block in blocks:
        yield block[0] if block.shape[0] == 1 else block.mean(axis=0)


def resampled(blocks: Iterator[np.ndarray], from_rate: int, to_rate: int) -> Iterator[np.ndarray]:
    """Mono ``blocks`` resampled as :func:`stems.audio.resample` resamples the whole signal.

    Polyphase resampling is an FIR filter: an output sample depends on the inputs within the filter's half
    length. Each step resamples the inputs from a multiple of ``down`` (so its outputs fall on the whole
    signal's grid) with that much margin either side, and keeps only the outputs the margin makes exact.
    """
    if from_rate == to_rate:
        yield from blocks
        return
    g = math.gcd(from_rate, to_rate)
    up, down = to_rate // g, from_rate // g
    # scipy's resample_poly: 10 * max(up, down) taps each side at the upsampled rate; 2 inputs to spare.
    margin = down * math.ceil((10 * max(up, down) / up + 2) / down)
    held, held_start, done = np.zeros(0, dtype=np.float32), 0, 0  # done: inputs whose outputs were given
    for block in blocks:
        held = np.concatenate((held, block))
        ready = (held_start + held.size - margin) // down * down
        if ready > done:
            out = resample(held, from_rate, to_rate)
            first = (done - held_start) * up // down
            yield out[first : first + (ready - done) * up // down]
            done = ready
            drop = max(done - margin, 0) - held_start
            held, held_start = held[drop:], held_start + drop
    if held_start + held.size > done:  # the rest, to the end: the same zeros past it as the whole signal's
        yield resample(held, from_rate, to_rate)[(done - held_start) * up // down :]


def mono_blocks(path: str | Path, sample_rate: int, block: int | None = None) -> Iterator[np.ndarray]:
    """The file downmixed to mono and resampled to ``sample_rate``, block by block."""
    info = checked_info(path)
    return resampled(downmixed(file_blocks(path, block)), info.sample_rate, sample_rate)


def mono_signal(path: str | Path, sample_rate: int, block: int | None = None) -> FileSignal:
    """The file as mono at ``sample_rate`` in a temporary file (:class:`FileSignal`; close it when done)."""
    values = FloatFile()
    try:
        for piece in mono_blocks(path, sample_rate, block):
            values.append(piece)
    except BaseException:
        values.close()
        raise
    return FileSignal(values, sample_rate)


def as_signal(audio: Audio, sample_rate: int) -> ArraySignal:
    """In-memory ``audio`` as a mono :class:`Signal` at ``sample_rate``."""
    from stems.audio import convert_audio

    return ArraySignal(convert_audio(audio, sample_rate, 1).samples[0], sample_rate)


def write_float_wav(path: Path, sample_rate: int, channels: int, blocks: Iterator[np.ndarray]) -> int:
    """Write ``blocks`` (float32 ``(channels, n)``) to a float WAV, a block at a time; the frames written."""
    from stems.audio import open_sound_file

    frames = 0
    with open_sound_file(Path(path), sample_rate, channels, "FLOAT") as handle:
        for block in blocks:
            handle.write(np.ascontiguousarray(block.T))
            frames += block.shape[1]
    return frames


def placed(blocks: Iterator[np.ndarray], channels: int, start: int, length: int) -> Iterator[np.ndarray]:
    """``blocks`` with ``start`` frames of silence in front (``start`` > 0) or ``-start`` frames cut from
    their head (< 0), then cut or padded with silence to exactly ``length`` frames."""
    lead = min(max(start, 0), length)
    yield from _silence(channels, lead)
    left, skip = length - lead, max(-start, 0)
    for block in blocks:
        cut = min(skip, block.shape[1])
        block, skip = block[:, cut:], skip - cut
        take = min(block.shape[1], left)
        if take:
            yield block[:, :take]
            left -= take
        if left == 0:
            return
    yield from _silence(channels, left)


def _silence(channels: int, frames: int) -> Iterator[np.ndarray]:
    for start in range(0, max(frames, 0), BLOCK_FRAMES):
        yield np.zeros((channels, min(BLOCK_FRAMES, frames - start)), dtype=np.float32)
