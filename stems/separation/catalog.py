"""The Demucs models we know, the sources each emits and the default, defined once. Light (no torch, no demucs), so
the arrangement schema and the render checks read the same facts the separator uses.
"""

from __future__ import annotations

# Every source a model emits, in the order the models emit them (demucs/remote/*.yaml and the model cards).
SOURCES: tuple[str, ...] = ("drums", "bass", "other", "vocals", "guitar", "piano")
FOUR_SOURCES = SOURCES[:4]
SIX_SOURCE_ONLY = SOURCES[4:]  # guitar and piano: only the 6-source models have them
DEFAULT_MODEL = "htdemucs"
# The tiny random models of ``stems.separation.debug_model``, for offline runs and tests.
DEBUG_SOURCES: dict[str, tuple[str, ...]] = {"debug": FOUR_SOURCES, "debug_6s": SOURCES}
MODEL_SOURCES: dict[str, tuple[str, ...]] = {
    "htdemucs": FOUR_SOURCES,
    "htdemucs_ft": FOUR_SOURCES,
    "htdemucs_6s": SOURCES,
    "mdx_extra": FOUR_SOURCES,
    **DEBUG_SOURCES,
}
# Requested models (None: the default) that silently become their 6-source sibling when guitar or piano is asked for.
SIX_SOURCE_SIBLING: dict[str | None, str] = {
    None: "htdemucs_6s",
    DEFAULT_MODEL: "htdemucs_6s",
    "debug": "debug_6s",
}
