"""Band mode without Prefect: the Demucs split of the band take into the stems that say ``from: band``.

The take is one more generation item (:func:`flows.pipeline.generation.band_take`, written to raw/band.wav). It is split
once per track, with the model that has every source a band stem takes, and each band stem's source becomes its
raw/<stem>.wav, cleaned, transcribed and mixed like a generated stem's. So the band stems share one clock and one
key by construction, and an edit of a band stem's gain or cleanup reuses the take and its split.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from flows.pipeline.cache import StageCache, file_digest, stage_key
from flows.pipeline.generation import band_prompt
from flows.pipeline.paths import RenderPaths
from flows.pipeline.records import BandRecord, CleanRecord, GenerationRecord, SeparationRecord
from flows.schema.checks import BAND
from flows.schema.models import Arrangement, Stem
from stems.audio import read_audio, write_bytes_atomic, write_wav
from stems.separation.catalog import MODEL_SOURCES, SOURCES


def band_sources(arrangement: Arrangement) -> tuple[str, ...]:
    """Every source a band stem of ``arrangement`` takes, in Demucs' order: the split is the same whichever of
    its stems a render selects (``--only``)."""
    wanted = {s.source for s in arrangement.stems if s.from_band}
    return tuple(source for source in SOURCES if source in wanted)


def band_separation_model(arrangement: Arrangement) -> str | None:
    """The Demucs model that splits the take: the requested one, or its 6-source sibling when a band stem takes
    guitar or piano (``stems.separation.separator.model_for``); None without band stems. UserInputError when it lacks one."""
    from stems.separation.separator import model_for

    band_stem = next((s for s in arrangement.stems if s.from_band), None)
    if band_stem is None:
        return None
    requested = arrangement.stem_separation_model(band_stem)  # the same for every band stem
    models = [model_for(source, requested) for source in band_sources(arrangement)]
    return max(models, key=lambda name: len(MODEL_SOURCES[name]), default=None)


def separate_band(
    arrangement: Arrangement, stems: list[Stem], paths: RenderPaths
) -> dict[str, SeparationRecord]:
    """Split raw/band.wav once (or reuse the cached split) and write each band stem of ``stems`` its source as
    raw/<stem>.wav; returns a separation record per band stem."""
    band_stems = [s for s in stems if s.from_band]
    model = band_separation_model(arrangement) if band_stems else None
    if model is None:
        return {}
    sources = band_sources(arrangement)
    cache = StageCache(paths.root)
    key = stage_key(
        "separate", {"take": file_digest(paths.band_take), "sources": list(sources), "model": model}
    )
    found = cache.lookup("separate", BAND, key)
    record = (
        replace(SeparationRecord.from_json(found), reused=True)
        if found is not None
        else _split(model, sources, paths, cache, key)
    )
    for stem in band_stems:
        _copy(paths.band_source(stem.source or ""), paths.raw(stem.name))
    return {stem.name: replace(record, source=stem.source) for stem in band_stems}


def _split(
    model: str, sources: tuple[str, ...], paths: RenderPaths, cache: StageCache, key: str
) -> SeparationRecord:
    from stems.separation.separator import get_separator

    started, began = time.perf_counter(), time.time()
    split = get_separator(model).separate_sources(read_audio(paths.band_take), sources, name="the band take")
    for source, audio in split.items():
        write_wav(paths.band_source(source), audio)
    record = SeparationRecord(
        model=model,
        source=None,
        seconds=round(time.perf_counter() - started, 3),
        batch=(BAND,),
        sources=sources,
        started=began,
        finished=time.time(),
    )
    cache.store("separate", BAND, key, [paths.band_source(s) for s in sources], record.to_json())
    return replace(record, reused=False)


def _copy(source: Path, target: Path) -> None:
    """A band stem's raw/<stem>.wav is its source of the take, rewritten only when that changed."""
    data = source.read_bytes()
    if not target.is_file() or target.read_bytes() != data:
        write_bytes_atomic(target, data)


def stem_generation(generated: dict[str, GenerationRecord], stem: Stem) -> GenerationRecord:
    """A stem's generation record; a band stem's names the take's, which the manifest's ``band`` holds whole."""
    if not stem.from_band:
        return generated[stem.name]
    take = generated[BAND]
    return GenerationRecord(take.model, reused=take.reused, from_band=BAND, source=stem.source)


def manifest_section(
    arrangement: Arrangement,
    paths: RenderPaths,
    stems: list[Stem],
    generated: dict[str, GenerationRecord],
    cleaned: dict[str, CleanRecord],
) -> BandRecord | None:
    """The manifest's ``band``: the take's prompt, file, generation and split, and which stems came out of it
    (stem: source); None when the render made no take."""
    if arrangement.band is None or BAND not in generated:
        return None
    band_stems = [s for s in stems if s.from_band]
    separation = next((cleaned[s.name].separation for s in band_stems), None)
    return BandRecord(
        prompt=band_prompt(arrangement),
        take=paths.band_take.relative_to(paths.root).as_posix(),
        generation=generated[BAND],
        separation=replace(separation, source=None) if separation else None,
        stems={s.name: s.source for s in band_stems},
    )
