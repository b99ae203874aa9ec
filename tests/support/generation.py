"""The generation stage as a render runs it, without Prefect: each follow level after the one before, one
``flows.pipeline.redo.generate_jobs`` job per model (section redos applied)."""

from __future__ import annotations

from flows.pipeline import generation, redo
from flows.pipeline.paths import RenderPaths
from flows.pipeline.records import GenerationRecord
from flows.schema import Arrangement


def generate_all(song: Arrangement, paths: RenderPaths) -> dict[str, GenerationRecord]:
    records: dict[str, GenerationRecord] = {}
    for level in generation.generation_levels(song, list(song.stems)):
        for model, names in level.items():
            (made,) = redo.generate_jobs(model, [generation.GenerationJob(song, paths, tuple(names))])
            records.update(made)
    return records
