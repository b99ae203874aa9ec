"""The MusicGen checkpoints this project knows, their sizes, and whether their weights are cached.

Decoder dimensions are those of the MusicGen paper (Copet et al. 2023, "Simple and Controllable Music
Generation", table 1 / appendix A: 300M = 24 layers x 1024, 1.5B = 48 x 1536, 3.3B = 48 x 2048, FFN 4x,
64-dim heads) and of the published transformers configs (T5-base text encoder, EnCodec 32 kHz with
4 codebooks of 2048 entries at 50 Hz; stereo checkpoints interleave 4 left + 4 right codebooks).
``random:NAME`` builds that architecture with random weights (no download) for speed measurements.
A local folder in the Hugging Face format (a fine-tuned MusicGen, a mirror of the hub) is described from its
``config.json`` and the headers of its weight files, without importing torch or transformers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stems.errors import UserInputError
from stems.licenses import PROJECT_LICENSE, License, folder_license
from stems.musicgen.plan import MUSICGEN_WINDOW_S

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
CONFIG_FILE = "config.json"
# A folder's config.json `model_type` -> whether the model takes a melody (transformers' MusicgenConfig and
# MusicgenMelodyConfig).
LOCAL_MODEL_TYPES = {"musicgen": False, "musicgen_melody": True}
_TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")


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
# meta-device build (tests/stems/musicgen/test_speed.py checks them). The names' 300M/1.5B/3.3B are nominal: the text-only
# decoders carry cross-attention to the text, the melody ones prepend it instead, hence their smaller totals.
CHECKPOINTS: dict[str, tuple[str, int, bool, float, float]] = {
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
# Every checkpoint above: "The model weights are released under the CC-BY-NC 4.0 license" (audiocraft's README,
# LICENSE_weights and MODEL_CARD; the hub's model cards say `license: cc-by-nc-4.0`). Non-commercial.
CHECKPOINT_LICENSE = "CC-BY-NC-4.0"

# Memory model (GPU): the decoder's weights are fp16 on CUDA (stems.musicgen.load.half_dtype), the text encoder,
# projections and EnCodec stay fp32; the self-attention KV cache is fp16, two rows per stem with classifier-free
# guidance; x1.3 covers prefill activations and logits; plus the CUDA context. Melody checkpoints prepend 235
# chroma frames and up to 256 text tokens to every window.
FRAME_RATE = 50
KV_OVERHEAD = 1.3
CUDA_CONTEXT_GB = 0.5
CHROMA_LENGTH = 235
TEXT_MAX_TOKENS = 256  # generous for a prompt + context + section text; T5 itself allows 512
GIB = 1024**3


def kv_cache_bytes(layers: int, hidden: int, positions: int, cfg: bool, half: bool) -> int:
    """KV-cache bytes one stem needs for a window: layers x (k, v) x positions x hidden x dtype."""
    per = layers * 2 * positions * hidden * (2 if half else 4)
    return int(per * (2 if cfg else 1) * KV_OVERHEAD)


@dataclass(frozen=True)
class Architecture:
    """What the memory model needs of a checkpoint: decoder dims, channels, melody, parameters (millions)."""

    dims: DecoderDims
    channels: int
    takes_melody: bool
    params_m: float
    decoder_m: float


def architecture(name: str) -> Architecture | None:
    """The architecture of a real, random-init or local checkpoint; None for the tiny debug models."""
    model_info(name)
    base = name.removeprefix(RANDOM_PREFIX)
    if name in _DEBUG_INFO:
        return None
    if base in CHECKPOINTS:
        size, channels, melody, params, decoder = CHECKPOINTS[base]
        return Architecture(DIMS[size], channels, melody, params, decoder)
    local = _local(name)
    assert local is not None, name  # model_info accepted it
    return local.architecture


def _weights_gb(arch: Architecture, half: bool) -> float:
    return (arch.params_m * 4 - (arch.decoder_m * 2 if half else 0)) * 1e6 / GIB


def weights_gb(name: str, half: bool) -> float:
    """Memory (GiB) of the weights: all fp32, or (``half``) with the decoder in fp16 as on CUDA."""
    arch = architecture(name)
    return 0.0 if arch is None else _weights_gb(arch, half)


def vram_gb(name: str, stems: int = 1) -> float:
    """GPU memory (GiB) a batch of ``stems`` of ``name`` needs for 30 s windows with CFG (the default sampling)."""
    arch = architecture(name)
    if arch is None:
        return 0.0
    prefix = CHROMA_LENGTH + TEXT_MAX_TOKENS if arch.takes_melody else 0
    positions = round(MUSICGEN_WINDOW_S * FRAME_RATE) + 4 * arch.channels + prefix
    dims = arch.dims
    kv = kv_cache_bytes(dims.num_hidden_layers, dims.hidden_size, positions, cfg=True, half=True)
    return round(_weights_gb(arch, half=True) + stems * kv / GIB + CUDA_CONTEXT_GB, 1)


_DEBUG_INFO = {
    "debug": ModelInfo("debug", "musicgen", 0.2, 1, SAMPLE_RATE, False),
    "debug-stereo": ModelInfo("debug-stereo", "musicgen", 0.2, 2, SAMPLE_RATE, False),
    "debug-melody": ModelInfo("debug-melody", "musicgen-melody", 0.2, 1, SAMPLE_RATE, True),
}


def _checkpoint_info(name: str) -> ModelInfo:
    _size, channels, melody, params, _decoder = CHECKPOINTS[name]
    kind = "musicgen-melody" if melody else "musicgen"
    return ModelInfo(name, kind, params, channels, SAMPLE_RATE, melody)


def known_models() -> list[ModelInfo]:
    """Every real checkpoint, then the offline debug models."""
    return [_checkpoint_info(n) for n in CHECKPOINTS] + list(_DEBUG_INFO.values())


def model_info(name: str) -> ModelInfo:
    """Facts about a model name; ``random:NAME`` reports NAME's architecture (random weights, nothing cached)."""
    if name in _DEBUG_INFO:
        return _DEBUG_INFO[name]
    if name in CHECKPOINTS:
        return _checkpoint_info(name)
    if _is_random(name):
        base = _checkpoint_info(name[len(RANDOM_PREFIX) :])
        return ModelInfo(name, base.kind, base.params_m, base.channels, base.sample_rate, base.takes_melody)
    local = _local(name)
    if local is not None:
        return local.info(name)
    if looks_like_path(name):
        raise UserInputError(
            f"model folder {name!r} does not exist (looked in {Path(name).expanduser().absolute()}); "
            "give the folder of a MusicGen checkpoint in the Hugging Face format (as `save_pretrained` writes it)"
        )
    names = ", ".join([*CHECKPOINTS, *_DEBUG_INFO])
    raise UserInputError(
        f"unknown model {name!r}; known models: {names} (or random:<name> for random weights, or the folder "
        "of a MusicGen checkpoint in the Hugging Face format, e.g. ./models/my-musicgen). "
        "Fix the `model:` field; `musicmaker models` lists them"
    )


