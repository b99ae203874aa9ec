"""The report's images as RGB arrays: waveform, spectrogram and piano roll (numpy only, fast on a CPU).

Every image spans its audio's (or the track's) full length left to right, so images of one track line up
with the section timeline drawn above them in the HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flows.report.png import apply_colormap, colormap, hex_rgb
from stems.audio import Audio
from stems.transcription import midi

BACKGROUND = hex_rgb("#16181d")
GRID = hex_rgb("#2c3038")
SECTION_LINE = hex_rgb("#6b7280")
CLIP = hex_rgb("#ef4444")
PEAK_COLOR = hex_rgb("#3b6ea8")
RMS_COLOR = hex_rgb("#7cb7ff")
# Tableau 10 (M. Stone, Tableau Software, 2016): distinct hues for one colour per instrument.
TRACK_COLORS = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
CLIP_LEVEL = 0.999  # |sample| at or above this counts as a clipped column (float full scale is 1.0)

N_FFT = 2048  # ~46 ms at 44.1 kHz: resolves bass notes a few Hz apart while keeping drum hits sharp
SPEC_MIN_HZ = 30.0  # below the lowest note of a 5-string bass (B0 ~ 31 Hz)
SPEC_MAX_HZ = 20000.0  # upper limit of hearing
SPEC_FLOOR_DB = -100.0  # dBFS mapped to black; 0 dBFS (full-scale sine) to the brightest colour
FRAMES_PER_CHUNK = 1024  # bounds the STFT's memory on long files (~8 MB of float32 frames)


@dataclass(frozen=True)
class Note(midi.Note):
    """A MIDI note with the index of the instrument (track) it belongs to, for colouring."""

    track: int = 0


def _canvas(height: int, width: int) -> np.ndarray:
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    return image


def _column_bounds(num_samples: int, width: int) -> np.ndarray:
    """Start sample of each pixel column (repeats when there are fewer samples than columns)."""
    return (np.arange(width, dtype=np.int64) * num_samples) // width


def _fill_between(lane: np.ndarray, top: np.ndarray, bottom: np.ndarray, color: tuple[int, int, int]) -> None:
    """Colour, in every column c, rows top[c]..bottom[c] inclusive (lane is a view into the image)."""
    rows = np.arange(lane.shape[0])[:, None]
    lane[(rows >= top[None, :]) & (rows <= bottom[None, :])] = color


def _rows(value: np.ndarray, lane_height: int) -> np.ndarray:
    """Row of an amplitude in a lane: +1 at the top row, -1 at the bottom row."""
    half = (lane_height - 1) / 2.0
    return np.round(half - np.clip(value, -1.0, 1.0) * half).astype(np.int64)


def waveform_image(
    audio: Audio, width: int = 1200, height: int = 120, marks: Sequence[float] = ()
) -> np.ndarray:
    """Peak envelope (dark) and RMS envelope (light) per channel lane; clipped columns marked red on top.

    ``marks`` (seconds, e.g. section starts) are drawn as faint vertical lines behind the envelopes.
    """
    channels = audio.samples[:2]
    image = _canvas(height, width)
    if audio.duration > 0:
        _vertical_lines(image, marks, audio.duration, GRID)
    lane_height = height // len(channels)
    bounds = _column_bounds(max(audio.num_samples, 1), width)
    for index, x in enumerate(channels):
        if x.size == 0:
            continue
        lane = image[index * lane_height : (index + 1) * lane_height]
        counts = np.diff(np.append(bounds, x.size)).clip(min=1)
        peak_hi, peak_lo = np.maximum.reduceat(x, bounds), np.minimum.reduceat(x, bounds)
        rms = np.sqrt(np.add.reduceat(x.astype(np.float64) ** 2, bounds) / counts)
        lane[(lane_height - 1) // 2] = GRID
        _fill_between(lane, _rows(peak_hi, lane_height), _rows(peak_lo, lane_height), PEAK_COLOR)
        _fill_between(lane, _rows(rms, lane_height), _rows(-rms, lane_height), RMS_COLOR)
        clipped = np.maximum(peak_hi, -peak_lo) >= CLIP_LEVEL
        lane[:2, clipped] = CLIP
    return image


def _band_weights(sample_rate: int, height: int) -> np.ndarray:
    """(bins, rows) weights averaging FFT bins into log-spaced rows, top row = highest frequency."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate)
    top = min(SPEC_MAX_HZ, sample_rate / 2.0)
    edges = np.geomspace(SPEC_MIN_HZ, top, height + 1)
    weights = np.zeros((freqs.size, height))
    for row in range(height):
        inside = (freqs >= edges[row]) & (freqs < edges[row + 1])
        if inside.any():
            weights[inside, row] = 1.0 / inside.sum()
        else:  # low rows narrower than a bin: interpolate between the two nearest bins
            centre = np.sqrt(edges[row] * edges[row + 1])
            upper = int(np.clip(np.searchsorted(freqs, centre), 1, freqs.size - 1))
            frac = (centre - freqs[upper - 1]) / (freqs[upper] - freqs[upper - 1])
            weights[upper - 1, row], weights[upper, row] = 1.0 - frac, frac
    return weights[:, ::-1]


