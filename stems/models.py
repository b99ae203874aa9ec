"""The MusicGen checkpoints this project knows, their sizes, and whether their weights are cached.

Decoder dimensions are those of the MusicGen paper (Copet et al. 2023, "Simple and Controllable Music
Generation", table 1 / appendix A: 300M = 24 layers x 1024, 1.5B = 48 x 1536, 3.3B = 48 x 2048, FFN 4x,
64-dim heads) and of the published transformers configs (T5-base text encoder, EnCodec 32 kHz with
4 codebooks of 2048 entries at 50 Hz; stereo checkpoints interleave 4 left + 4 right codebooks).
``random:NAME`` builds that architecture with random weights (no download) for speed measurements.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stems.errors import UserInputError

DEBUG_MODELS = ("debug", "debug-stereo", "debug-melody")
RANDOM_PREFIX = "random:"
SAMPLE_RATE = 32_000
# Weight files a transformers checkpoint may ship (single file or sharded index).
_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


@dataclass(frozen=True)
class ModelInfo:
    """What the CLI's `musicmaker models` lists and what the planner needs before loading anything."""

    name: str
    kind: str  # "musicgen" or "musicgen-melody"
    params_m: float
    channels: int
    sample_rate: int
    takes_melody: bool

    @property
    def vram_gb(self) -> float:
        """GPU memory for one stem (``vram_gb(name, stems)`` for a batch)."""
        return vram_gb(self.name)


