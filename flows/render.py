"""Prefect flow ``render_arrangement``: thin tasks around :mod:`flows.stages`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from flows import generation, progress, stages
from flows.manifest import build_manifest, list_outputs, write_manifest
from flows.schema import Arrangement, Stem
from flows.paths import RenderPaths, prepare_render_folder


class _ArtifactProgress:
    """Publishes a Prefect progress artifact for a generation batch, at most every 2 %."""

    def __init__(self, description: str) -> None:
        self.artifact_id = create_progress_artifact(progress=0.0, description=description)
        self.last = 0.0

    def __call__(self, label: str, done: int, total: int) -> None:
        percent = 100.0 * done / max(total, 1)
        if percent - self.last >= 2.0 or done >= total:
            self.last = percent
            update_progress_artifact(artifact_id=self.artifact_id, progress=percent)


@task(name="generate", cache_policy=NO_CACHE)
def generate_task(arrangement: Arrangement, model: str, names: list[str], paths: RenderPaths) -> dict[str, Any]:
    publish = _ArtifactProgress(f"Generating {', '.join(names)} with {model}")
    return generation.generate_batch(arrangement, model, names, paths, progress.callback(publish))


@task(name="separate-and-clean", cache_policy=NO_CACHE)
def refine_task(arrangement: Arrangement, stem: Stem, paths: RenderPaths) -> dict[str, Any]:
    return stages.refine_stem(arrangement, stem, paths)


@task(name="transcribe", cache_policy=NO_CACHE)
def transcribe_task(arrangement: Arrangement, stem: Stem, paths: RenderPaths) -> Any:
    return stages.transcribe_stem(arrangement, stem, paths)


@task(name="mix-and-master", cache_policy=NO_CACHE)
def mix_task(arrangement: Arrangement, stems: list[Stem], paths: RenderPaths) -> dict[str, Any]:
    return stages.mix_and_master(arrangement, stems, paths)


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    progress.message(f"{stage}...")
    yield
    timings[stage] = round(time.perf_counter() - started, 3)


def _midi_record(track: Any, seconds: float) -> dict[str, Any] | None:
    if track is None:
        return None
    return {"instrument": track.instrument, "program": track.program, "is_drum": track.is_drum,
            "notes": len(track.notes), "warnings": list(track.warnings), "seconds": round(seconds, 3)}  # fmt: skip


def _transcribe_all(arrangement: Arrangement, stems: list[Stem], paths: RenderPaths) -> tuple[list[Any], dict]:
    tracks, records = [], {}
    for stem in stems:
        started = time.perf_counter()
        track = transcribe_task(arrangement, stem, paths)
        tracks.append(track)
        records[stem.name] = _midi_record(track, time.perf_counter() - started)
    return tracks, records


@flow(name="render_arrangement")
def render_arrangement(
    arrangement: Arrangement,
    out_dir: str = "renders",
    force: bool = False,
    only: list[str] | None = None,
    source: str | None = None,
) -> str:
    """Render one arrangement into ``out_dir/<slug>/`` and return that folder."""
    timings: dict[str, float] = {}
    paths = prepare_render_folder(arrangement.title, Path(out_dir), force)
    stems = generation.selected_stems(arrangement, only)
    generated: dict[str, Any] = {}
    with _timed(timings, "generate"):
        for model, names in generation.generation_batches(arrangement, stems):
            generated.update(generate_task(arrangement, model, names, paths))
    with _timed(timings, "separate_and_clean"):
        futures = [refine_task.submit(arrangement, stem, paths) for stem in stems]
        refined = {stem.name: f.result() for stem, f in zip(stems, futures)}
    with _timed(timings, "transcribe"):
        tracks, midi = _transcribe_all(arrangement, stems, paths)
        stages.write_track_midi(arrangement, tracks, paths)
    with _timed(timings, "mix_and_master"):
        loudness = mix_task(arrangement, stems, paths)
    stem_records = {
        s.name: {"generation": generated[s.name], "refine": refined[s.name], "midi": midi[s.name],
                 "loudness": loudness["stems"][s.name], "gain_db_applied": loudness["stem_gain_db"].get(s.name)}
        for s in stems
    }  # fmt: skip
    manifest = build_manifest(
        title=arrangement.title,
        source=source,
        render={"out_dir": str(Path(out_dir).resolve()), "force": force, "only": only},
        seed=arrangement.seed,
        arrangement=arrangement.model_dump(mode="json"),
        stems=stem_records,
        mix={k: loudness[k] for k in ("master", "master_gain_db", "master_iterations", "files")},
        timings=timings,
        files=list_outputs(paths.root),
    )
    write_manifest(paths.manifest, manifest)
    return str(paths.root)
