"""Prefect flow ``render_arrangement`` and the task graph it shares with album renders.

Tasks are thin: each calls one function of :mod:`flows.pipeline.generation` or :mod:`flows.pipeline.stages`. The graph is submitted
at once so that the CPU stages of one track (separation, transcription, mixing) run while the next track's stems
are generating; GPU stages hold a slot of the `gpu` global concurrency limit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from flows.orchestration.gpu import ensure_gpu_limit, gpu_slot
from flows.pipeline import (
    CLEAN_TIMING,
    REPORT_DIR,
    REPORT_NAME,
    STAGES,
    CleanRecord,
    ConformRecord,
    GenerationJob,
    GenerationRecord,
    MixResult,
    RenderPaths,
    Reused,
    SeparationRecord,
    StageCache,
    StemRecord,
    Transcribed,
    adherence,
    band,
    build_manifest,
    generation,
    licenses,
    list_outputs,
    prepare_render_folder,
    progress,
    redo,
    refuse_running_album,
    render_lock,
    sessions,
    split_item,
    stages,
    take_item,
    takes,
)
from flows.report import publish
from flows.schema import MAX_TAKES, Arrangement, Stem, slugify
from stems.audio import read_audio
from stems.errors import MusicmakerError


def _retry_unless_user_error(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a failed stage (a transient fault may pass), never a user mistake (it would fail the same way)."""
    try:
        state.result()
    except MusicmakerError:
        return False
    except BaseException:  # noqa: BLE001 - any other failure may be transient
        return True
    return False


def _stage(name: str) -> Any:
    """A stage task: not cached by Prefect (the stage cache is ours), retried unless the user must act."""
    return task(
        name=name,
        cache_policy=NO_CACHE,
        retries=2,
        retry_delay_seconds=2,
        retry_condition_fn=_retry_unless_user_error,
    )


class _ArtifactProgress:
    """Publishes a Prefect progress artifact for a generation batch, at most every 2 %."""

    def __init__(self, description: str) -> None:
        self.artifact_id: Any = create_progress_artifact(progress=0.0, description=description)
        self.last = 0.0

    def __call__(self, label: str, done: int, total: int) -> None:
        percent = 100.0 * done / max(total, 1)
        if percent - self.last >= 2.0 or done >= total:
            self.last = percent
            update_progress_artifact(artifact_id=self.artifact_id, progress=percent)


@_stage("generate")
def generate_task(model: str, jobs: list[GenerationJob]) -> dict[str, dict[str, GenerationRecord]]:
    """One batched generation call (stems of one or more tracks sharing a model); returns {slug: {stem: record}}."""
    names = ", ".join(f"{j.paths.slug}/{n}" for j in jobs for n in j.names)
    with gpu_slot():
        publish = _ArtifactProgress(f"Generating {names} with {model}")
        results = redo.generate_jobs(model, jobs, progress.callback(publish))
    return {job.paths.slug: records for job, records in zip(jobs, results)}


def _stages_label(paths: RenderPaths) -> str:
    return f"{paths.slug}: clean, MIDI, mix"


@_stage("separate")
def separate_task(
    arrangement: Arrangement, stems: list[Stem], paths: RenderPaths
) -> dict[str, SeparationRecord]:
    with gpu_slot():  # Demucs runs where MusicGen runs
        records = stages.separate_track(arrangement, stems, paths)
        records.update(band.separate_band(arrangement, stems, paths))  # the band take, split once
    progress.advance(_stages_label(paths))
    return records


@_stage("clean")
def clean_task(
    arrangement: Arrangement, stem: Stem, paths: RenderPaths, separated: dict[str, SeparationRecord] | None
) -> CleanRecord:
    record = stages.clean_stem(arrangement, stem, paths, (separated or {}).get(stem.name))
    progress.advance(_stages_label(paths))
    return record


@_stage("conform")
def conform_task(arrangement: Arrangement, stem: Stem, paths: RenderPaths) -> ConformRecord:
    record = stages.conform_stem(arrangement, stem, paths)
    progress.advance(_stages_label(paths))
    return record


@_stage("takes")
def takes_task(arrangement: Arrangement, stem: Stem, paths: RenderPaths) -> takes.TakesResult:
    """Every take of a stem with takes: separated, cleaned, conformed, scored; the picked one installed."""
    with gpu_slot():  # Demucs runs where MusicGen runs; the rest is CPU work and leaves the slot free
        separated = takes.separate_takes(arrangement, stem, paths)
    result = takes.render_takes(arrangement, stem, paths, separated)
    progress.advance(_stages_label(paths))  # its cleanup
    progress.advance(_stages_label(paths))  # and its conform
    return result


