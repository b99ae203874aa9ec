"""Prefect flow ``render_album``: every track of an album, then the sequenced album files and manifest.

Tracks render in this process as one task graph (generation batched across tracks where the model matches, CPU
stages of one track overlapping the next track's generation), or, with ``track_deployment``, as separate flow runs
of that deployment, so the workers of a pool share them. Finished stages are reused through the stage cache.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.orchestration.render import run_tracks, track_job
from flows.pipeline import (
    ALBUM_CUE,
    ALBUM_MANIFEST,
    ALBUM_RUN,
    TRACK_MANIFEST,
    AlbumTrack,
    TrackManifest,
    build_manifest,
    file_entry,
    finished_render_error,
    licenses,
    render_lock,
)
from flows.report import publish
from flows.schema import Album, Arrangement, SessionFormat, load_album, slugify, track_slug
from stems.audio import read_audio, write_bytes_atomic
from stems.errors import UserInputError


def _album_folder(album: Album, out_dir: Path, force: bool) -> Path:
    """Refuse a finished album unless forced; a forced render first un-finishes it (album manifest gone)."""
    folder = out_dir / slugify(album.title)
    manifest = folder / ALBUM_MANIFEST
    if manifest.exists():
        if not force:
            raise finished_render_error(folder, ALBUM_MANIFEST)
        manifest.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def album_tags(album: Album, index: int) -> dict[str, str]:
    """Tags a track's mix files carry inside an album."""
    return {"album": album.title, "track": f"{index + 1}/{len(album.tracks)}"}


def album_run_id(folder: Path) -> str:
    """The id of the album renders in ``folder``, created by the first: a re-run of an unfinished album resumes
    it (the finished tracks it made are reused), a track folder it did not make is not replaced without --force."""
    marker = folder / ALBUM_RUN
    try:
        run = marker.read_text().strip()
    except (OSError, ValueError):
        run = ""
    if not run.isalnum():
        run = uuid.uuid4().hex
        write_bytes_atomic(marker, run.encode())
    return run


def _refuse_foreign_tracks(album: Album, tracks: list[Arrangement], folder: Path, run: str) -> None:
    """Without --force, a track folder holding a finished render made by anything but this album run (a
    single-track render, another album) is never replaced: the rule of ``render`` for every track folder."""
    for i, a in enumerate(tracks):
        manifest = folder / track_slug(album, i, a) / TRACK_MANIFEST
        if manifest.exists() and _run_of(manifest) != run:
            raise UserInputError(
                f"{manifest.parent} already holds a finished render that is not part of this album render "
                f"({TRACK_MANIFEST}); pass --force to render the album over it (unchanged stages are reused) "
                "or choose another folder with -o"
            )


def _run_of(manifest: Path) -> str | None:
    try:
        render = json.loads(manifest.read_text()).get("render")
        return str(render["album_run"]) if render.get("album_run") else None
    except (OSError, ValueError, AttributeError, KeyError, TypeError, RecursionError):
        return None  # unreadable or not ours: refused, not guessed


def _render_here(album: Album, tracks: list[Arrangement], folder: Path, force: bool, run: str) -> list[str]:
    """Every track in this process, each track folder locked (a single-track render into one is refused)."""
    slugs = [track_slug(album, i, a) for i, a in enumerate(tracks)]
    with ExitStack() as locks:
        for slug in slugs:
            locks.enter_context(render_lock(folder / slug))
        if not force:
            _refuse_foreign_tracks(album, tracks, folder, run)
        # A finished track of this unfinished album is re-run through the cache (a no-op when nothing changed).
        jobs = [
            track_job(a, folder, True, None, slug, album_tags(album, i), run)
            for i, (a, slug) in enumerate(zip(tracks, slugs))
        ]
        return run_tracks(jobs, album.batch_tracks)


def _render_on_pool(
    album: Album, tracks: list[Arrangement], folder: Path, deployment: str, force: bool, album_run: str
) -> list[str]:
    """One flow run of ``deployment`` (render_arrangement) per track; the pool's workers pick them up.

    The workers take each track folder's lock themselves, so this process does not hold them.
    """
    from prefect.deployments import run_deployment
    from prefect.states import raise_state_exception

    if not force:
        _refuse_foreign_tracks(album, tracks, folder, album_run)
    runs: list[Any] = [
        run_deployment(
            deployment,
            timeout=0,
            as_subflow=True,
            parameters={
                "arrangement": a.model_dump(mode="json", exclude={"source"}),
                "out_dir": str(folder),
                "force": True,
                "slug": track_slug(album, i, a),
                "source": str(a.source) if a.source else None,
                "tags": album_tags(album, i),
                "album_run": album_run,
            },
        )
        for i, a in enumerate(tracks)
    ]
    for run in runs:
        _wait(run.id, raise_state_exception)
    return [str(folder / track_slug(album, i, a)) for i, a in enumerate(tracks)]