@dataclass(frozen=True)
class DecoderDims:
    """The decoder architecture of one checkpoint family (text encoder and codec are shared)."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    ffn_dim: int


DIMS = {
    "small": DecoderDims(1024, 24, 16, 4096),
    "medium": DecoderDims(1536, 48, 24, 6144),
    "large": DecoderDims(2048, 48, 32, 8192),
}

# name -> (decoder size, channels, takes_melody, parameters in millions: in all, in the decoder).
# Exact counts of the transformers architecture (T5-base + EnCodec 32 kHz + projections + decoder), from a
# meta-device build (tests/test_speed.py checks them). The names' 300M/1.5B/3.3B are nominal: the text-only
# decoders carry cross-attention to the text, the melody ones prepend it instead, hence their smaller totals.
_CHECKPOINTS: dict[str, tuple[str, int, bool, float, float]] = {
    "facebook/musicgen-small": ("small", 1, False, 586.9, 419.6),
    "facebook/musicgen-medium": ("medium", 1, False, 2005.3, 1837.6),
    "facebook/musicgen-large": ("large", 1, False, 3423.5, 3255.4),
    "facebook/musicgen-melody": ("medium", 1, True, 1552.1, 1384.4),
    "facebook/musicgen-melody-large": ("large", 1, True, 2618.0, 2449.9),
    "facebook/musicgen-stereo-small": ("small", 2, False, 603.7, 436.4),
    "facebook/musicgen-stereo-medium": ("medium", 2, False, 2030.4, 1862.7),
    "facebook/musicgen-stereo-large": ("large", 2, False, 3457.0, 3288.9),
    "facebook/musicgen-stereo-melody": ("medium", 2, True, 1577.3, 1409.6),
    "facebook/musicgen-stereo-melody-large": ("large", 2, True, 2651.6, 2483.4),
}

# Memory model (GPU): the decoder's weights are fp16 on CUDA (stems.musicgen_load.half_dtype), the text encoder,
# projections and EnCodec stay fp32; the self-attention KV cache is fp16, two rows per stem with classifier-free
# guidance; x1.3 covers prefill activations and logits; plus the CUDA context. Melody checkpoints prepend 235
# chroma frames and up to 256 text tokens to every window.
FRAME_RATE = 50
WINDOW_S = 30.0
KV_OVERHEAD = 1.3
CUDA_CONTEXT_GB = 0.5
CHROMA_LENGTH = 235
TEXT_MAX_TOKENS = 256  # generous for a prompt + context + section text; T5 itself allows 512
GIB = 1024**3


def kv_cache_bytes(layers: int, hidden: int, positions: int, cfg: bool, half: bool) -> int:
    """KV-cache bytes one stem needs for a window: layers x (k, v) x positions x hidden x dtype."""
    per = layers * 2 * positions * hidden * (2 if half else 4)
    return int(per * (2 if cfg else 1) * KV_OVERHEAD)


def weights_gb(name: str, half: bool) -> float:
    """Memory (GiB) of the weights: all fp32, or (``half``) with the decoder in fp16 as on CUDA."""
    info = model_info(name)
    if name in _DEBUG_INFO:
        return 0.0
    decoder_m = _CHECKPOINTS[name.removeprefix(RANDOM_PREFIX)][4]
    return (info.params_m * 4 - (decoder_m * 2 if half else 0)) * 1e6 / GIB


def vram_gb(name: str, stems: int = 1) -> float:
    """GPU memory (GiB) a batch of ``stems`` of ``name`` needs for 30 s windows with CFG (the default sampling)."""
    weights = weights_gb(name, half=True)
    if name in _DEBUG_INFO:
        return 0.0
    dims, channels, melody = checkpoint_dims(name.removeprefix(RANDOM_PREFIX))
    positions = (
        round(WINDOW_S * FRAME_RATE) + 4 * channels + (CHROMA_LENGTH + TEXT_MAX_TOKENS if melody else 0)
    )
    kv = kv_cache_bytes(dims.num_hidden_layers, dims.hidden_size, positions, cfg=True, half=True)
    return round(weights + stems * kv / GIB + CUDA_CONTEXT_GB, 1)


_DEBUG_INFO = {
    "debug": ModelInfo("debug", "musicgen", 0.2, 1, SAMPLE_RATE, False),
    "debug-stereo": ModelInfo("debug-stereo", "musicgen", 0.2, 2, SAMPLE_RATE, False),
    "debug-melody": ModelInfo("debug-melody", "musicgen-melody", 0.2, 1, SAMPLE_RATE, True),
}


def _checkpoint_info(name: str) -> ModelInfo:
    _size, channels, melody, params, _decoder = _CHECKPOINTS[name]
    kind = "musicgen-melody" if melody else "musicgen"
    return ModelInfo(name, kind, params, channels, SAMPLE_RATE, melody)


def known_models() -> list[ModelInfo]:
    """Every real checkpoint, then the offline debug models."""
    return [_checkpoint_info(n) for n in _CHECKPOINTS] + list(_DEBUG_INFO.values())


def model_info(name: str) -> ModelInfo:
    """Facts about a model name; ``random:NAME`` reports NAME's architecture (random weights, nothing cached)."""
    if name in _DEBUG_INFO:
        return _DEBUG_INFO[name]
    if name in _CHECKPOINTS:
        return _checkpoint_info(name)
    if name.startswith(RANDOM_PREFIX) and name[len(RANDOM_PREFIX) :] in _CHECKPOINTS:
        base = _checkpoint_info(name[len(RANDOM_PREFIX) :])
        return ModelInfo(name, base.kind, base.params_m, base.channels, base.sample_rate, base.takes_melody)
    names = ", ".join([*_CHECKPOINTS, *_DEBUG_INFO])
    raise UserInputError(
        f"unknown model {name!r}; known models: {names} (or random:<name> for random weights). "
        "Fix the `model:` field; `musicmaker models` lists them"
    )


def checkpoint_dims(name: str) -> tuple[DecoderDims, int, bool]:
    """Decoder dims, audio channels and melody flag of a real checkpoint name (for random-init builds)."""
    size, channels, melody, _params, _decoder = _CHECKPOINTS[name]
    return DIMS[size], channels, melody


def is_offline_model(name: str) -> bool:
    """Debug and random-init models are built in-process and never touch the network."""
    return name in _DEBUG_INFO or name.startswith(RANDOM_PREFIX)


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub).

    Read from the environment at call time (huggingface_hub's constants are frozen at its import).
    """
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def weights_cached(name: str) -> bool:
    """True when ``name`` can load without the network (debug/random models always can)."""
    model_info(name)
    if is_offline_model(name):
        return True
    from huggingface_hub import try_to_load_from_cache

    def cached(filename: str) -> bool:
        found = try_to_load_from_cache(name, filename, cache_dir=str(hf_cache_dir()))
        return isinstance(found, str)

    return cached("config.json") and any(cached(f) for f in _WEIGHT_FILES)


def unavailable_message(name: str) -> str:
    return (
        f"weights for model {name!r} are not in the Hugging Face cache ({hf_cache_dir()}) and cannot be "
        f"downloaded here. On a connected machine run `huggingface-cli download {name}` and copy the cache "
        f"folder over (or point HF_HOME at a folder holding it), or use model `debug` to render offline"
    )