def describe_model(name: str) -> str:
    """One line on what ``name`` is and where it comes from, for `validate` and `render --dry-run`."""
    info = model_info(name)
    channels = {1: "mono", 2: "stereo"}.get(info.channels, f"{info.channels} channels")
    facts = f"{info.kind}, {channels}, {info.sample_rate} Hz"
    if name in _DEBUG_INFO:
        return f"{name}: tiny random {facts}, built offline"
    if _is_random(name):
        return f"{name}: {facts}, {info.params_m:g}M params, random weights (no download)"
    local = _local(name)
    if local is None:
        return f"{name}: {facts}, {info.params_m:g}M params (Hugging Face hub)"
    return (
        f"local checkpoint {local.path}: {facts}, {info.params_m:g}M params "
        f"(from its {CONFIG_FILE}; weights stored as {local.stored_dtype}, loaded as float32, the decoder "
        f"as float16 on CUDA); licence {model_license(name).name}"
    )


def model_license(name: str) -> License:
    """The licence of ``name``'s weights: the published checkpoints' (``random:`` and debug models are random
    weights this project builds, under its own licence); a local folder's as it states it, else unknown."""
    model_info(name)
    if name in CHECKPOINTS:
        return License(CHECKPOINT_LICENSE, "MusicGen's weights, audiocraft's LICENSE_weights")
    if name in _DEBUG_INFO or _is_random(name):
        return License(PROJECT_LICENSE, "random weights built by musicmaker")
    local = _local(name)
    assert local is not None, name  # model_info accepted it
    return folder_license(local.path, CONFIG_FILE)


