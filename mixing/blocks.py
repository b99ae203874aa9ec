"""Where mastering's blocks come from and go to, besides a file itself (``stems.streaming``): a source's
channels remixed by a matrix a block at a time (5.1 folded down to stereo), and the array or float WAV that
a rendering is written to and then read back from to be measured.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from stems.audio import Audio, audio_info
from stems.streaming import ArrayBlocks, BlockSource, FileBlocks, Store, write_float_wav


class Sink(Protocol):
    """Where a rendering goes; what was written is read back as a block source."""

    def write(self, blocks: Iterator[np.ndarray]) -> BlockSource: ...


class ArraySink:
    """Into an array the caller holds (the in-memory master's output)."""

    def __init__(self, out: np.ndarray, sample_rate: int) -> None:
        self._out, self._rate = out, sample_rate

    def write(self, blocks: Iterator[np.ndarray]) -> BlockSource:
        offset = 0
        for block in blocks:
            self._out[:, offset : offset + block.shape[1]] = block
            offset += block.shape[1]
        return ArrayBlocks(Audio(self._out, self._rate))


class WavSink:
    """Into a float WAV, a block at a time (each rendering replaces the last)."""

    def __init__(self, path: Path, sample_rate: int, channels: int) -> None:
        self._path, self._rate, self._channels = path, sample_rate, channels

    def write(self, blocks: Iterator[np.ndarray]) -> BlockSource:
        write_float_wav(self._path, self._rate, self._channels, blocks)
        return FileBlocks(audio_info(self._path))


@dataclass(frozen=True)
class Remixed:
    """``source`` with its channels mixed by ``matrix`` (outputs x inputs), a block at a time."""

    source: BlockSource
    matrix: np.ndarray

    @property
    def sample_rate(self) -> int:
        return self.source.sample_rate

    @property
    def channels(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def num_samples(self) -> int:
        return self.source.num_samples

    def blocks(self) -> Iterator[np.ndarray]:
        for block in self.source.blocks():
            yield self.matrix @ block

    def store(self) -> Store:
        return self.source.store()
