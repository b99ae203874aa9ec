"""Keep one source of a stem with Demucs; return what was kept and what was removed.

A :class:`Separator` wraps one Demucs model (``demucs.apply.apply_model``, the same call as
``demucs.api.Separator.separate_tensor``) with Demucs' defaults for segment, overlap and shifts.
Audio is converted to the model's rate and channels only at the edges (``stems.audio.convert_audio``)
and the result comes back at the input's rate, channel count and exact length. No clipping or
rescaling happens here: the mixer owns headroom. Every stem is a model run of its own with the thread count
pinned, so its separation is bit-identical alone, among other stems, and whatever the machine's load.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stems.audio import Audio, check_finite, convert_audio, fit_length
from stems.errors import AudioInputError, UserInputError
from stems.progress import Progress
from stems.separation.catalog import (
    DEFAULT_MODEL,
    MODEL_SOURCES,
    SIX_SOURCE_ONLY,
    SIX_SOURCE_SIBLING,
    SOURCES,
)
from stems.separation.models import check_separation_model, load_separation_model
from stems.threads import machine_threads, pinned_threads

logger = logging.getLogger(__name__)

# What audiocraft's ChromaStemConditioner drops before MusicGen-melody's chroma: it keeps htdemucs'
# vocals + other, so bass notes and drum hits do not win the chroma argmax (bench/melody_stems.py).
MELODY_DROPPED: tuple[str, ...] = ("drums", "bass")

__all__ = [
    "MELODY_DROPPED",
    "SOURCES",
    "Separated",
    "Separator",
    "check_separation_model",
    "get_separator",
    "melody_model",
    "melody_sources",
    "model_for",
    "separate_sum",
]


def model_for(source: str, requested: str | None) -> str:
    """The model that keeps ``source``: ``requested`` (default htdemucs), or its 6-source sibling."""
    if source not in SOURCES:
        raise UserInputError(
            f"separate: {source!r} is not a Demucs source; allowed: {', '.join(SOURCES)}. "
            "Fix the stem's `separate:` field or remove it to skip separation."
        )
    if requested is not None:
        check_separation_model(requested)
    if source in SIX_SOURCE_ONLY and requested in SIX_SOURCE_SIBLING:
        return SIX_SOURCE_SIBLING[requested]
    name = requested or DEFAULT_MODEL
    if source not in MODEL_SOURCES[name]:
        raise UserInputError(
            f"separate: model {name!r} has no {source!r} source (it has {', '.join(MODEL_SOURCES[name])}); "
            f"use htdemucs_6s (or debug_6s offline) for guitar and piano, or leave the model unset."
        )
    return name


def melody_sources(model: str) -> tuple[str, ...]:
    """``model``'s sources without drums and bass, in its order: (other, vocals) for htdemucs."""
    check_separation_model(model)
    return tuple(s for s in MODEL_SOURCES[model] if s not in MELODY_DROPPED)


def melody_model(sources: Sequence[str], requested: str | None) -> str:
    """The model that has every one of ``sources``: ``requested``, or its 6-source sibling (guitar, piano)."""
    unknown = [s for s in sources if s not in SOURCES]
    if not sources or unknown:
        raise UserInputError(
            f"melody_stems: received {list(sources)}; keep one or more of {', '.join(SOURCES)}, "
            "or write [] to use the melody file as it is"
        )
    if requested is not None:
        check_separation_model(requested)
    six = any(s in SIX_SOURCE_ONLY for s in sources)
    name = (
        SIX_SOURCE_SIBLING[requested]
        if six and requested in SIX_SOURCE_SIBLING
        else requested or DEFAULT_MODEL
    )
    missing = [s for s in sources if s not in MODEL_SOURCES[name]]
    if missing:
        raise UserInputError(
            f"melody_stems: separation model {name!r} has no {' or '.join(map(repr, missing))} source (it has "
            f"{', '.join(MODEL_SOURCES[name])}); use htdemucs_6s (or debug_6s offline) for guitar and piano, "
            "or leave them out of melody_stems"
        )
    return name


@dataclass(frozen=True)
class Separated:
    """The kept source and the removed rest, at the input's rate and shape; ``seconds`` of wall time."""

    kept: Audio
    residual: Audio
    seconds: float