def _is_random(name: str) -> bool:
    return name.startswith(RANDOM_PREFIX) and name[len(RANDOM_PREFIX) :] in CHECKPOINTS


def checkpoint_dims(name: str) -> tuple[DecoderDims, int, bool]:
    """Decoder dims, audio channels and melody flag of a real checkpoint name (for random-init builds)."""
    size, channels, melody, _params, _decoder = CHECKPOINTS[name]
    return DIMS[size], channels, melody


def is_builtin_name(name: str) -> bool:
    """A hub checkpoint, debug or ``random:`` name: never read as a folder."""
    return name in _DEBUG_INFO or name in CHECKPOINTS or _is_random(name)


def looks_like_path(name: str) -> bool:
    """Written as a path (``./x``, ``../x``, ``/x``, ``~/x``, ``x/``), so a folder is meant even if missing."""
    return name.startswith(("/", "./", "../", "~")) or name.endswith("/") or os.path.isabs(name)


def checkpoint_fingerprint(name: str) -> str | None:
    """What a local checkpoint folder holds, for cache keys: its config and each file's name, size and change
    time (a fine-tune saved into the same folder changes it); None for a hub, debug or random name."""
    local = _local(name)
    if local is None:
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in local.path.iterdir() if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update((local.path / CONFIG_FILE).read_bytes())
    return digest.hexdigest()


def is_local_checkpoint(name: str) -> bool:
    """``name`` is a checkpoint folder on this machine (not a hub, debug or random name)."""
    return _local(name) is not None


def is_offline_model(name: str) -> bool:
    """Debug and random-init models are built in-process, local folders are read from disk: no network."""
    if name in _DEBUG_INFO or name.startswith(RANDOM_PREFIX):
        return True
    return name not in CHECKPOINTS and local_folder(name) is not None


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


# Local checkpoints. Missing config keys take transformers' defaults (MusicgenDecoderConfig: the small
# decoder, 4 codebooks of 2048, mono; EncodecConfig: 24 kHz), as its loader would.
_DECODER_DEFAULTS = {"vocab_size": 2048, "num_codebooks": 4, "audio_channels": 1}
_ENCODEC_DEFAULT_RATE = 24_000
_DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class LocalCheckpoint:
    """A MusicGen folder in the Hugging Face format, as its config.json and weight-file headers describe it."""

    path: Path
    architecture: Architecture
    sample_rate: int
    stored_dtype: str  # what config.json records; the loader reads every checkpoint as float32

    def info(self, name: str) -> ModelInfo:
        arch = self.architecture
        kind = "musicgen-melody" if arch.takes_melody else "musicgen"
        params = round(arch.params_m, 1)
        return ModelInfo(name, kind, params, arch.channels, self.sample_rate, arch.takes_melody)


def local_folder(name: str) -> Path | None:
    """``name`` as an existing folder (``~`` expanded, relative names from the current directory), else None."""
    path = Path(name).expanduser()
    return path.resolve() if path.is_dir() else None


def _local(name: str) -> LocalCheckpoint | None:
    """The checkpoint in folder ``name``; None for a built-in name (they win over a folder of the same name)."""
    if is_builtin_name(name):
        return None
    folder = local_folder(name)
    return None if folder is None else read_checkpoint(folder)


