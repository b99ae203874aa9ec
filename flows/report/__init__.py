"""report.html of a rendered track or album: players, waveforms, spectrograms, piano rolls, loudness, timings.

``write_track_report(folder)`` reads ``folder/manifest.json`` and the files of the render layout
(ARCHITECTURE.md "Output layout"); ``write_album_report(folder)`` reads ``folder/album-manifest.json``.
Both write PNGs under ``folder/report/`` and ``folder/report.html`` atomically. The page uses relative
links only and no scripts, so the folder can be zipped, moved or opened offline. No Prefect here: the flow
and the ``musicmaker report`` command call these functions.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flows.pipeline import (
    ALBUM_CUE,
    ALBUM_MANIFEST,
    REPORT_DIR,
    REPORT_NAME,
    TRACK_MANIFEST,
    AlbumManifest,
    AlbumTrack,
    StemRecord,
    TrackManifest,
    file_entry,
    refresh_files,
    report_files,
    write_manifest,
)
from flows.report.album import (
    ALBUM_AUDIO,
    MIX_FILES,
    album_loudness,
    album_player,
    track_dir,
    track_table,
)
from flows.report.html import esc, link, page, section
from flows.report.media import (
    AudioView,
    RollView,
    Timeline,
    remove_stale_images,
    render_audio,
    render_roll,
    timeline_from,
)
from flows.report.track import (
    NAV,
    SAFE_TAKE_FILE,
    StemViews,
    chords_section,
    environment_section,
    files_section,
    grid_section,
    licenses_section,
    loudness_section,
    mix_section,
    sections_section,
    settings_section,
    stems_section,
    subtitle,
    timings_section,
)
from stems.audio import write_bytes_atomic
from stems.errors import UserInputError
from stems.progress import Progress

log = logging.getLogger(__name__)

SAFE_NAME = re.compile(r"[^/\\\x00]+")  # no separators: a name always gets a suffix, so ".." cannot climb


def _load_manifest(folder: Path, name: str) -> dict[str, Any]:
    path = Path(folder) / name
    if not Path(folder).is_dir():
        raise UserInputError(
            f"{folder}: not a folder; pass a render folder (with {TRACK_MANIFEST}) or an album folder"
        )
    if not path.is_file():
        raise UserInputError(
            f"{folder}: no {name}; pass a finished render folder ({TRACK_MANIFEST}) or album folder "
            f"({ALBUM_MANIFEST}), or re-run the render (the manifest is written last)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserInputError(f"{path}: not readable JSON ({exc}); re-run the render to rewrite it") from exc
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a JSON object, got {type(data).__name__}; re-run the render")
    return data


def stem_names(folder: Path, manifest: TrackManifest) -> list[str]:
    """Stems in arrangement order, then any others the manifest or the stems/ folder has (older renders)."""
    declared = [s.name for s in manifest.arrangement.stems]
    recorded = list(manifest.stems)
    on_disk = sorted(p.stem for p in (folder / "stems").glob("*.wav")) if (folder / "stems").is_dir() else []
    names = dict.fromkeys(str(n) for n in [*declared, *recorded, *on_disk] if n)
    # A name is used in paths: never one that could leave the folder (a hand-edited manifest).
    return [n for n in names if SAFE_NAME.fullmatch(n) and _stem_files(folder, n)]


def _stem_files(folder: Path, name: str) -> bool:
    candidates = (f"raw/{name}.wav", f"raw/{name}.residual.wav", f"stems/{name}.wav", f"midi/{name}.mid")
    return any((folder / c).is_file() for c in candidates)


def _stem_views(
    folder: Path, name: str, timeline: Timeline, marks: list[float], record: StemRecord | None
) -> StemViews:
    takes = (
        ("raw (generated)", f"raw/{name}.wav"),
        ("residual (separated out)", f"raw/{name}.residual.wav"),
        ("cleaned stem", f"stems/{name}.wav"),
        *(
            (f"take {t.take}{' (picked)' if t.picked else ''} · total {t.total:.3f}", t.file)
            for t in (record.takes if record is not None else ())
            if SAFE_TAKE_FILE.fullmatch(t.file)
        ),
    )
    views = tuple(
        (label, view) for label, rel in takes if (view := render_audio(folder, rel, marks)) is not None
    )
    return StemViews(name, views, render_roll(folder, f"midi/{name}.mid", timeline))


def _images_of(mix: AudioView | None, roll: RollView | None, stems: list[StemViews]) -> set[str]:
    """Every image the page shows (the others in report/ are stale)."""
    views = ([mix] if mix else []) + [v for s in stems for _, v in s.takes]
    rolls = [r for r in (roll, *(s.roll for s in stems)) if r is not None]
    return {p for v in views for p in (v.wave, v.spec) if p} | {r.image for r in rolls if r.image}


def write_track_report(
    folder: Path, progress: Progress | None = None, manifest: Mapping[str, Any] | None = None
) -> Path:
    """Write ``folder/report.html`` (and its images under ``folder/report/``) for a finished track render.

    ``progress(label, done, total)`` is called after the mix and after each stem's images. ``manifest`` is the
    one about to be written (a render writes its report first), else ``folder/manifest.json`` is read.
    """
    folder = Path(folder)
    read = TrackManifest.from_json(_load_manifest(folder, TRACK_MANIFEST) if manifest is None else manifest)
    names = stem_names(folder, read)
    report = progress or (lambda label, done, total: None)
    arrangement = read.arrangement.document
    timeline = timeline_from(arrangement)
    marks = [s.start for s in timeline.sections[1:]]
    mix = next((v for f in MIX_FILES if (v := render_audio(folder, f, marks)) is not None), None)
    report("report: mix", 1, len(names) + 1)
    if timeline.duration is None and mix:  # an old manifest without the arrangement: the mix gives the length
        timeline = timeline_from(arrangement, mix.duration)
    arrangement_roll = render_roll(folder, f"midi/{folder.name}.mid", timeline, by_track=True)
    stems = []
    for index, name in enumerate(names, start=2):
        stems.append(_stem_views(folder, name, timeline, marks, read.stems.get(name)))
        report(f"report: {name}", index, len(names) + 1)
    body = "".join(
        (
            mix_section(folder, read, timeline, mix, arrangement_roll),
            licenses_section(read.licenses),
            sections_section(read, timeline),
            chords_section(read),
            stems_section(stems, read),
            grid_section(read),
            loudness_section(read),
            settings_section(read),
            timings_section(read),
            files_section(folder, read),
            environment_section(read),
        )
    )
    remove_stale_images(folder, _images_of(mix, arrangement_roll, stems))
    title = read.title or read.arrangement.title or folder.name
    return _write_page(folder, page(title, subtitle(read), NAV, body))


def _write_page(folder: Path, document: str) -> Path:
    target = folder / REPORT_NAME
    write_bytes_atomic(target, document.encode("utf-8"))
    log.info("report written: %s", target)
    return target


def _ensure_track_reports(folder: Path, tracks: Sequence[AlbumTrack]) -> None:
    """Write each track's report when it has a manifest but no report yet (e.g. an older album render)."""
    for track in tracks:
        sub = track_dir(folder, track)
        if sub and (folder / sub / TRACK_MANIFEST).is_file() and not (folder / sub / REPORT_NAME).is_file():
            write_track_report(folder / sub)