@_stage("transcribe")
def transcribe_task(arrangement: Arrangement, stem: Stem, paths: RenderPaths) -> Transcribed:
    result = stages.transcribe_stem(arrangement, stem, paths)
    progress.advance(_stages_label(paths))
    return result


@_stage("mix-and-master")
def mix_task(
    arrangement: Arrangement, stems: list[Stem], paths: RenderPaths, tags: dict[str, str]
) -> MixResult:
    record = stages.mix_and_master(arrangement, stems, paths, tags)
    progress.advance(_stages_label(paths))
    return record


@dataclass(frozen=True)
class TrackJob:
    """One track of a render: its arrangement, folder and the stems to render."""

    arrangement: Arrangement
    paths: RenderPaths
    stems: tuple[Stem, ...]
    render: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)  # album and track number, for tracks of an album


def _timings(
    generated: dict[str, GenerationRecord],
    cleaned: dict[str, CleanRecord],
    conformed: list[ConformRecord],
    midi: list[Transcribed],
    mixed: MixResult,
    started: float,
) -> dict[str, float]:
    """Seconds spent on work done in this run (reused stages count zero); generation counted once per batch."""
    separations = [r.separation for r in cleaned.values() if r.separation]
    batches = {r.batch: r.seconds or 0.0 for r in generated.values() if not r.reused}
    return {
        "generate": round(sum(batches.values()), 3),
        CLEAN_TIMING: round(
            sum(r.seconds or 0.0 for r in cleaned.values() if not r.reused)
            + sum({s.batch: s.seconds or 0.0 for s in separations if not s.reused}.values()),
            3,
        ),
        "conform": round(sum(c.seconds or 0.0 for c in conformed if not c.reused), 3),
        "transcribe": round(sum(t.track.seconds for t in midi if t.track is not None and not t.reused), 3),
        "mix_and_master": 0.0 if mixed.reused else mixed.seconds or 0.0,
        "total": round(time.time() - started, 3),
    }


def _stem_stages(
    job: TrackJob,
    generated: list[dict[str, dict[str, GenerationRecord]]],
    cleaned: list[CleanRecord | takes.TakesResult],
    conformed: list[ConformRecord | takes.TakesResult],
) -> tuple[
    dict[str, GenerationRecord], dict[str, CleanRecord], list[ConformRecord], dict[str, takes.TakesResult]
]:
    """Each stem's generation, cleanup and conform records; a stem with takes has its picked take's (its
    generation reused when every take's was) and its takes."""
    gen = {name: rec for batch in generated for name, rec in batch.get(job.paths.slug, {}).items()}
    picked = {s.name: r for s, r in zip(job.stems, cleaned) if isinstance(r, takes.TakesResult)}
    for name, result in picked.items():
        reused = all(gen[take_item(name, t.take)].reused for t in result.takes)
        gen[name] = replace(gen[take_item(name, result.picked)], reused=reused)
    gen = {name: rec for name, rec in gen.items() if split_item(name)[1] is None}
    clean = {s.name: r.clean if isinstance(r, takes.TakesResult) else r for s, r in zip(job.stems, cleaned)}
    records = [c.conform if isinstance(c, takes.TakesResult) else c for c in conformed]
    return gen, clean, records, picked