def read_checkpoint(folder: Path) -> LocalCheckpoint:
    """Describe the MusicGen checkpoint in ``folder`` (no weights loaded); a UserInputError says what is wrong."""
    config = _read_config(folder)
    if not any((folder / f).is_file() for f in _TOKENIZER_FILES):
        raise UserInputError(
            f"local checkpoint {folder} has no tokenizer ({' or '.join(_TOKENIZER_FILES)}); copy the tokenizer "
            "files of the checkpoint it was fine-tuned from (spiece.model, tokenizer.json, tokenizer_config.json, "
            "special_tokens_map.json), or save them with `processor.save_pretrained(folder)`"
        )
    try:
        return _describe_config(folder, config)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserInputError(
            f"local checkpoint {folder}: its {CONFIG_FILE} or weight files cannot be read ({exc!r}); "
            "save the model again with `save_pretrained`"
        ) from exc


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise UserInputError(
            f"model folder {folder} has no {CONFIG_FILE}; give the folder of a MusicGen checkpoint in the "
            f"Hugging Face format ({CONFIG_FILE}, model.safetensors and tokenizer files, as `save_pretrained` "
            "writes them)"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserInputError(
            f"{path} is not valid JSON ({exc}); save the model again with `save_pretrained`"
        ) from exc
    found = config.get("model_type") if isinstance(config, dict) else None
    if found not in LOCAL_MODEL_TYPES:
        allowed = " or ".join(repr(t) for t in LOCAL_MODEL_TYPES)
        raise UserInputError(
            f"model folder {folder} holds a model of type {found!r} ({CONFIG_FILE} `model_type`), not MusicGen; "
            f"allowed types are {allowed}. Point `model:` at a MusicGen checkpoint folder"
        )
    return dict(config)


def _describe_config(folder: Path, config: dict[str, Any]) -> LocalCheckpoint:
    melody = LOCAL_MODEL_TYPES[config["model_type"]]
    dec = {**_DECODER_DEFAULTS, **config.get("decoder", {})}
    dims = DecoderDims(**{k: int(dec.get(k, v)) for k, v in asdict(DIMS["small"]).items()})
    channels = int(dec["audio_channels"])
    codebooks = int(dec.get("num_codebooks", 4 * channels))
    decoder = decoder_params(dims, codebooks, int(dec["vocab_size"]), melody)
    stored = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    params = _stored_params(folder, stored)
    rate = int(config.get("audio_encoder", {}).get("sampling_rate", _ENCODEC_DEFAULT_RATE))
    arch = Architecture(dims, channels, melody, params / 1e6, decoder / 1e6)
    return LocalCheckpoint(folder, arch, rate, stored)


def decoder_params(dims: DecoderDims, codebooks: int, vocab: int, melody: bool) -> int:
    """Parameters of transformers' MusicGen decoder, exact: per layer self-attention (4 h^2, no biases),
    cross-attention to the text (4 h^2; melody models prepend their conditions instead), a bias-free FFN and
    layer norms (2 h each); per codebook an embedding (vocab + the pad/bos token) and an LM head; a final norm."""
    h = dims.hidden_size
    attention, norms = (4, 2) if melody else (8, 3)
    layer = attention * h * h + 2 * h * dims.ffn_dim + norms * 2 * h
    return dims.num_hidden_layers * layer + codebooks * (2 * vocab + 1) * h + 2 * h


def _stored_params(folder: Path, stored_dtype: str) -> int:
    """Parameters in the weight files: counted from safetensors headers, else estimated from the sizes."""
    files = _weight_files(folder)
    if not files:
        raise UserInputError(
            f"local checkpoint {folder} has no weights (one of {', '.join(_WEIGHT_FILES)}); "
            "save the model with `save_pretrained` into that folder"
        )
    if files[0].suffix == ".safetensors":
        sizes = {key: n for f in files for key, n in _safetensors_sizes(f).items()}
        return sum(n for key, n in sizes.items() if _is_parameter(key, sizes))
    return sum(f.stat().st_size for f in files) // _DTYPE_BYTES.get(stored_dtype, 4)


def _is_parameter(key: str, keys: dict[str, int]) -> bool:
    """EnCodec's codebooks are buffers; T5's token embedding is tied to ``shared`` (older saves hold both)."""
    if ".codebook." in key:
        return False
    return not (key.startswith("text_encoder.encoder.embed_tokens.") and "text_encoder.shared.weight" in keys)


def _weight_files(folder: Path) -> list[Path]:
    """One weight file or the shards its index names (safetensors first, as transformers prefers them)."""
    for single, index in zip(_WEIGHT_FILES[::2], _WEIGHT_FILES[1::2], strict=True):
        if (folder / single).is_file():
            return [folder / single]
        if (folder / index).is_file():
            shards = json.loads((folder / index).read_text(encoding="utf-8"))["weight_map"].values()
            return [folder / shard for shard in sorted(set(shards))]
    return []


def _safetensors_sizes(path: Path) -> dict[str, int]:
    """Elements of each tensor in a safetensors file, from its header alone (u64 little-endian size, JSON)."""
    with path.open("rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
    return {key: math.prod(t["shape"]) for key, t in header.items() if key != "__metadata__"}
