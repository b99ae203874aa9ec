"""Demucs separation and stem cleanup: the :class:`Separator` facade, the model catalog (light, no torch),
model loading and the offline debug model, and :func:`clean`."""

from __future__ import annotations

from stems.separation.catalog import DEBUG_SOURCES, DEFAULT_MODEL, MODEL_SOURCES, SOURCES
from stems.separation.cleanup import clean, settings_for
from stems.separation.models import hf_cache_has, network_reachable, torch_hub_has, unavailable_message
from stems.separation.separator import (
    Separator,
    check_separation_model,
    get_separator,
    melody_model,
    melody_sources,
    model_for,
    separate_sum,
)

__all__ = [
    "DEBUG_SOURCES",
    "DEFAULT_MODEL",
    "MODEL_SOURCES",
    "SOURCES",
    "Separator",
    "check_separation_model",
    "clean",
    "get_separator",
    "hf_cache_has",
    "melody_model",
    "melody_sources",
    "model_for",
    "network_reachable",
    "separate_sum",
    "settings_for",
    "torch_hub_has",
    "unavailable_message",
]