@task(name="finish-track", cache_policy=NO_CACHE)
def finish_task(
    job: TrackJob,
    generated: list[dict[str, dict[str, GenerationRecord]]],
    cleaned: list[CleanRecord | takes.TakesResult],
    conformed: list[ConformRecord | takes.TakesResult],
    midi: list[Transcribed],
    mixed: MixResult,
    started: float,
) -> str:
    """Write the track's multi-track MIDI, its DAW sessions, its report and, last, its manifest (which marks the
    render finished)."""
    arrangement, paths = job.arrangement, job.paths
    stages.write_track_midi(arrangement, [t.track for t in midi], paths)
    chords = adherence.score_record(arrangement, list(job.stems), paths, read_audio(paths.mix("wav")))
    gen, clean, conformed_records, picked = _stem_stages(job, generated, cleaned, conformed)
    stem_records = {
        s.name: StemRecord(
            generation=band.stem_generation(gen, s),
            clean=clean[s.name],
            conform=c,
            midi=t.record,
            loudness=mixed.stems[s.name],
            gain_db_applied=mixed.stem_gain_db.get(s.name),
            takes=picked[s.name].takes if s.name in picked else (),
        ).to_json()
        for s, c, t in zip(job.stems, conformed_records, midi)
    }
    reused = Reused(
        generate=tuple(sorted(n for n, r in gen.items() if r.reused)),
        separate=tuple(sorted(n for n, r in clean.items() if r.separation and r.separation.reused)),
        clean=tuple(sorted(n for n, r in clean.items() if r.reused)),
        conform=tuple(sorted(s.name for s, c in zip(job.stems, conformed_records) if c.reused)),
        transcribe=tuple(sorted(s.name for s, t in zip(job.stems, midi) if t.reused)),
        mix_and_master=bool(mixed.reused),
    )
    band_record = band.manifest_section(arrangement, paths, list(job.stems), gen, clean)
    manifest = build_manifest(
        title=arrangement.title,
        slug=paths.slug,  # what its files are named after (session/<slug>.*), should the folder be renamed
        source=str(arrangement.source) if arrangement.source else None,
        render=job.render,
        seed=arrangement.seed,
        arrangement=arrangement.model_dump(mode="json"),
        stems=stem_records,
        band=None if band_record is None else band_record.to_json(),
        mix=mixed.mix.to_json(),
        licenses=licenses.licenses(arrangement, job.stems).to_json(),
        score=None if chords is None else chords.to_json(),
        timings=_timings(gen, clean, conformed_records, midi, mixed, started),
        reused=reused.to_json(),
        files=[],
    )
    # Sessions are outputs: written before the report and the manifest that lists every output with its hash.
    manifest["sessions"] = sessions.write_track_sessions(
        paths.root, paths.slug, manifest, list(arrangement.master.sessions)
    )
    publish(
        paths.root, paths.manifest.name, manifest, list_outputs(paths.root, skip=(REPORT_NAME, REPORT_DIR))
    )
    return str(paths.root)


def submit_generation(tracks: list[TrackJob], across_tracks: bool = True) -> list[list[PrefectFuture]]:
    """Generation tasks for ``tracks``, batched by (follow level, model, sampling settings), across tracks too
    when ``across_tracks`` (a batch can round a near-tie token differently from a solo render).

    Returns, per track, the futures of the batches holding its stems. A batch waits only for the previous
    level's batches of its own tracks, so one track's next level never waits on another track's generation.
    """
    per_track: list[list[PrefectFuture]] = [[] for _ in tracks]
    previous: list[list[PrefectFuture]] = [[] for _ in tracks]
    levels = [generation.generation_levels(t.arrangement, list(t.stems)) for t in tracks]
    for depth in range(max(len(lv) for lv in levels)):
        groups: dict[tuple[str, str, int], list[tuple[int, GenerationJob]]] = {}
        for i, track in enumerate(tracks):
            for model, names in (levels[i][depth] if depth < len(levels[i]) else {}).items():
                job = GenerationJob(track.arrangement, track.paths, tuple(names))
                settings = json.dumps(track.arrangement.generation.model_dump(), sort_keys=True)
                key = (model, settings, -1 if across_tracks else i)
                groups.setdefault(key, []).append((i, job))
        current: list[list[PrefectFuture]] = [[] for _ in tracks]
        for (model, _, _), members in groups.items():
            upstream = list({id(f): f for i, _ in members for f in previous[i]}.values())
            future = generate_task.submit(model, [job for _, job in members], wait_for=upstream)
            for i, _ in members:
                per_track[i].append(future)
                current[i].append(future)
        previous = [now or before for now, before in zip(current, previous)]
    return per_track


