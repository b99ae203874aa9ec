"""The HTML body of an album's report.html: the album player, its files and the track list.

Each track row links the track's own report.html and shows its mix player, its waveform (from the
track report's images) and the loudness its manifest recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from flows.pipeline import REPORT_NAME, TRACK_MANIFEST, AlbumManifest, AlbumTrack, mix_record
from flows.report.html import clock, esc, href, image, link, number, player, table
from flows.report.media import image_path

MIX_FILES = ("mix.wav", "mix.flac", "mix.mp3")  # the first present one is played (WAV is lossless)
ALBUM_AUDIO = ("album.wav", "album.flac", "album.mp3")


def track_dir(folder: Path, track: AlbumTrack) -> str:
    """The track's folder relative to the album folder ('' when unknown); absolute paths are made relative."""
    value = track.folder or track.slug or ""
    path = Path(value)
    if path.is_absolute():
        try:
            return path.resolve().relative_to(folder.resolve()).as_posix()
        except ValueError:
            return path.name if (folder / path.name).is_dir() else ""
    if not value or ".." in path.parts:  # a hand-edited manifest must not link outside the album folder
        return ""
    return path.as_posix()


def _track_row(folder: Path, index: int, track: AlbumTrack) -> tuple[str, ...]:
    sub = track_dir(folder, track)
    raw_title = track.title or sub or f"track {index}"
    title = esc(raw_title)
    page_rel = f"{sub}/{REPORT_NAME}"
    name = f'<a href="{href(page_rel)}">{title}</a>' if sub and (folder / page_rel).is_file() else title
    mix = next((m for m in MIX_FILES if sub and (folder / sub / m).is_file()), None)
    wave = f"{sub}/{image_path(mix, 'wave')}" if mix else ""
    preview = image(wave, f"waveform of {raw_title}", "wave") if wave and (folder / wave).is_file() else ""
    listen = (player(f"{sub}/{mix}") + preview) if mix else '<span class="muted">no mix</span>'
    lufs, peak = _track_loudness(folder / sub) if sub else ("–", "–")
    return (
        str(index),
        name,
        clock(track.start),
        clock(track.duration),
        lufs,
        peak,
        listen,
    )


def _track_loudness(track_folder: Path) -> tuple[str, str]:
    """Integrated LUFS and true peak of a track's master, from its manifest ('–' when unknown)."""
    try:
        manifest = json.loads((track_folder / TRACK_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "–", "–"
    master = mix_record(manifest).master
    return number(master.get("integrated_lufs")), number(master.get("true_peak_dbtp"))


def track_table(folder: Path, tracks: Sequence[AlbumTrack]) -> str:
    rows = [_track_row(folder, i, t) for i, t in enumerate(tracks, start=1)]
    headers = ("#", "track", "start", "length", "LUFS", "true peak dBTP", "listen")
    return table(headers, rows, (0, 2, 3, 4, 5), cls="tracks")


def album_loudness(manifest: AlbumManifest) -> str:
    """The album master's loudness and the loudness mode (album: one gain; track: each track to target)."""
    master = manifest.master
    if not master:
        return ""
    cells = [number(master.get(k)) for k in ("integrated_lufs", "loudness_range_lu", "true_peak_dbtp")]
    mode = esc(manifest.loudness_mode or "–")
    return table(
        ("", "integrated LUFS", "LRA LU", "true peak dBTP", "loudness mode"),
        [("album", *cells, mode)],
        (1, 2, 3),
    )


def album_player(folder: Path) -> str:
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
