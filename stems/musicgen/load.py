"""Loading a MusicGen model (real, debug or random-init), picking the device, and memory budgeting."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from stems.errors import ModelUnavailableError, UserInputError
from stems.musicgen.models import (
    DEBUG_MODELS,
    GIB,
    RANDOM_PREFIX,
    hf_cache_dir,
    hub_offline,
    kv_cache_bytes,
    local_folder,
    model_info,
    unavailable_message,
    vram_gb,
    weights_cached,
    weights_gb,
)

log = logging.getLogger(__name__)
# Keep this share of free memory for the allocator, codec decoding and the rest of the process.
MEMORY_HEADROOM = 0.8


@dataclass(frozen=True)
class Loaded:
    model: Any
    tokenizer: Any
    melody: bool
    half: Any = None  # the decoder's half dtype (its weights and the autocast of generation), None for fp32


def half_dtype(device: str) -> Any:
    """fp16 for the decoder on CUDA, as audiocraft runs its LM (half the weight memory); fp32 elsewhere.

    Text encoder, projections and EnCodec stay fp32; generation runs under autocast so norms and softmax
    keep fp32 precision.
    """
    import torch

    return torch.float16 if device.startswith("cuda") else None


def resolve_device(device: str | None) -> str:
    """``None`` picks CUDA when present, else CPU; an unavailable CUDA request is a user error."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserInputError(f"device {device!r} was asked for but no CUDA GPU is visible; use device 'cpu'")
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise UserInputError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
    return device


def free_memory_bytes(device: str) -> int:
    """Free memory on the device (CUDA: driver's free figure; CPU: /proc/meminfo MemAvailable)."""
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 64 * GIB  # unknown platform: do not block, the OS will tell


def _check_fits(name: str, device: str) -> None:
    need = (vram_gb(name) if half_dtype(device) is not None else weights_gb(name, half=False)) * GIB
    free = free_memory_bytes(device)
    if need > free:
        raise UserInputError(
            f"model {name!r} needs about {need / GIB:.1f} GiB but only {free / GIB:.1f} GiB is free on "
            f"{device}; use a smaller model (e.g. facebook/musicgen-small), another device, or free memory"
        )


def _from_pretrained(name: str, melody: bool) -> tuple[Any, Any]:
    """A hub checkpoint (cache or download) or a local folder, every weight in float32.

    Without ``dtype`` transformers 5 keeps the dtype stored in the checkpoint (fp16 for the stereo ones), so
    T5, EnCodec and the projections would be half precision too and fp32 chroma or audio would not go in;
    ``load_model`` halves only the decoder, on CUDA.
    """
    import torch
    from transformers import (
        AutoTokenizer,
        MusicgenForConditionalGeneration,
        MusicgenMelodyForConditionalGeneration,
    )

    cls = MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration
    folder = local_folder(name)
    source = name if folder is None else str(folder)
    local_only = folder is not None or hub_offline() or weights_cached(name)
    options: dict[str, Any] = {"local_files_only": local_only, "cache_dir": str(hf_cache_dir())}
    try:
        model = cls.from_pretrained(source, dtype=torch.float32, **options)
        # The processor of the melody checkpoints needs torchaudio; only the tokenizer is needed here.
        tokenizer = AutoTokenizer.from_pretrained(source, **options)
    except OSError as exc:
        broken = f"the checkpoint in {folder} cannot be loaded ({exc}); save it again with `save_pretrained`"
        raise ModelUnavailableError(unavailable_message(name) if folder is None else broken) from exc
    return model, tokenizer


# The KV cache grows window by window and batches differ in size: expandable segments let PyTorch's CUDA caching
# allocator grow a segment in place instead of fragmenting memory into blocks of every size (PyTorch, "CUDA
# semantics: optimizing memory usage with PYTORCH_CUDA_ALLOC_CONF"). CUDA reads it at its first allocation.
CUDA_ALLOC_CONF = "expandable_segments:True"


def configure_cuda_allocator(device: str) -> bool:
    """Use expandable segments on ``device`` unless the user set PYTORCH_CUDA_ALLOC_CONF or CUDA is already
    initialised (too late then); True when it was set."""
    import os

    import torch

    if (
        not device.startswith("cuda")
        or "PYTORCH_CUDA_ALLOC_CONF" in os.environ
        or torch.cuda.is_initialized()
    ):
        return False
    os.environ["PYTORCH_CUDA_ALLOC_CONF"] = CUDA_ALLOC_CONF
    return True


def load_model(name: str, device: str) -> Loaded:
    """Build or load ``name`` on ``device`` in eval mode; fail fast when weights are missing offline."""
    from stems.musicgen.debug_models import build_debug, build_random

    configure_cuda_allocator(device)
    info = model_info(name)
    melody = info.takes_melody
    if name in DEBUG_MODELS:
        model, tokenizer = build_debug(name)
    elif name.startswith(RANDOM_PREFIX):
        _check_fits(name, device)
        model, tokenizer = build_random(name)
    else:
        if hub_offline() and not weights_cached(name):
            raise ModelUnavailableError(unavailable_message(name))
        _check_fits(name, device)
        model, tokenizer = _from_pretrained(name, melody)
    half = half_dtype(device)
    if half is not None:
        model.decoder.to(half)
    log.info("loaded %s on %s (decoder %s)", name, device, half or "fp32")
    return Loaded(model.to(device).eval(), tokenizer, melody, half)


def kv_bytes_per_item(model: Any, frames: int, prefix: int, cfg: bool, half: bool) -> int:
    """KV-cache bytes one request of ``model`` needs for a window (see ``stems.musicgen.models.kv_cache_bytes``)."""
    dec = model.config.decoder
    return kv_cache_bytes(
        dec.num_hidden_layers, dec.hidden_size, frames + dec.num_codebooks + prefix, cfg, half
    )


def max_batch(model: Any, device: str, frames: int, prefix: int, cfg: bool, name: str) -> int:
    """How many requests fit in one batched window; a clear error when not even one does."""
    half = half_dtype(device) is not None
    per_item = kv_bytes_per_item(model, frames, prefix, cfg, half)
    free = free_memory_bytes(device) * MEMORY_HEADROOM
    fits = math.floor(free / per_item)
    if fits < 1:
        raise UserInputError(
            f"one {frames}-frame window of model {name!r} needs about {per_item / GIB:.2f} GiB of working "
            f"memory but only {free / GIB:.2f} GiB is usable on {device}; use a smaller model, a shorter "
            f"window, another device, or free memory"
        )
    return fits