def _band_power(mono: np.ndarray, sample_rate: int, height: int, width: int) -> tuple[np.ndarray, int]:
    """Power per (frame, row) of a Hann-windowed STFT, scaled so a full-scale sine reads 0 dBFS.

    About one frame per pixel column, never less than 50 % window overlap (so no sample goes unseen).
    """
    hop = int(max(1, min(N_FFT // 2, mono.size // width)))
    padded = np.pad(mono, (N_FFT // 2, N_FFT // 2 + hop))
    frames = 1 + (padded.size - N_FFT) // hop
    window = np.hanning(N_FFT).astype(np.float32)
    weights = _band_weights(sample_rate, height)
    scale = (window.sum() / 2.0) ** 2  # peak bin of a unit sine under this window
    out = np.empty((frames, height))
    view = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::hop]
    for start in range(0, frames, FRAMES_PER_CHUNK):
        block = view[start : start + FRAMES_PER_CHUNK] * window
        out[start : start + len(block)] = (np.abs(np.fft.rfft(block, axis=1)) ** 2 / scale) @ weights
    return out, frames


def spectrogram_image(audio: Audio, width: int = 1200, height: int = 160) -> np.ndarray:
    """Log-frequency (30 Hz..20 kHz) power spectrogram of the channel mean, dBFS on the magma colour map."""
    mono = audio.samples.mean(axis=0)
    if mono.size == 0:
        return _canvas(height, width)
    power, frames = _band_power(mono, audio.sample_rate, height, width)
    lo = (np.arange(width) * frames) // width
    hi = np.maximum(lo + 1, (np.arange(1, width + 1) * frames) // width)
    summed = np.vstack([np.zeros((1, height)), np.cumsum(power, axis=0)])
    mean = (summed[hi] - summed[lo]) / (hi - lo)[:, None]
    db = 10.0 * np.log10(np.maximum(mean.T, 1e-20))
    return apply_colormap((db - SPEC_FLOOR_DB) / -SPEC_FLOOR_DB, colormap())


def read_midi_tracks(path: str) -> tuple[list[str], list[Note]]:
    """Instrument names and all their notes, in seconds (pretty_midi applies the tempo map)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(path))
    names = [inst.name or f"track {i + 1}" for i, inst in enumerate(midi.instruments)]
    notes = [
        Note(n.start, n.end, n.pitch, n.velocity, index)
        for index, inst in enumerate(midi.instruments)
        for n in inst.notes
    ]
    return names, sorted(notes, key=lambda n: (n.start, n.pitch))


def read_midi_notes(path: str) -> list[Note]:
    """All notes of every instrument of a MIDI file, in seconds."""
    return read_midi_tracks(path)[1]


def _shade_black_keys(image: np.ndarray, low: int, row_px: int) -> None:
    """Darker rows for the black keys (C#, D#, F#, G#, A#) like a DAW's piano roll."""
    rows = image.shape[0] // row_px
    for index in range(rows):
        if (low + rows - 1 - index) % 12 in (1, 3, 6, 8, 10):
            image[index * row_px : (index + 1) * row_px] = (np.asarray(BACKGROUND) * 0.75).astype(np.uint8)


def _vertical_lines(
    image: np.ndarray, times: Sequence[float] | np.ndarray, duration: float, color: tuple[int, int, int]
) -> None:
    width = image.shape[1]
    for t in times:
        x = round(t / duration * width)
        if 0 < x < width:
            image[:, x] = color


def piano_roll_image(
    notes: Sequence[Note],
    duration: float,
    bar_seconds: float | None = None,
    section_starts: Sequence[float] = (),
    width: int = 1200,
    palette: Sequence[tuple[int, int, int]] = (),
) -> tuple[np.ndarray, tuple[int, int]]:
    """Notes as bars over bar lines (dim) and section starts (bright).

    Coloured by velocity, or with ``palette`` by instrument (``palette[note.track % len(palette)]``).

    Returns the image and the (lowest, highest) MIDI pitch it shows, for the caption.
    """
    pitches = [n.pitch for n in notes] or [60]
    low, high = max(0, min(pitches) - 2), min(127, max(pitches) + 2)
    if high - low < 12:  # at least an octave, so a single note does not fill the image
        low = max(0, min(low, 127 - 12))
        high = low + 12
    rows = high - low + 1
    row_px = int(np.clip(240 // rows, 2, 10))
    image = _canvas(rows * row_px, width)
    _shade_black_keys(image, low, row_px)
    duration = max(duration, max((n.end for n in notes), default=0.0), 1e-3)
    if bar_seconds and bar_seconds > 0:
        _vertical_lines(image, np.arange(bar_seconds, duration, bar_seconds), duration, GRID)
    _vertical_lines(image, section_starts, duration, SECTION_LINE)
    lut = colormap()
    for note in notes:
        x0 = int(np.floor(note.start / duration * width))
        x1 = max(x0 + 1, int(np.ceil(note.end / duration * width)))
        y0 = (high - note.pitch) * row_px
        colour = palette[note.track % len(palette)] if palette else lut[int(64 + note.velocity * 191 / 127)]
        image[y0 + 1 : y0 + row_px, x0:x1] = colour
    return image, (low, high)
