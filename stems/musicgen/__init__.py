"""MusicGen stems: the :class:`Generator` facade, its request/result types, the model catalog, window planning,
melody chroma and the speed table. Heavy modules (torch: load, sampling, windows, fast decode) load on first use."""

from __future__ import annotations

from stems.musicgen.generator import SILENCE_RMS, Generator, check_continuation, check_melody, get_generator
from stems.musicgen.models import (
    DEBUG_MODELS,
    RANDOM_PREFIX,
    checkpoint_fingerprint,
    describe_model,
    hub_offline,
    is_builtin_name,
    is_local_checkpoint,
    is_offline_model,
    known_models,
    looks_like_path,
    model_info,
    unavailable_message,
    vram_gb,
    weights_cached,
)
from stems.musicgen.plan import (
    MUSICGEN_WINDOW_S,
    SectionSpan,
    bar_seconds,
    generation_order,
    plan_windows,
    section_spans,
)
from stems.musicgen.speed import estimates
from stems.musicgen.types import GeneratedStem, SamplingParams, StemRequest, WindowTokens

__all__ = [
    "DEBUG_MODELS",
    "GeneratedStem",
    "Generator",
    "MUSICGEN_WINDOW_S",
    "RANDOM_PREFIX",
    "SILENCE_RMS",
    "SamplingParams",
    "SectionSpan",
    "StemRequest",
    "WindowTokens",
    "bar_seconds",
    "check_continuation",
    "check_melody",
    "checkpoint_fingerprint",
    "describe_model",
    "estimates",
    "generation_order",
    "get_generator",
    "hub_offline",
    "is_builtin_name",
    "is_local_checkpoint",
    "is_offline_model",
    "known_models",
    "looks_like_path",
    "model_info",
    "plan_windows",
    "section_spans",
    "unavailable_message",
    "vram_gb",
    "weights_cached",
]
