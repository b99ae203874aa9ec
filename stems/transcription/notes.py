"""basic-pitch posteriorgrams -> notes, with the instrument-aware clean-up steps.

Note extraction is either ``basic_pitch.note_creation`` (onset peak picking, frame tracking, the
"melodia trick"; basic-pitch's defaults) or, with ``note_tracking``, :mod:`stems.transcription.tracking`
(offsets by hysteresis on the activation's decay, re-onsets); this module adds what the settings table
asks for on top: faint-note and octave-ghost removal, monophonic reduction and pitch bends.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import numpy as np

from stems.transcription.midi import Note, PitchBend, without_overlaps
from stems.transcription.settings import TranscriptionSettings

# basic_pitch.note_creation: output bin 0 is MIDI 21 (A0); contour has 3 bins per semitone.
MIDI_OFFSET = 21
CONTOUR_BINS_PER_SEMITONE = 3
# A bend of 4096 is one semitone at the GM default bend range of +-2 semitones (GM Level 1).
BEND_PER_SEMITONE = 4096
# basic_pitch.constants (ICASSP 2022 model): 22050 Hz input, one output frame per 256 samples.
MODEL_SAMPLE_RATE = 22050
FFT_HOP = 256
FRAMES_PER_SECOND = MODEL_SAMPLE_RATE / FFT_HOP  # 86.13: the posteriorgrams' frame rate
# Partials a model most often reports as notes: harmonics 2-6 (octave, twelfth, two octaves, +28 and +31 semitones).
GHOST_INTERVALS = (12, 19, 24, 28, 31)
GHOST_LEVEL = 0.8  # a ghost is quieter than this fraction of the note under it
BACKTRACK_FLOOR = 0.1  # activation below this is background, not the start of the note
# The same for rows on the note tracker, which backtrack further (to 130 ms): just above the model's
# background of ~0.1, so a walk never wanders through silence. The pad row (basic-pitch's note creation)
# keeps 0.1: 0.2 costs it on the synthetic set (onset F1 0.43 -> 0.37, seeds 100-102).
TRACKED_BACKTRACK_FLOOR = 0.2
BACKTRACK_SLACK = 0.02  # tolerated non-monotonic wiggle of the activation while walking back
MONO_OVERLAP = 0.5  # a note overlapping a stronger one for more than half its length is dropped
EDGE_PAD = 3  # silent frames put before the posteriors (see _raw_events)


@contextlib.contextmanager
def quiet_basic_pitch_import() -> Iterator[None]:
    """basic_pitch/__init__ logs warnings on the ROOT logger for every backend it lacks (TF, CoreML,
    TFLite), which would also configure root logging as a side effect; swallow them once."""
    root = logging.getLogger()
    guard = logging.NullHandler()
    had_handlers = bool(root.handlers)
    if not had_handlers:
        root.addHandler(guard)
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
        if not had_handlers:
            root.removeHandler(guard)


Event = tuple[int, int, int, float, list[int] | None]  # frames start, end, pitch, amplitude, bends


def notes_from_posteriors(
    posteriors: dict[str, np.ndarray], settings: TranscriptionSettings
) -> tuple[tuple[Note, ...], tuple[PitchBend, ...]]:
    """Notes (sorted by start, pitch; each ending by the next start of its pitch) and pitch bends from the
    model output of one stem."""
    events = (
        _tracked_events(posteriors, settings) if settings.note_tracking else _raw_events(posteriors, settings)
    )
    events = [e for e in events if round(127 * e[3]) >= max(settings.min_velocity, 1)]
    if settings.octave_ghosts:
        events = _drop_ghosts(events)
    if settings.onset_backtrack_ms > 0:
        floor = TRACKED_BACKTRACK_FLOOR if settings.note_tracking else BACKTRACK_FLOOR
        events = backtrack_onsets(events, posteriors["note"], settings.onset_backtrack_ms, floor)
    if settings.monophonic:
        events = _monophonic(events)
    use_bends = settings.pitch_bends and settings.monophonic
    if use_bends:
        events = _with_bends(posteriors["contour"], events)
    times = _frame_times(posteriors["contour"].shape[0])
    # backtracking can move an onset into the previous note of its pitch, which would cut the new note short
    notes = without_overlaps(
        Note(float(times[s]), float(times[e]), int(p), int(np.clip(round(127 * a), 1, 127)))
        for s, e, p, a, _ in events
    )
    bends = _bend_events(events, times) if use_bends else ()
    return notes, bends


def ms_to_frames(ms: float) -> int:
    """Milliseconds as a whole number of posteriorgram frames (rounded half to even)."""
    return int(np.round(ms / 1000 * FRAMES_PER_SECOND))


def _raw_events(posteriors: dict[str, np.ndarray], settings: TranscriptionSettings) -> list[Event]:
    with quiet_basic_pitch_import():
        from basic_pitch import note_creation

    min_frames = ms_to_frames(settings.min_note_ms)
    # Zero frames in front: note_creation finds onsets with scipy's argrelmax, which never reports
    # frame 0, so a note struck at the very start of a stem would be lost. np.pad also gives
    # note_creation the copies it needs (it zeroes bands in place).
    frames = np.pad(posteriors["note"], ((EDGE_PAD, 0), (0, 0)))
    onsets = np.pad(posteriors["onset"], ((EDGE_PAD, 0), (0, 0)))
    # note_creation indexes bins from A0 (27.5 Hz) to C8 (4186 Hz); a bound outside that range would
    # become a negative or past-the-end index, so it means "no bound"
    lo = settings.min_frequency if settings.min_frequency and settings.min_frequency > 27.5 else None
    hi = settings.max_frequency if settings.max_frequency and settings.max_frequency < 4186.0 else None
    with np.errstate(invalid="ignore", divide="ignore"):  # all-zero frames divide 0/0 in infer_onsets
        raw = note_creation.output_to_notes_polyphonic(
            frames,
            onsets,
            onset_thresh=settings.onset_threshold,
            frame_thresh=settings.frame_threshold,
            min_note_len=min_frames,
            infer_onsets=True,
            max_freq=hi,
            min_freq=lo,
            melodia_trick=settings.melodia_trick,
        )
    shift = [(max(int(s) - EDGE_PAD, 0), int(e) - EDGE_PAD, int(p), float(a)) for s, e, p, a in raw]
    return [(s, e, p, a, None) for s, e, p, a in shift if e > s]


def _tracked_events(posteriors: dict[str, np.ndarray], settings: TranscriptionSettings) -> list[Event]:
    """:func:`stems.transcription.tracking.track_notes` on the pitches inside the frequency bounds."""
    from stems.transcription.tracking import Tracking, track_notes

    note, onset = posteriors["note"], posteriors["onset"]
    midi = np.arange(note.shape[1]) + MIDI_OFFSET
    hz = 440.0 * 2 ** ((midi - 69) / 12)
    inside = (hz >= (settings.min_frequency or 0.0)) & (hz <= (settings.max_frequency or np.inf))
    params = Tracking(
        onset_threshold=settings.onset_threshold,
        frame_threshold=settings.frame_threshold,
        min_frames=ms_to_frames(settings.min_note_ms),
        rise_weight=settings.rise_weight,
        release_ratio=settings.release_ratio,
        release_frames=ms_to_frames(settings.release_ms),
        reonset_threshold=settings.reonset_threshold,
    )
    events = track_notes(note * inside, onset * inside, params)
    last = note.shape[0] - 1  # the frame times end there; a note still sounding ends with the stem
    return [(s, min(e, last), p + MIDI_OFFSET, a, b) for s, e, p, a, b in events if min(e, last) > s]


def _frame_times(n_frames: int) -> np.ndarray:
    with quiet_basic_pitch_import():
        from basic_pitch import note_creation

    return np.asarray(note_creation.model_frames_to_time(n_frames), dtype=np.float64)


def _overlap(a: Event, b: Event) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def _drop_ghosts(events: list[Event]) -> list[Event]:
    """Drop a note mostly covered by a louder note 12/19/24/28/31 semitones below it."""
    by_pitch: dict[int, list[Event]] = {}
    for e in events:
        by_pitch.setdefault(e[2], []).append(e)
    kept = []
    for e in events:
        length = max(e[1] - e[0], 1)
        ghost = any(
            e[3] < GHOST_LEVEL * o[3] and _overlap(e, o) > 0.5 * length
            for interval in GHOST_INTERVALS
            for o in by_pitch.get(e[2] - interval, ())
        )
        if not ghost:
            kept.append(e)
    return kept


def backtrack_onsets(
    events: list[Event], frames: np.ndarray, max_ms: float, floor: float = BACKTRACK_FLOOR
) -> list[Event]:
    """Move each onset back to where its pitch's note activation started rising.

    Slow attacks (bowed strings, pads, voices) peak in basic-pitch's onset output 80-180 ms after the
    note begins; the note (frame) activation rises from the true start. Walking back while the
    activation keeps falling (and stays above ``floor``) finds that start, as librosa's
    ``onset_backtrack`` does for energy: the onset goes to the lowest activation on that walk, so the
    ``BACKTRACK_SLACK`` that lets the walk cross a wiggle never carries it up the previous note's decay.
    A bow change or a tongued re-attack of a held pitch dips the activation only a little, and the
    onset output peaks up to ~120 ms after it; that dip is where the walk ends.
    """
    limit = ms_to_frames(max_ms)
    out = []
    for s, e, p, a, b in events:
        column = frames[:, p - MIDI_OFFSET]
        t = best = s
        while t > 0 and s - t < limit and floor <= column[t - 1] <= column[best] + BACKTRACK_SLACK:
            t -= 1
            if column[t] < column[best]:
                best = t
        out.append((best, e, p, a, b))
    return out


def _monophonic(events: list[Event]) -> list[Event]:
    """Keep the strongest of overlapping notes, then cut each note at the next one's start."""
    accepted: list[Event] = []
    for e in sorted(events, key=lambda x: -x[3] * (x[1] - x[0])):
        length = max(e[1] - e[0], 1)
        if all(_overlap(e, o) <= MONO_OVERLAP * length for o in accepted):
            accepted.append(e)
    accepted.sort(key=lambda x: x[0])
    out = []
    for k, e in enumerate(accepted):
        end = min(e[1], accepted[k + 1][0]) if k + 1 < len(accepted) else e[1]
        if end > e[0]:
            out.append((e[0], end, e[2], e[3], e[4]))
    return out


def _with_bends(contour: np.ndarray, events: list[Event]) -> list[Event]:
    with quiet_basic_pitch_import():
        from basic_pitch import note_creation

    plain = [(s, e, p, a) for s, e, p, a, _ in events]
    return [
        (s, e, p, a, list(b) if b else None)
        for s, e, p, a, b in note_creation.get_pitch_bends(contour, plain)
    ]


def _bend_events(events: list[Event], times: np.ndarray) -> tuple[PitchBend, ...]:
    """One pitch-wheel event per change of basic-pitch's per-frame bend (1/3 semitone units)."""
    out: list[PitchBend] = []
    for s, e, _, _, bends in sorted(events, key=lambda x: x[0]):
        previous = None
        for k, b in enumerate(bends or []):
            value = round(b * BEND_PER_SEMITONE / CONTOUR_BINS_PER_SEMITONE)
            if value != previous and s + k < e:
                out.append(PitchBend(float(times[s + k]), value))
                previous = value
    return tuple(out)
