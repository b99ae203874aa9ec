"""Note tracking on basic-pitch's posteriorgrams: per-pitch onset peaks, offsets by hysteresis on the decay.

basic-pitch's own ``note_creation`` starts a note at each onset peak above a threshold and keeps it while
the note activation stays above one frame threshold, tolerating 11 quieter frames. Rendered with reverb
(FluidSynth's default, and any room), that activation lingers after the release, so notes end 50-400 ms
late; bowed strings, whose onset output is weak, lose most repeated notes. This tracker, per pitch:

1. onsets are local maxima of ``max(onset, rise_weight x rise of the note activation over 2 frames)``
   above ``onset_threshold``, at least ``MIN_GAP_FRAMES`` apart (re-onsets of a held pitch included);
2. a note lasts from its onset until the next onset of its pitch or until its activation falls below
   ``max(frame_threshold, release_ratio x its peak so far)`` for ``HOLD_FRAMES`` frames (hysteresis: it
   must first reach ``frame_threshold`` within ``ATTACK_FRAMES``, or it was no note);
3. its end moves ``release_ms`` earlier: the activation outlives the sound by the reverb's decay;
4. with ``reonset_threshold`` (solo bowed strings), a weaker onset peak also restarts a held pitch when its
   activation fell by ``REONSET_DIP`` after the previous onset's attack and rises again after the peak: a
   bow change on a repeated note barely dips the activation and its onset output peaks only 0.4-0.65.

Measured on the report split of ``bench/real_music.py`` (18 excerpts of public-domain scores, never tuned
on; mean onset F1 / with-offset F1), each step added to the previous: basic-pitch's note creation with the
previous rows 0.720 / 0.425; step 1 alone, thresholds retuned for the whole chain, 0.657 / 0.362; with the
rise 0.746 / 0.398; with the decay's hysteresis 0.792 / 0.578; with ``release_ms`` 0.796 / 0.628
(basic-pitch's defaults: 0.570 / 0.292). Then, on the tuning split grown to 20 excerpts (repeated bowed
eighths of K. 155's second violin and viola, a chorale soprano on the flute's top octave: the phenomena the
report split's worst excerpts showed and the tuning split lacked), tuning -> report split:

- onset backtracking (``stems.transcribe_notes``) ends at the activation's lowest point instead of wherever
  its slack let it climb the previous note's decay, above a floor of 0.2 for the tracker's rows, and the
  rows backtrack further (woodwind 0 -> 20 ms, brass 30 -> 80, strings 50 -> 130, solo strings 30 -> 130):
  tuning 0.858 / 0.737 -> 0.869 / 0.751, report 0.796 / 0.628 -> 0.819 / 0.661 (the flute's late onsets
  0.61 -> 0.94, the violin 0.73 -> 0.91, the cello 0.37 -> 0.26; woodwind group 0.855 -> 0.959). Synthetic
  seeds 100-102: woodwind 0.824 -> 0.931, brass 0.979 -> 0.959, other families unchanged;
- step 4 (``reonset_threshold`` 0.6 for solo strings): tuning 0.869 / 0.751 -> 0.873 / 0.763 (string lines
  0.841 / 0.679 -> 0.859 / 0.725), report 0.819 / 0.661 -> 0.828 / 0.661 (offsets -0.0004; cello 0.26 -> 0.44,
  violin 0.906 -> 0.899);
- (not the tracker) the string-ensemble row's frame threshold, minimum note and backtrack retuned: tuning
  0.873 / 0.763 -> 0.874 / 0.768, report 0.828 / 0.661 -> 0.828 / 0.662.

Tried and dropped: the same re-onsets for quartets (tuning +0.02, report -0.02 to -0.04), the note tracker
for string ensembles (tuning onset 0.40 -> 0.42, report 0.41 -> 0.36), and the guitar row retuned jointly
on real and synthetic tuning sets (today's row stays best). The README's "Transcription on real music" has
the figures per group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_GAP_FRAMES = 4  # two onsets of a pitch closer than 46 ms are one (a 32nd at 160 bpm is 94 ms)
REONSET_SKIP_FRAMES = 12  # 139 ms: a re-onset's dip is looked for after the previous onset's attack
REONSET_DIP = 0.03  # how far the activation must fall and then rise again around a re-onset
REONSET_RISE_FRAMES = 6  # 70 ms after the weaker onset peak for that rise
HOLD_FRAMES = 2  # frames below the release level that end a note: one-frame dips are noise
ATTACK_FRAMES = 8  # 93 ms for the activation to reach the frame threshold after an onset

Event = tuple[int, int, int, float, list[int] | None]  # frames start, end, pitch index, amplitude, bends


@dataclass(frozen=True)
class Tracking:
    """The tracker's parameters (a projection of ``TranscriptionSettings``); times in frames."""

    onset_threshold: float
    frame_threshold: float
    min_frames: int
    rise_weight: float
    release_ratio: float
    release_frames: int
    reonset_threshold: float = 0.0


