"""One track's stages without Prefect: generation jobs, band take, separate/clean/conform/transcribe/mix,
the stage cache, the render folder's paths, manifest and records, DAW sessions, preflight and render checks.

``flows.orchestration`` wires these into a Prefect graph; the CLI and tests call them directly."""

from __future__ import annotations

from flows.pipeline import band, generation, licenses, preflight, progress, sessions, stages
from flows.pipeline.cache import STAGES, StageCache
from flows.pipeline.checks import render_issues
from flows.pipeline.generation import GenerationJob
from flows.pipeline.manifest import (
    CLEAN_RECORD,
    CLEAN_TIMING,
    build_manifest,
    file_entry,
    list_outputs,
    refresh_files,
    report_files,
    write_manifest,
)
from flows.pipeline.paths import (
    ALBUM_CUE,
    ALBUM_MANIFEST,
    ALBUM_RUN,
    REPORT_DIR,
    REPORT_NAME,
    TRACK_MANIFEST,
    RenderPaths,
    prepare_render_folder,
    refuse_running_album,
    render_lock,
)
from flows.pipeline.progress import progress_sink
from flows.pipeline.records import (
    AlbumManifest,
    AlbumTrack,
    BandRecord,
    CleanRecord,
    ConformRecord,
    GenerationRecord,
    Licenses,
    MidiRecord,
    MixRecord,
    MixResult,
    Reused,
    SeparationRecord,
    StemRecord,
    TrackManifest,
    Transcribed,
    mix_record,
    stem_records,
)
from flows.pipeline.sessions import album_session, export_folder, write_sessions

__all__ = [
    "ALBUM_CUE",
    "ALBUM_MANIFEST",
    "ALBUM_RUN",
    "AlbumManifest",
    "AlbumTrack",
    "BandRecord",
    "CLEAN_RECORD",
    "CLEAN_TIMING",
    "CleanRecord",
    "ConformRecord",
    "GenerationJob",
    "GenerationRecord",
    "Licenses",
    "MidiRecord",
    "MixRecord",
    "MixResult",
    "REPORT_DIR",
    "REPORT_NAME",
    "RenderPaths",
    "Reused",
    "STAGES",
    "SeparationRecord",
    "StageCache",
    "StemRecord",
    "TRACK_MANIFEST",
    "TrackManifest",
    "Transcribed",
    "album_session",
    "band",
    "build_manifest",
    "export_folder",
    "file_entry",
    "generation",
    "licenses",
    "list_outputs",
    "mix_record",
    "preflight",
    "prepare_render_folder",
    "progress",
    "progress_sink",
    "refresh_files",
    "refuse_running_album",
    "render_issues",
    "render_lock",
    "report_files",
    "sessions",
    "stages",
    "stem_records",
    "write_manifest",
    "write_sessions",
]
