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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flows.report_html import clock, esc, href, image, link, page, player, section, table
from flows.report_media import (
    AudioView,
    RollView,
    Timeline,
    image_path,
    remove_stale_images,
    render_audio,
    render_roll,
    timeline_from,
)
from flows.report_track import (
    NAV,
    StemViews,
    environment_section,
    files_section,
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

log = logging.getLogger(__name__)

TRACK_MANIFEST = "manifest.json"
ALBUM_MANIFEST = "album-manifest.json"
REPORT_NAME = "report.html"
MIX_FILES = ("mix.wav", "mix.flac", "mix.mp3")  # the first present one gets images (WAV is lossless)
ALBUM_AUDIO = ("album.wav", "album.flac", "album.mp3")


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


def stem_names(folder: Path, manifest: Mapping[str, Any]) -> list[str]:
    """Stems in arrangement order, then any others the manifest or the stems/ folder has (older renders)."""
    declared = [
        s.get("name")
        for s in (manifest.get("arrangement") or {}).get("stems") or []
        if isinstance(s, Mapping)
    ]
    recorded = list((manifest.get("stems") or {}).keys())
    on_disk = sorted(p.stem for p in (folder / "stems").glob("*.wav")) if (folder / "stems").is_dir() else []
    names = dict.fromkeys(str(n) for n in [*declared, *recorded, *on_disk] if n)
    return [n for n in names if _stem_files(folder, n)]


def _stem_files(folder: Path, name: str) -> bool:
    candidates = (f"raw/{name}.wav", f"raw/{name}.residual.wav", f"stems/{name}.wav", f"midi/{name}.mid")
    return any((folder / c).is_file() for c in candidates)


def _stem_views(folder: Path, name: str, timeline: Timeline) -> StemViews:
    takes = (
        ("raw (generated)", f"raw/{name}.wav"),
        ("residual (separated out)", f"raw/{name}.residual.wav"),
        ("cleaned stem", f"stems/{name}.wav"),
    )
    views = tuple((label, view) for label, rel in takes if (view := render_audio(folder, rel)) is not None)
    return StemViews(name, views, render_roll(folder, f"midi/{name}.mid", timeline))


def _images_of(mix: AudioView | None, stems: list[StemViews]) -> set[str]:
    views = ([mix] if mix else []) + [v for s in stems for _, v in s.takes]
    rolls: list[RollView] = [s.roll for s in stems if s.roll]
    return {p for v in views for p in (v.wave, v.spec) if p} | {r.image for r in rolls if r.image}


def write_track_report(folder: Path) -> Path:
    """Write ``folder/report.html`` (and its images under ``folder/report/``) for a finished track render."""
    folder = Path(folder)
    manifest = _load_manifest(folder, TRACK_MANIFEST)
    mix = next((v for f in MIX_FILES if (v := render_audio(folder, f)) is not None), None)
    timeline = timeline_from(manifest.get("arrangement") or {}, mix.duration if mix else None)
    stems = [_stem_views(folder, name, timeline) for name in stem_names(folder, manifest)]
    body = "".join(
        (
            mix_section(folder, manifest, timeline, mix),
            sections_section(manifest, timeline),
            stems_section(stems, manifest),
            loudness_section(manifest),
            settings_section(manifest),
            timings_section(manifest),
            files_section(folder, manifest),
            environment_section(manifest),
        )
    )
    remove_stale_images(folder, _images_of(mix, stems))
    title = str(manifest.get("title") or (manifest.get("arrangement") or {}).get("title") or folder.name)
    return _write_page(folder, page(title, subtitle(manifest), NAV, body))


def _write_page(folder: Path, document: str) -> Path:
    target = folder / REPORT_NAME
    write_bytes_atomic(target, document.encode("utf-8"))
    log.info("report written: %s", target)
    return target


def _track_dir(folder: Path, track: Mapping[str, Any]) -> str:
    """The track's folder relative to the album folder ('' when unknown); absolute paths are made relative."""
    value = str(track.get("folder") or track.get("slug") or "")
    path = Path(value)
    if path.is_absolute():
        try:
            return path.resolve().relative_to(folder.resolve()).as_posix()
        except ValueError:
            return path.name if (folder / path.name).is_dir() else ""
    return path.as_posix() if value else ""


def _track_row(folder: Path, index: int, track: Mapping[str, Any]) -> tuple[str, ...]:
    sub = _track_dir(folder, track)
    title = esc(track.get("title") or sub or f"track {index}")
    page_rel = f"{sub}/{REPORT_NAME}"
    name = f'<a href="{href(page_rel)}">{title}</a>' if sub and (folder / page_rel).is_file() else title
    mix = next((m for m in MIX_FILES if sub and (folder / sub / m).is_file()), None)
    wave = f"{sub}/{image_path(mix, 'wave')}" if mix else ""
    preview = image(wave, f"waveform of {title}", "wave") if wave and (folder / wave).is_file() else ""
    listen = (player(f"{sub}/{mix}") + preview) if mix else '<span class="muted">no mix</span>'
    start, duration = track.get("start"), track.get("duration")
    return (str(index), name, clock(start if isinstance(start, (int, float)) else None),
            clock(duration if isinstance(duration, (int, float)) else None), listen)  # fmt: skip


def _ensure_track_reports(folder: Path, tracks: list[Mapping[str, Any]]) -> None:
    """Write each track's report when it has a manifest but no report yet (e.g. an older album render)."""
    for track in tracks:
        sub = _track_dir(folder, track)
        if sub and (folder / sub / TRACK_MANIFEST).is_file() and not (folder / sub / REPORT_NAME).is_file():
            write_track_report(folder / sub)


def _album_player(folder: Path) -> str:
    """The album player; no images here (an album can be an hour of audio: each track's report has them)."""
    import soundfile as sf

    for name in ALBUM_AUDIO:
        if (folder / name).is_file():
            try:
                info = sf.info(str(folder / name))
                caption = f"{clock(info.duration)} · {info.samplerate / 1000:g} kHz · {info.channels} ch"
            except RuntimeError as exc:  # libsndfile cannot read it (e.g. an old libsndfile and MP3)
                caption = f"({esc(exc)})"
            caption_html = f"<figcaption><b>album</b> · {link(name)} · {caption}</figcaption>"
            return f"<figure>{caption_html}{player(name)}</figure>"
    return '<p class="muted">no album audio file in this folder</p>'


def write_album_report(folder: Path) -> Path:
    """Write ``folder/report.html``: album player, cue sheet, and the track list linking each track's report.

    A track folder with a manifest but no report.html gets its report written first.
    """
    folder = Path(folder)
    manifest = _load_manifest(folder, ALBUM_MANIFEST)
    tracks = [t for t in manifest.get("tracks") or [] if isinstance(t, Mapping)]
    _ensure_track_reports(folder, tracks)
    downloads = [f for f in (*ALBUM_AUDIO, "album.cue", ALBUM_MANIFEST) if (folder / f).is_file()]
    links = '<ul class="downloads">' + "".join(f"<li>{link(f)}</li>" for f in downloads) + "</ul>"
    rows = [_track_row(folder, i, t) for i, t in enumerate(tracks, start=1)]
    track_table = table(("#", "track", "start", "length", "listen"), rows, (0, 2, 3), cls="tracks")
    body = section("album", "Album", _album_player(folder) + links) + section("tracks", "Tracks", track_table)
    title = str(manifest.get("title") or folder.name)
    created = f" · {esc(manifest['created'])}" if manifest.get("created") else ""
    subtitle_html = f"album · {len(tracks)} track(s){created}"
    return _write_page(folder, page(title, subtitle_html, (("album", "Album"), ("tracks", "Tracks")), body))