def write_album_report(folder: Path, manifest: Mapping[str, Any] | None = None) -> Path:
    """Write ``folder/report.html``: album player, cue sheet, and the track list linking each track's report.

    A track folder with a manifest but no report.html gets its report written first. ``manifest`` is the album
    manifest about to be written (an album render writes its report first), else it is read from the folder.
    """
    folder = Path(folder)
    read = AlbumManifest.from_json(_load_manifest(folder, ALBUM_MANIFEST) if manifest is None else manifest)
    tracks = read.tracks
    _ensure_track_reports(folder, tracks)
    downloads = [*(f for f in (*ALBUM_AUDIO, ALBUM_CUE) if (folder / f).is_file()), ALBUM_MANIFEST]
    links = '<ul class="downloads">' + "".join(f"<li>{link(f)}</li>" for f in downloads) + "</ul>"
    body = section("album", "Album", album_player(folder) + links + album_loudness(read))
    body += section("tracks", "Tracks", track_table(folder, tracks))
    body += licenses_section(read.licenses)
    title = read.title or folder.name
    artist = f" by {esc(read.artist)}" if read.artist else ""
    created = f" · rendered {esc(read.created)}" if read.created else ""
    subtitle_html = f"album{artist} · {len(tracks)} track{'' if len(tracks) == 1 else 's'}{created}"
    nav = (("album", "Album"), ("tracks", "Tracks"), ("licenses", "Licences"))
    return _write_page(folder, page(title, subtitle_html, nav, body))


def write_report(folder: Path) -> Path:
    """The track or album report of ``folder``, chosen by which manifest it holds (album wins if both); the
    manifest then lists the rewritten report files with their new hashes."""
    folder = Path(folder)
    album = (folder / ALBUM_MANIFEST).is_file()
    path = write_album_report(folder) if album else write_track_report(folder)
    refresh_files(
        folder / (ALBUM_MANIFEST if album else TRACK_MANIFEST), report_files(folder, REPORT_NAME, REPORT_DIR)
    )
    return path


def publish(folder: Path, manifest_name: str, manifest: dict[str, Any], files: list[dict[str, Any]]) -> None:
    """The report first, then the manifest listing ``files`` and the report's own files as they are on disk now.

    The manifest's presence marks the render finished, so a render stopped between the two is resumed, never
    left "finished" without its report or with the hashes of files rewritten after it.
    """
    manifest["files"] = files  # the page lists the outputs; it cannot list itself
    write_page = write_album_report if manifest_name == ALBUM_MANIFEST else write_track_report
    write_page(folder, manifest=manifest)
    manifest["files"] = files + [file_entry(folder, p) for p in report_files(folder, REPORT_NAME, REPORT_DIR)]
    write_manifest(folder / manifest_name, manifest)