def _wait(run_id: Any, raise_state_exception: Any, poll: float = 2.0) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            if run.state is not None and run.state.is_final():
                if not run.state.is_completed():
                    raise_state_exception(run.state)
                return
            time.sleep(poll)


@dataclass(frozen=True)
class Sequenced:
    """The sequenced album: where each track lies in it, the album master's loudness
    (``LoudnessReport.to_dict()``) and the files written (album.<fmt>, the CUE sheet)."""

    tracks: tuple[AlbumTrack, ...]
    loudness: dict[str, float | None]
    files: tuple[str, ...]


@task(name="sequence-album", cache_policy=NO_CACHE)
def sequence_task(album: Album, tracks: list[Arrangement], folders: list[str], folder: Path) -> Sequenced:
    """Join the track mixes (gap or crossfade), master per the loudness mode, export album files and CUE sheet."""
    from mixing.export import export_audio
    from mixing.master import Master
    from mixing.sequence import cue_sheet, sequence

    master = Master(album.lufs, album.true_peak)
    mixes = [read_audio(Path(f) / "mix.wav") for f in folders]
    if album.loudness == "track":  # every track to the album target before joining
        mixes = [master.master(m).audio for m in mixes]
    joined = sequence(mixes, album.gap, album.crossfade)
    result = master.master(joined.audio)  # album mode: one gain for all, relative levels kept
    tags = {"title": album.title, "artist": album.artist or "", "album": album.title}
    tags["comment"] = licenses.album_licenses(tracks).note()  # which models made it, their licences
    files = [
        export_audio(result.audio, folder / f"album.{fmt}", fmt, 24, None, tags).name
        for fmt in dict.fromkeys(["wav", *album.formats])
    ]
    names = [(a.title, start) for a, start in zip(tracks, joined.starts)]
    write_bytes_atomic(folder / ALBUM_CUE, cue_sheet("album.wav", album.title, album.artist, names).encode())
    listing = tuple(
        AlbumTrack(i + 1, Path(f).name, a.title, Path(f).name, s, d)
        for i, (a, f, s, d) in enumerate(zip(tracks, folders, joined.starts, joined.durations))
    )
    return Sequenced(listing, result.report.to_dict(), (*files, ALBUM_CUE))


@flow(name="render_album")
def render_album(
    album_file: str, out_dir: str = "renders", force: bool = False, track_deployment: str | None = None
) -> str:
    """Render the album at ``album_file`` into ``out_dir/<album-slug>/``; returns that folder."""
    started = time.time()
    album, tracks = load_album(Path(album_file))
    folder = Path(out_dir) / slugify(album.title)
    with render_lock(folder):  # before anything in the folder is touched
        _album_folder(album, Path(out_dir), force)
        run = album_run_id(folder)
        if track_deployment:
            folders = _render_on_pool(album, tracks, folder, track_deployment, force, run)
        else:
            folders = _render_here(album, tracks, folder, force, run)
        sequenced = sequence_task(album, tracks, folders, folder)
        files = [*sequenced.files, *_album_sessions(album, tracks, folder, sequenced.tracks)]
        reused = {
            Path(f).name: TrackManifest.from_json(json.loads((Path(f) / TRACK_MANIFEST).read_text())).reused
            for f in folders
        }
        manifest = build_manifest(
            title=album.title,
            slug=folder.name,  # what its files are named after (session/<slug>.*), should the folder be renamed
            artist=album.artist,
            source=str(album.source),
            album=album.model_dump(mode="json"),
            tracks=[t.to_json() for t in sequenced.tracks],
            loudness_mode=album.loudness,
            master=sequenced.loudness,
            licenses=licenses.album_licenses(tracks).to_json(),
            reused={name: r.to_json() for name, r in reused.items()},
            timings={"total": round(time.time() - started, 3)},
            files=[],
            distributed=bool(track_deployment),
        )
        publish(
            folder,
            ALBUM_MANIFEST,
            manifest,
            [file_entry(folder, folder / name) for name in files],
        )
    return str(folder)


def _album_sessions(
    album: Album, tracks: list[Arrangement], folder: Path, listing: tuple[AlbumTrack, ...]
) -> list[str]:
    """The album session (every track's mix in sequence on one timeline), in each format any track asks for;
    written before the album manifest, which lists it."""
    from flows.pipeline import album_session, write_sessions

    asked = {fmt for a in tracks for fmt in a.master.sessions}
    formats = [fmt for fmt in get_args(SessionFormat) if fmt in asked]
    if not formats:
        return []
    session = album_session(folder, album.title, album.artist or "", listing)
    return list(write_sessions(session, folder, folder.name, formats)["files"])
