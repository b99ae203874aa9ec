"""The Demucs models we know, the sources each emits and the default, defined once. Light (no torch, no demucs), so
the arrangement schema and the render checks read the same facts the separator uses.
"""

from __future__ import annotations

from stems.licenses import PROJECT_LICENSE, License

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

# Demucs' code and pretrained models are MIT (the demucs repository's LICENSE and README); the debug models are
# random weights this project builds, under its own licence.
# A test keeps every model of MODEL_SOURCES here.
LICENSES: dict[str, str] = {
    "htdemucs": "MIT",
    "htdemucs_ft": "MIT",
    "htdemucs_6s": "MIT",
    "mdx_extra": "MIT",
    "debug": PROJECT_LICENSE,
    "debug_6s": PROJECT_LICENSE,
}


def model_license(name: str) -> License:
    """The licence of the Demucs model ``name`` (one of :data:`MODEL_SOURCES`)."""
    source = "random weights built by musicmaker" if name in DEBUG_SOURCES else "Demucs' LICENSE"
    return License(LICENSES[name], source)
