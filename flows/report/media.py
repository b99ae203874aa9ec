"""Files of a render folder turned into report images under ``<folder>/report/``.

Each function takes the page's folder and a path relative to it, writes its PNGs atomically and returns a
small record of what the page shows (relative paths only, so the folder stays self-contained).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flows.pipeline import REPORT_DIR
from flows.report.images import (
    TRACK_COLORS,
    piano_roll_image,
    read_midi_tracks,
    spectrogram_image,
    waveform_image,
)
from flows.report.png import hex_rgb, write_png
from stems.audio import read_audio
from stems.errors import UserInputError
from stems.musicgen.plan import SectionSpan, bar_seconds, section_spans

log = logging.getLogger(__name__)

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class Timeline:
    """The track's time axis: length, bar length and sections in seconds (None / empty when unknown)."""

    duration: float | None
    bar_seconds: float | None
    sections: tuple[SectionSpan, ...]


@dataclass(frozen=True)
class AudioView:
    """An audio file of the page: its path, image paths (None when unreadable) and format."""

    path: str
    wave: str | None
    spec: str | None
    duration: float | None
    sample_rate: int | None
    channels: int | None
    error: str | None = None
    peak_dbfs: float | None = None  # None: digital silence (or unreadable)


@dataclass(frozen=True)
class RollView:
    """A MIDI file of the page and its piano-roll image; ``low``/``high`` are the pitches shown."""

    path: str
    image: str | None
    notes: int
    low: int
    high: int
    error: str | None = None
    tracks: tuple[str, ...] = ()  # instrument names, in TRACK_COLORS order, when coloured by instrument


def note_name(pitch: int) -> str:
    """MIDI 60 -> 'C4' (scientific pitch notation, MIDI 69 = A4 = 440 Hz)."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def image_path(rel: str, kind: str) -> str:
    """``stems/bass.wav`` + ``wave`` -> ``report/stems__bass.wave.png`` (one flat folder, no collisions)."""
    flat = re.sub(r"[^A-Za-z0-9._-]+", "_", rel.replace("/", "__"))
    return f"{REPORT_DIR}/{flat}.{kind}.png"


def _beats_per_bar(time_signature: Any) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(time_signature or "4/4"))
    return max(1, int(match.group(1))) if match else 4


def _positive(value: Any) -> float | None:
    """A finite positive number from a manifest value, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def timeline_from(arrangement: Mapping[str, Any], duration_hint: float | None = None) -> Timeline:
    """The timeline of a manifest's arrangement; tolerant of older or partial manifests (unknown -> None)."""
    duration = _positive(arrangement.get("duration")) or _positive(duration_hint)
    bpm = _positive(arrangement.get("bpm"))
    beats = _beats_per_bar(arrangement.get("time_signature"))
    raw = arrangement.get("sections")
    sections = [
        (str(s.get("name", "?")), int(_positive(s.get("bars")) or 0), str(s.get("prompt", "")))
        for s in (raw if isinstance(raw, list) else [])
        if isinstance(s, Mapping)
    ]
    bar = bar_seconds(bpm, beats) if bpm else None
    spans: list[SectionSpan] = []
    if bpm and duration and sections:
        try:
            spans = section_spans(sections, bpm, beats, duration)
        except UserInputError as exc:  # e.g. a zero-bar section in a hand-edited manifest
            log.warning("report: cannot place sections on the timeline (%s)", exc)
    return Timeline(duration, bar, tuple(spans))


def render_audio(folder: Path, rel: str, marks: Sequence[float] = ()) -> AudioView | None:
    """Waveform (with ``marks``, seconds, as lines) and spectrogram PNGs of ``folder/rel``; None if absent."""
    if not (folder / rel).is_file():
        return None
    try:
        audio = read_audio(folder / rel)
    except UserInputError as exc:  # an unreadable file still gets a row on the page, with the reason
        log.warning("report: %s", exc)
        return AudioView(rel, None, None, None, None, None, error=str(exc))
    wave, spec = image_path(rel, "wave"), image_path(rel, "spec")
    write_png(folder / wave, waveform_image(audio, marks=marks))
    write_png(folder / spec, spectrogram_image(audio))
    peak = float(np.abs(audio.samples).max()) if audio.num_samples else 0.0
    peak_dbfs = 20.0 * math.log10(peak) if peak > 0 else None
    return AudioView(rel, wave, spec, audio.duration, audio.sample_rate, audio.channels, peak_dbfs=peak_dbfs)


def render_roll(folder: Path, rel: str, timeline: Timeline, by_track: bool = False) -> RollView | None:
    """Piano-roll PNG of ``folder/rel`` on the track's bar grid; None when the file is absent.

    ``by_track`` colours notes by instrument (the all-stems MIDI file) instead of by velocity.
    """
    if not (folder / rel).is_file():
        return None
    try:
        names, notes = read_midi_tracks(str(folder / rel))
    except Exception as exc:  # noqa: BLE001  mido/pretty_midi raise many types (OSError, EOFError...)
        log.warning("report: cannot read MIDI %s (%s)", rel, exc)
        return RollView(rel, None, 0, 0, 0, error=f"cannot read MIDI: {exc}")
    starts = [s.start for s in timeline.sections]
    palette = [hex_rgb(c) for c in TRACK_COLORS] if by_track else []
    image, (low, high) = piano_roll_image(
        notes, timeline.duration or 0.0, timeline.bar_seconds, starts, palette=palette
    )
    target = image_path(rel, "roll")
    write_png(folder / target, image)
    return RollView(rel, target, len(notes), low, high, tracks=tuple(names) if by_track else ())


def remove_stale_images(folder: Path, keep: set[str]) -> None:
    """Delete report PNGs no longer shown (a stem removed before a forced re-render); only our own PNGs."""
    directory = folder / REPORT_DIR
    if not directory.is_dir():
        return
    for png in directory.glob("*.png"):
        if f"{REPORT_DIR}/{png.name}" not in keep and re.search(r"\.(wave|spec|roll)\.png$", png.name):
            png.unlink(missing_ok=True)
