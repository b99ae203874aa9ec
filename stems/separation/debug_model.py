"""Tiny random Demucs models for offline runs and tests.

``debug`` (4 sources) and ``debug_6s`` (6 sources, like ``htdemucs_6s``) are HTDemucs networks built
from a small config, seeded, and written in demucs' ``.th`` package format (``klass``, ``args``,
``kwargs``, ``state``, ``training_args``, as ``demucs.states.serialize_model`` writes it) into a local
model folder. They are then loaded by ``demucs.pretrained.get_model(name, repo=folder)``, the same
loader real models go through, so everything after loading is the production code path.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from stems.audio import write_bytes_atomic
from stems.separation.catalog import DEBUG_SOURCES

logger = logging.getLogger(__name__)


# Small enough that 20 s of stereo separates in a couple of seconds on 2 CPU cores. Depth 4 keeps the
# cross-transformer's sequences short (depth 2-3 were 2-10x slower); nfft 2048 and one DConv layer
# keep the convolutions cheap. Measured per 7.8 s segment: ~1.1 CPU-s (depth 3 / nfft 1024: ~2.2).
DEBUG_CONFIG: dict[str, Any] = {
    "audio_channels": 2,
    "channels": 4,
    "depth": 4,
    "nfft": 2048,
    "dconv_depth": 1,
    "dconv_comp": 4,
    "t_layers": 1,
    "t_heads": 1,
    "samplerate": 44100,
    # htdemucs' own training segment (39/5 s), so segment handling matches the real model.
    "segment": Fraction(39, 5),
}
DEBUG_SEED = 1234
# Bumped when DEBUG_CONFIG changes, so a stale cached package is never reused.
DEBUG_VERSION = 3


def default_model_dir(cache: str | Path | None = None) -> Path:
    """``cache`` argument, else ``$MUSICMAKER_CACHE/demucs``, else ``~/.cache/musicmaker/demucs``."""
    if cache is not None:
        return Path(cache)
    env = os.environ.get("MUSICMAKER_CACHE")
    if env:
        return Path(env) / "demucs"
    return Path.home() / ".cache" / "musicmaker" / "demucs"


def build_debug_model(name: str = "debug") -> Any:
    """A seeded random HTDemucs for ``name`` (``debug`` or ``debug_6s``); same weights every call."""
    import torch
    from demucs.htdemucs import HTDemucs

    sources = _sources(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(DEBUG_SEED + len(sources))
        model = HTDemucs(sources=list(sources), **DEBUG_CONFIG).eval()
        _calibrate(model)
    return model


def _calibrate(model: Any) -> None:
    """Scale the last decoder layers so each source comes out near half the input's level.

    Freshly initialised, the tiny network returns sources ~35 dB below its input, which the cleanup gate then
    silences: a debug render would lose whole stems. Both output branches end in a linear transposed conv, so
    scaling their weights scales the sources exactly (HTDemucs re-applies the input's std after them).
    """
    import torch

    noise = 0.1 * torch.randn(1, model.audio_channels, int(model.segment * model.samplerate))
    with torch.no_grad():
        level = model(noise).std(dim=-1).mean()
        scale = 0.5 * noise.std() / level
        for layer in (model.decoder[-1].conv_tr, model.tdecoder[-1].conv_tr):
            layer.weight.mul_(scale)
            layer.bias.mul_(scale)


def debug_package(name: str = "debug") -> dict[str, Any]:
    """The ``.th`` package dict of ``demucs.states.serialize_model`` (which needs omegaconf, absent here)."""
    from demucs.states import get_state

    model = build_debug_model(name)
    args, kwargs = model._init_args_kwargs
    return {
        "klass": model.__class__,
        "args": args,
        "kwargs": kwargs,
        "state": get_state(model, None, half=False),
        "training_args": {"musicmaker_debug": name, "version": DEBUG_VERSION},
    }


def ensure_debug_model(name: str = "debug", cache: str | Path | None = None) -> Path:
    """Write ``<folder>/<name>-<sha8>.th`` once (demucs' checksum naming); return the folder."""
    import torch

    folder = default_model_dir(cache)
    marker = folder / f".{name}.v{DEBUG_VERSION}"
    existing = sorted(folder.glob(f"{name}-*.th")) if folder.is_dir() else []
    if marker.is_file() and len(existing) == 1:
        return folder
    for stale in [*existing, *(folder.glob(f".{name}.v*") if folder.is_dir() else [])]:
        stale.unlink(missing_ok=True)
    buf = io.BytesIO()
    torch.save(debug_package(name), buf)
    data = buf.getvalue()
    # demucs.repo.LocalRepo checks the sha256 prefix after the last '-' (demucs.states.save_with_checksum).
    sig = hashlib.sha256(data).hexdigest()[:8]
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / f"{name}-{sig}.th", data)
    write_bytes_atomic(marker, b"")
    logger.info("wrote debug Demucs model %s to %s", name, folder)
    return folder


def load_debug_model(name: str = "debug", cache: str | Path | None = None) -> Any:
    """Load ``name`` through ``demucs.pretrained.get_model(name, repo=folder)``, like a real model."""
    from demucs.pretrained import get_model

    folder = ensure_debug_model(name, cache)
    return get_model(name, repo=folder)


def _sources(name: str) -> tuple[str, ...]:
    try:
        return DEBUG_SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown debug Demucs model {name!r}; known: {', '.join(DEBUG_SOURCES)}") from None
