"""Files of a render folder turned into report images under ``<folder>/report/``.

Each function takes the page's folder and a path relative to it, writes its PNGs atomically and returns a
small record of what the page shows (relative paths only, so the folder stays self-contained).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.report_images import piano_roll_image, read_midi_notes, spectrogram_image, waveform_image
from flows.report_png import write_png
from stems.audio import read_audio
from stems.errors import UserInputError
from stems.plan import SectionSpan, bar_seconds, section_spans

log = logging.getLogger(__name__)

REPORT_DIR = "report"
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


@dataclass(frozen=True)
class RollView:
    """A MIDI file of the page and its piano-roll image; ``low``/``high`` are the pitches shown."""

    path: str
    image: str | None
    notes: int
    low: int
    high: int
    error: str | None = None


def note_name(pitch: int) -> str:
    """MIDI 60 -> 'C4' (scientific pitch notation, MIDI 69 = A4 = 440 Hz)."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def image_path(rel: str, kind: str) -> str:
    """``stems/bass.wav`` + ``wave`` -> ``report/stems__bass.wave.png`` (one flat folder, no collisions)."""
    flat = re.sub(r"[^A-Za-z0-9._-]+", "_", rel.replace("/", "__"))
    return f"{REPORT_DIR}/{flat}.{kind}.png"


def _beats_per_bar(time_signature: Any) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(time_signature or "4/4"))
    return int(match.group(1)) if match else 4


def timeline_from(arrangement: Mapping[str, Any], duration_hint: float | None = None) -> Timeline:
    """The timeline of a manifest's arrangement; tolerant of older or partial manifests (unknown -> None)."""
    duration = arrangement.get("duration") or duration_hint
    sections = [
        (str(s.get("name", "?")), int(s.get("bars", 0)), str(s.get("prompt", "")))
        for s in arrangement.get("sections") or []
    ]
    beats = _beats_per_bar(arrangement.get("time_signature"))
    bar: float | None = None
    spans: list[SectionSpan] = []
    try:
        if arrangement.get("bpm"):
            bar = bar_seconds(float(arrangement["bpm"]), beats)
            if duration:
                spans = section_spans(sections, float(arrangement["bpm"]), beats, float(duration))
    except (UserInputError, TypeError, ValueError) as exc:
        log.warning("report: cannot place sections on the timeline (%s)", exc)
    return Timeline(float(duration) if duration else None, bar, tuple(spans))


def render_audio(folder: Path, rel: str) -> AudioView | None:
    """Waveform and spectrogram PNGs of ``folder/rel``; None when the file is absent."""
    if not (folder / rel).is_file():
        return None
    try:
        audio = read_audio(folder / rel)
    except UserInputError as exc:  # an unreadable file still gets a row on the page, with the reason
        log.warning("report: %s", exc)
        return AudioView(rel, None, None, None, None, None, error=str(exc))
    wave, spec = image_path(rel, "wave"), image_path(rel, "spec")
    write_png(folder / wave, waveform_image(audio))
    write_png(folder / spec, spectrogram_image(audio))
    return AudioView(rel, wave, spec, audio.duration, audio.sample_rate, audio.channels)


def render_roll(folder: Path, rel: str, timeline: Timeline) -> RollView | None:
    """Piano-roll PNG of ``folder/rel`` on the track's bar grid; None when the file is absent."""
    if not (folder / rel).is_file():
        return None
    try:
        notes = read_midi_notes(str(folder / rel))
    except Exception as exc:  # noqa: BLE001  mido/pretty_midi raise many types (OSError, EOFError...)
        log.warning("report: cannot read MIDI %s (%s)", rel, exc)
        return RollView(rel, None, 0, 0, 0, error=f"cannot read MIDI: {exc}")
    starts = [s.start for s in timeline.sections]
    image, (low, high) = piano_roll_image(notes, timeline.duration or 0.0, timeline.bar_seconds, starts)
    target = image_path(rel, "roll")
    write_png(folder / target, image)
    return RollView(rel, target, len(notes), low, high)


def remove_stale_images(folder: Path, keep: set[str]) -> None:
    """Delete report PNGs no longer shown (a stem removed before a forced re-render); only our own PNGs."""
    directory = folder / REPORT_DIR
    if not directory.is_dir():
        return
    for png in directory.glob("*.png"):
        if f"{REPORT_DIR}/{png.name}" not in keep and re.search(r"\.(wave|spec|roll)\.png$", png.name):
            png.unlink(missing_ok=True)