def submit_track_stages(
    track: TrackJob, generation_futures: list[PrefectFuture], started: float
) -> list[PrefectFuture]:
    """Separation, transcription, mix and manifest of one track, each starting as soon as its inputs exist.

    Returns every future of the track in dependency order, the manifest's last.
    """
    arrangement, paths, stems = track.arrangement, track.paths, list(track.stems)
    with_takes = {s.name for s in stems if takes.has_takes(arrangement, s)}
    separating = [s for s in stems if (s.separate or s.from_band) and s.name not in with_takes]
    progress.expect(_stages_label(paths), 3 * len(stems) + 1 + bool(separating))
    separated = (
        separate_task.submit(arrangement, separating, paths, wait_for=generation_futures)
        if separating
        else None
    )
    cleaned = [
        takes_task.submit(arrangement, s, paths, wait_for=generation_futures)
        if s.name in with_takes
        else clean_task.submit(
            arrangement, s, paths, separated if s in separating else None, wait_for=generation_futures
        )
        for s in stems
    ]
    conformed = [
        r if s.name in with_takes else conform_task.submit(arrangement, s, paths, wait_for=[r])
        for s, r in zip(stems, cleaned)
    ]
    midi = [transcribe_task.submit(arrangement, s, paths, wait_for=[c]) for s, c in zip(stems, conformed)]
    mixed = mix_task.submit(arrangement, stems, paths, track.tags, wait_for=conformed)
    finished = finish_task.submit(track, generation_futures, cleaned, conformed, midi, mixed, started)  # type: ignore[arg-type]
    return [
        *generation_futures,
        *([separated] if separated else []),
        *cleaned,
        *conformed,
        *midi,
        mixed,
        finished,
    ]


def run_tracks(tracks: list[TrackJob], across_tracks: bool = True) -> list[str]:
    """Run the whole task graph of ``tracks``; returns their folders.

    Results are collected in dependency order so that a failure surfaces as the stage's own exception (a user
    error stays a user error), not as a downstream task that never ran.
    """
    ensure_gpu_limit()
    started = time.time()
    generation_futures = submit_generation(tracks, across_tracks)
    graphs = [submit_track_stages(t, f, started) for t, f in zip(tracks, generation_futures)]
    for graph in graphs:
        for future in graph:
            future.result()
    return [str(graph[-1].result()) for graph in graphs]


def track_job(
    arrangement: Arrangement,
    out_dir: Path,
    force: bool,
    only: list[str] | None,
    slug: str | None = None,
    tags: dict[str, str] | None = None,
    album_run: str | None = None,
    keep_stages: bool = False,
) -> TrackJob:
    """The track's job, its folder prepared; ``album_run`` names the album render it belongs to (in the manifest).

    ``only`` names stems to redo, with those that follow them and the mix (see :func:`generation.render_stems`);
    with ``keep_stages`` (a section redo, ``flows.pipeline.redo``) their stage records are kept: what changed
    is redone through the stage cache, the rest reused.
    """
    redone = [] if keep_stages else generation.redone_stems(arrangement, only)
    paths = prepare_render_folder(arrangement.title, out_dir, force, slug)
    _forget(paths, redone)
    stems = generation.render_stems(arrangement, only, paths)
    takes.remove_stale_takes(arrangement, stems, paths)
    render = {
        "out_dir": str(Path(out_dir).resolve()),
        "force": force,
        "only": only,
        "album_run": album_run,
    }
    # The exported mix files say which models made them, under which licences.
    provenance = {"comment": licenses.licenses(arrangement, stems).note()}
    return TrackJob(arrangement, paths, tuple(stems), render, {**(tags or {}), **provenance})


def _forget(paths: RenderPaths, stems: list[str]) -> None:
    """Drop the stage records of ``stems`` and of the mix, so this render redoes them even if nothing changed."""
    cache = StageCache(paths.root)
    for name in stems:
        for item in (name, *(take_item(name, k) for k in range(1, MAX_TAKES + 1))):
            for stage in STAGES:
                if stage != "mix":
                    cache.forget(stage, item)
            cache.forget("generate", redo.base_item(item))  # a redone stem's base is generated again too
    if stems:
        cache.forget("mix", "mix")


@flow(name="render_arrangement")
def render_arrangement(
    arrangement: Arrangement,
    out_dir: str = "renders",
    force: bool = False,
    only: list[str] | None = None,
    slug: str | None = None,
    source: str | None = None,
    tags: dict[str, str] | None = None,
    album_run: str | None = None,
    keep_stages: bool = False,
) -> str:
    """Render one arrangement into ``out_dir/<slug>/`` and return that folder.

    ``source`` names the YAML file the arrangement came from when it arrives as JSON (a deployment parameter).
    ``album_run`` is set by the album render whose track this is (on a pool); any other render into the folder
    of an album being rendered is refused. ``keep_stages``: a section redo's render (:func:`track_job`).
    """
    if source:
        arrangement = arrangement.model_copy(update={"source": Path(source)})
    folder = Path(out_dir) / (slug or slugify(arrangement.title))
    if album_run is None:
        refuse_running_album(Path(out_dir))
    with render_lock(folder):
        job = track_job(arrangement, Path(out_dir), force, only, slug, tags, album_run, keep_stages)
        (result,) = run_tracks([job])
        return result