def onset_strength(note: np.ndarray, onset: np.ndarray, rise_weight: float) -> np.ndarray:
    """basic-pitch's onset posterior, or a scaled rise of the note activation where that is larger: bowed
    and blown attacks raise the activation well before (or without) an onset peak.

    The rise is a backward difference over two frames, so a step of the activation at frame t peaks at t+1.
    That is where the sound starts: the model's activation steps up about a frame before its onset output
    peaks and before the audio's onset (its frames are centred windows). On tones with known onsets at
    random sub-frame phases, onsets from the rise come out 6.8 ms early on average, from the onset output
    1.4 ms early, and from a one-frame difference (peaking on the step itself) 12.6 ms early; on the real
    tuning split the two-frame rise peaks 0.2 frames before the onset output's peaks, a one-frame one 0.8."""
    if rise_weight <= 0:
        return onset
    rise = np.zeros_like(note)
    rise[2:] = note[2:] - note[:-2]
    return np.maximum(onset, rise_weight * np.clip(rise, 0.0, None))


def onset_peaks(strength: np.ndarray, threshold: float) -> np.ndarray:
    """(frame, pitch) pairs where ``strength`` is a local maximum in time and at least ``threshold``."""
    padded = np.pad(strength, ((1, 1), (0, 0)))
    peak = (strength >= threshold) & (strength >= padded[:-2]) & (strength > padded[2:])
    frames, pitches = np.nonzero(peak)
    order = np.lexsort((frames, pitches))
    return np.stack([frames[order], pitches[order]], axis=1)


def _merged(frames: np.ndarray, strength: np.ndarray) -> list[int]:
    """Onsets of one pitch with those closer than ``MIN_GAP_FRAMES`` merged into the stronger."""
    kept: list[int] = []
    for t in frames.tolist():
        if kept and t - kept[-1] < MIN_GAP_FRAMES:
            if strength[t] > strength[kept[-1]]:
                kept[-1] = t
            continue
        kept.append(t)
    return kept


def _with_reonsets(
    candidates: list[int], column: np.ndarray, power: np.ndarray, params: Tracking
) -> list[int]:
    """Onsets of one pitch: candidates at least ``onset_threshold``, and weaker ones (at least
    ``reonset_threshold``) where the held pitch's activation dipped since the previous onset's attack and
    rises again after: a bow change or a re-tongued note whose onset output stays weak."""
    starts: list[int] = []
    for t in candidates:
        if power[t] >= params.onset_threshold:
            starts.append(t)
            continue
        if not starts:
            continue
        since = column[starts[-1] + REONSET_SKIP_FRAMES : t + 1]
        if len(since) == 0:
            continue
        low = int(np.argmin(since))
        floor = since[low]
        fell = since[: low + 1].max() - floor
        rose = column[t : t + REONSET_RISE_FRAMES].max() - floor
        if floor >= params.frame_threshold and fell >= REONSET_DIP and rose >= REONSET_DIP:
            starts.append(t)
    return starts


def _end(segment: np.ndarray, params: Tracking) -> int:
    """Frames the note lasts within ``segment`` (its pitch's activation from its onset to the next one);
    0 when it never reaches the frame threshold."""
    if not np.any(segment[:ATTACK_FRAMES] >= params.frame_threshold):
        return 0
    level = np.maximum(params.frame_threshold, params.release_ratio * np.maximum.accumulate(segment))
    below = (segment < level).astype(np.int8)
    if HOLD_FRAMES > 1:
        below = np.convolve(below, np.ones(HOLD_FRAMES, dtype=np.int8), mode="full")[: len(segment)]
    ended = np.flatnonzero(below >= HOLD_FRAMES)
    return int(ended[0]) - HOLD_FRAMES + 1 if len(ended) else len(segment)


def track_notes(note: np.ndarray, onset: np.ndarray, params: Tracking) -> list[Event]:
    """Note events (frame start, frame end, pitch bin 0-87, mean activation, no bends)."""
    strength = onset_strength(note, onset, params.rise_weight)
    reonsets = 0.0 < params.reonset_threshold < params.onset_threshold
    peaks = onset_peaks(strength, params.reonset_threshold if reonsets else params.onset_threshold)
    events: list[Event] = []
    for pitch in np.unique(peaks[:, 1]).tolist():
        column, power = note[:, pitch], strength[:, pitch]
        starts = _merged(peaks[peaks[:, 1] == pitch, 0], power)
        if reonsets:
            starts = _with_reonsets(starts, column, power, params)
        for k, start in enumerate(starts):
            stop = starts[k + 1] if k + 1 < len(starts) else len(column)
            length = _end(column[start:stop], params)
            if length == 0:
                continue
            end = max(start + length - params.release_frames, start + 1)
            if end - start > params.min_frames:  # as basic-pitch's note creation: longer than the minimum
                events.append((start, end, pitch, float(column[start : start + length].mean()), None))
    return events