class Separator:
    """One Demucs model, loaded once, with apply_model's options fixed (Demucs' defaults)."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        device: str | None = None,
        segment: float | None = None,
        overlap: float = 0.25,
        shifts: int = 1,
        *,
        seed: int | None = 0,
        model_dir: str | Path | None = None,
    ) -> None:
        check_separation_model(model)
        _check_options(overlap, shifts)
        self._name = model
        self._model = load_separation_model(model, model_dir)
        self._device = device or _default_device()
        self._segment = _check_segment(self._model, segment, model)
        self._overlap = overlap
        self._shifts = shifts
        # apply_model draws its shift offsets from Python's `random`; a seed makes renders repeatable.
        self._seed = seed

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def sample_rate(self) -> int:
        return int(self._model.samplerate)

    @property
    def channels(self) -> int:
        return int(self._model.audio_channels)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self._model.sources)

    def separate(
        self, audio: Audio, keep: str, progress: Progress | None = None, *, name: str | None = None
    ) -> Separated:
        """Keep ``keep``; ``name`` (the stem) is what errors about the audio mention."""
        return self.separate_many([(audio, keep)], progress, names=None if name is None else [name])[0]

    def separate_many(
        self,
        items: Sequence[tuple[Audio, str]],
        progress: Progress | None = None,
        *,
        names: Sequence[str] | None = None,
    ) -> list[Separated]:
        """Separate several stems, one model run each: Demucs over a batch rounds a row otherwise than the
        row alone (up to 4e-7), and a stem must not depend on what it is separated with (issue 22: `--only
        keys` changed stems/bass.wav)."""
        labels = list(names) if names is not None else [f"separate {keep}" for _, keep in items]
        if len(labels) != len(items):
            raise UserInputError(
                f"separate_many: {len(items)} items but {len(labels)} names; give one name per item"
            )
        for (audio, keep), label in zip(items, labels):
            self._check_item(audio, keep, label)
        return [
            self._separate_one(audio, keep, label, progress) for (audio, keep), label in zip(items, labels)
        ]

    def separate_sum(
        self, audio: Audio, keep: Sequence[str], progress: Progress | None = None, *, name: str | None = None
    ) -> Audio:
        """The sum of the sources ``keep`` (one model run), at the input's rate, channels and length.

        audiocraft's ``ChromaStemConditioner._get_stemmed_wav`` does this with ``vocals`` + ``other``.
        """
        kept = self._split(audio, keep, name, progress)
        return _back_to_input(np.sum(list(kept.values()), axis=0), audio, self.sample_rate, 0.0).kept

    def separate_sources(
        self, audio: Audio, keep: Sequence[str], progress: Progress | None = None, *, name: str | None = None
    ) -> dict[str, Audio]:
        """Each source of ``keep`` from one model run, at the input's rate, channels and length: a whole mix
        split once into several stems."""
        kept = self._split(audio, keep, name, progress)
        return {s: _back_to_input(part, audio, self.sample_rate, 0.0).kept for s, part in kept.items()}

    def _split(
        self, audio: Audio, keep: Sequence[str], name: str | None, progress: Progress | None
    ) -> dict[str, np.ndarray]:
        """The sources ``keep`` of one model run over ``audio``, at the model's rate."""
        label = name or f"separate {'+'.join(keep)}"
        if not keep:
            raise UserInputError(f"{label}: no source to keep; name one of {', '.join(self.sources)}")
        for source in keep:
            self._check_item(audio, source, label)
        sources = self._apply(self._to_model(audio)[None], label, progress)[0]
        return {s: sources[self.sources.index(s)] for s in keep}

    def _check_item(self, audio: Audio, keep: str, label: str) -> None:
        check_finite(audio, label)
        if audio.channels not in (1, 2):
            raise AudioInputError(
                f"{label}: got {audio.channels} channels; separation takes mono or stereo; downmix it first"
            )
        if keep not in self.sources:
            raise UserInputError(
                f"{label}: model {self._name!r} has no {keep!r} source (it has {', '.join(self.sources)}); "
                f"use stems.separation.separator.model_for({keep!r}, ...) to pick a model that has it"
            )

    def _to_model(self, audio: Audio) -> np.ndarray:
        return convert_audio(audio, self.sample_rate, self.channels).samples

    def _separate_one(self, audio: Audio, keep: str, label: str, progress: Progress | None) -> Separated:
        start = time.perf_counter()
        sources = self._apply(self._to_model(audio)[None], label, progress)[0]
        kept_model = sources[self.sources.index(keep)]
        return _back_to_input(kept_model, audio, self.sample_rate, time.perf_counter() - start)

    def _apply(self, mixes: np.ndarray, label: str, progress: Progress | None) -> np.ndarray:
        """apply_model on a (batch, channels, samples) array, normalised as demucs.api does."""
        if not np.any(mixes):
            # Digital silence: nothing to separate, and demucs' std normalisation would divide by ~0.
            return np.zeros((mixes.shape[0], len(self.sources), *mixes.shape[1:]), dtype=np.float32)
        callback = _progress_callback(progress, label, self._expected_steps(mixes.shape[-1]))
        # One model run at a time per process: the seed is global state, and two runs would only compete
        # for the same cores (Prefect may call tasks from several threads). The thread count is pinned:
        # Demucs' kernels and torch's long reductions (the normalisation) round otherwise with another one.
        with _RUN_LOCK, pinned_threads(machine_threads()), _seeded(self._seed):
            out = self._run_model(mixes, callback)
        if progress is not None:
            steps = self._expected_steps(mixes.shape[-1])
            progress(label, steps, steps)
        return out

    def _run_model(self, mixes: np.ndarray, callback: Callable[[dict], None] | None) -> np.ndarray:
        import torch
        from demucs.apply import apply_model

        x = torch.from_numpy(mixes)
        ref = x.mean(dim=1)  # mono reference per item, as demucs.api.Separator.separate_tensor
        mean = ref.mean(dim=-1)[:, None, None]
        std = ref.std(dim=-1, correction=1 if x.shape[-1] > 1 else 0)[:, None, None] + 1e-8
        with torch.inference_mode():
            out = apply_model(
                self._model,
                (x - mean) / std,
                shifts=self._shifts,
                split=True,
                overlap=self._overlap,
                device=self._device,
                segment=self._segment,
                callback=callback,
            )
        out = out.cpu() * std[:, None] + mean[:, None]
        return out.numpy().astype(np.float32, copy=False)

    def _expected_steps(self, length: int) -> int:
        """Model calls apply_model will make: one per segment, per shift, per model of a bag."""
        segment = float(self._segment or _model_segment(self._model))
        stride = max(1, int((1 - self._overlap) * int(self.sample_rate * segment)))
        shifted = length + (int(0.5 * self.sample_rate) if self._shifts else 0)
        models = len(getattr(self._model, "models", [self._model]))
        return models * max(1, self._shifts) * -(-shifted // stride)


def get_separator(model: str, **options: Any) -> Separator:
    """A process-wide cached :class:`Separator` per (model, options); the model is loaded once."""
    key = (model, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _CACHE_LOCK:
        separator = _SEPARATORS.get(key)
        if separator is None:
            separator = _SEPARATORS[key] = Separator(model, **options)
    return separator


def separate_sum(audio: Audio, keep: Sequence[str], model: str, progress: Progress | None = None) -> Audio:
    """:meth:`Separator.separate_sum` with the cached separator of ``model``; the last few results are
    kept, so stems that share one melody file separate it once."""
    digest = hashlib.sha256(np.ascontiguousarray(audio.samples).tobytes()).hexdigest()
    key = (model, tuple(keep), audio.sample_rate, audio.samples.shape, digest)
    with _CACHE_LOCK:
        found = _SUMS.get(key)
    if found is None:
        found = get_separator(model).separate_sum(audio, keep, progress)
        with _CACHE_LOCK:
            _SUMS[key] = found
            while len(_SUMS) > _SUMS_KEPT:
                _SUMS.pop(next(iter(_SUMS)))
    return found


_SUMS: dict[tuple[Any, ...], Audio] = {}
_SUMS_KEPT = 2  # a 10 min stereo melody at 44.1 kHz is ~200 MB; stems mostly share one file
_SEPARATORS: dict[tuple[str, tuple[tuple[str, str], ...]], Separator] = {}
_CACHE_LOCK = threading.Lock()
_RUN_LOCK = threading.RLock()


def _back_to_input(kept_model: np.ndarray, audio: Audio, model_rate: int, seconds: float) -> Separated:
    """Kept source at the input's rate, channels and exact length; residual = input - kept."""
    kept = convert_audio(Audio(kept_model, model_rate), audio.sample_rate, audio.channels).samples
    kept = fit_length(kept, audio.num_samples)
    residual = audio.samples - kept
    return Separated(Audio(kept, audio.sample_rate), Audio(residual, audio.sample_rate), seconds)


def _progress_callback(progress: Progress | None, label: str, total: int) -> Callable[[dict], None] | None:
    if progress is None:
        return None
    done = [0]

    def callback(info: dict) -> None:
        if info.get("state") == "end":
            done[0] += 1
            # The step count is an upper bound (random shift offsets change it); never report 100% early.
            progress(label, min(done[0], total - 1), total)

    return callback


@contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Seed Python's `random` for apply_model's shifts, restoring the caller's state afterwards."""
    if seed is None:
        yield
        return
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _model_segment(model: Any) -> float:
    if hasattr(model, "models"):
        return float(min(float(m.segment) for m in model.models))
    return float(model.segment)


def _check_options(overlap: float, shifts: int) -> None:
    if not 0.0 <= overlap < 1.0:
        raise UserInputError(f"separation overlap {overlap!r} must be in [0, 1); Demucs' default is 0.25")
    if not isinstance(shifts, int) or shifts < 0:
        raise UserInputError(f"separation shifts {shifts!r} must be an integer >= 0; Demucs' default is 1")


def _check_segment(model: Any, segment: float | None, name: str) -> float | None:
    """HTDemucs cannot run on segments longer than it was trained on (demucs.api checks the same)."""
    if segment is None:
        return None
    limit = float(getattr(model, "max_allowed_segment", getattr(model, "segment", float("inf"))))
    if not 0.0 < segment <= limit:
        raise UserInputError(
            f"separation segment {segment!r} s is not allowed for {name!r}: it must be > 0 and <= {limit:g} s; "
            "leave it unset to use the model's own segment"
        )
    return float(segment)
