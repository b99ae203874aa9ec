"""Note types, the shared tempo map, grid quantisation and Standard MIDI File writing.

Every MIDI file of a render shares one constant tempo map taken from the arrangement (no tempo
changes), so seconds convert to ticks with one factor. Files are written with mido as format 1
(SMF 1.0 spec): track 0 holds the tempo and time signature, one track per stem follows. Drums use
General MIDI channel 10 (index 9, GM Level 1 spec); pitched stems take the other channels in order.
A synth or DAW sounds one voice per pitch and channel, so no note starts while its pitch still sounds on its
channel: notes are cut at the next start of their pitch (:func:`without_overlaps`), again in ticks across
the tracks that share a channel when a file is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from stems.audio import AtomicWriter
from stems.errors import UserInputError

# 480 ticks per quarter note resolves 1/64-note triplets exactly and is the common DAW default.
TICKS_PER_BEAT = 480
# GM Level 1: channel 10 (0-based 9) is the percussion channel.
DRUM_CHANNEL = 9
# MIDI pitch-wheel range is a signed 14-bit value (MIDI 1.0 spec, "Pitch Bend Change").
PITCH_BEND_MIN, PITCH_BEND_MAX = -8192, 8191
ALLOWED_DENOMINATORS = (1, 2, 4, 8, 16, 32)
# The Set Tempo meta event stores microseconds per quarter note in 3 bytes (SMF 1.0, "Set Tempo"): a quarter
# note may last at most 16.78 s, whatever the time signature's beat unit.
MAX_MICROSECONDS_PER_QUARTER = 0xFFFFFF


def microseconds_per_quarter(bpm: float, denominator: int) -> int:
    """What the Set Tempo event stores: ``bpm`` counts beats of 1/``denominator``, so a quarter note lasts
    ``denominator / 4`` beats."""
    return round(60_000_000 / (bpm * 4.0 / denominator))


def slowest_bpm(denominator: int) -> float:
    """The slowest tempo (beats of 1/``denominator`` per minute) whose quarter note a MIDI file can hold."""
    return 60_000_000 * denominator / 4 / MAX_MICROSECONDS_PER_QUARTER


def tempo_problem(bpm: float, numerator: int, denominator: int) -> str | None:
    """Why a MIDI file cannot hold ``bpm`` in ``numerator/denominator``, with the fix; None when it can.

    Writing the metre with another beat unit keeps the quarter note's length, so only a faster tempo helps."""
    if microseconds_per_quarter(bpm, denominator) <= MAX_MICROSECONDS_PER_QUARTER:
        return None
    lowest = math.ceil(slowest_bpm(denominator) * 10) / 10
    return (
        f"at {bpm:g} bpm in {numerator}/{denominator} a quarter note lasts {60 * denominator / 4 / bpm:.2f} s, "
        f"longer than the {MAX_MICROSECONDS_PER_QUARTER / 1e6:.2f} s a MIDI file's tempo can hold; use at "
        f"least {lowest:g} bpm with this time_signature (its beat is a 1/{denominator} note)"
    )


@dataclass(frozen=True)
class TempoMap:
    """Constant tempo and metre of a track.

    ``bpm`` counts the time signature's beats (a bar lasts ``numerator * 60 / bpm`` seconds); the MIDI
    tempo is in quarter notes, so it is ``bpm * 4 / denominator`` quarter notes per minute.
    """

    bpm: float
    numerator: int = 4
    denominator: int = 4

    def __post_init__(self) -> None:
        if not 1.0 <= self.bpm <= 1000.0:
            raise UserInputError(f"tempo: bpm {self.bpm!r} is out of range; use a value from 1 to 1000")
        if not 1 <= self.numerator <= 64:
            raise UserInputError(
                f"tempo: time signature numerator {self.numerator!r} is out of range; use 1 to 64"
            )
        if self.denominator not in ALLOWED_DENOMINATORS:
            raise UserInputError(
                f"tempo: time signature denominator {self.denominator!r} is not a power of two; "
                f"use one of {ALLOWED_DENOMINATORS}"
            )
        problem = tempo_problem(self.bpm, self.numerator, self.denominator)
        if problem:
            raise UserInputError(f"tempo: {problem}")

    @property
    def quarter_notes_per_minute(self) -> float:
        return self.bpm * 4.0 / self.denominator

    @property
    def seconds_per_quarter(self) -> float:
        return 60.0 / self.quarter_notes_per_minute

    @property
    def microseconds_per_quarter(self) -> int:
        return microseconds_per_quarter(self.bpm, self.denominator)

    @property
    def bar_seconds(self) -> float:
        return self.numerator * 60.0 / self.bpm

    def seconds_to_ticks(self, seconds: float) -> int:
        return round(seconds / self.seconds_per_quarter * TICKS_PER_BEAT)


DEFAULT_TEMPO = TempoMap(120.0, 4, 4)


@dataclass(frozen=True)
class Note:
    """One note in seconds from the start of the stem; velocity 1-127."""

    start: float
    end: float
    pitch: int
    velocity: int


@dataclass(frozen=True)
class PitchBend:
    """A pitch-wheel value (-8192..8191, +-2 semitones at the GM default bend range) at a time."""

    time: float
    value: int


@dataclass(frozen=True)
class NoteTrack:
    """The notes of one stem, with what is needed to write it as one MIDI track."""

    name: str
    instrument: str
    program: int
    is_drum: bool
    notes: tuple[Note, ...]
    warnings: tuple[str, ...] = ()
    pitch_bends: tuple[PitchBend, ...] = ()
    seconds: float = 0.0  # transcription time of the stem (wall clock)


def parse_grid(grid: str) -> Fraction:
    """Parse a grid such as ``"1/16"`` (a sixteenth note) or ``"1/8t"`` (eighth-note triplet)."""
    text = grid.strip().lower()
    triplet = text.endswith("t")
    body = text[:-1] if triplet else text
    try:
        value = Fraction(body)
    except (ValueError, ZeroDivisionError):
        value = Fraction(0)
    if value <= 0 or value > 4:
        raise UserInputError(
            f"quantize: grid {grid!r} is not a note value; use a fraction of a whole note such as "
            "'1/4', '1/8', '1/16' or a triplet such as '1/8t'"
        )
    return value * Fraction(2, 3) if triplet else value


def grid_seconds(grid: str, tempo: TempoMap) -> float:
    """Length of one grid step in seconds (a whole note is four quarter notes)."""
    return float(parse_grid(grid) * 4) * tempo.seconds_per_quarter


def quantize_notes(
    notes: Sequence[Note], grid: str, tempo: TempoMap, is_drum: bool = False
) -> tuple[Note, ...]:
    """Snap starts (and ends, for pitched notes) to the nearest grid step; a note keeps at least one step.

    Drum hits keep their length, since a drum note's end carries no meaning in GM.
    """
    step = grid_seconds(grid, tempo)
    out: list[Note] = []
    for note in notes:
        start = round(note.start / step) * step
        if is_drum:
            end = start + (note.end - note.start)
        else:
            end = max(round(note.end / step) * step, start + step)
        out.append(replace(note, start=start, end=end))
    return without_overlaps(out)  # two notes of a pitch can land on one step, a note's end past the next


@dataclass(frozen=True)
class _Span:
    """A note on its way to a file: ``on``/``off`` in seconds or ticks; ``owner`` is the track it is written in."""

    on: float
    off: float
    pitch: int
    velocity: int
    owner: int = 0


def _one_voice_per_pitch(spans: Iterable[_Span], gap: float = 0) -> list[_Span]:
    """Spans of one channel, each ending by the next start of its pitch: a synth or DAW sounds one voice per
    pitch and channel, so a note-on of a pitch still on is cut at the earlier note's note-off. Of spans that
    start together the louder, then the longer, stays. A span is cut ``gap`` before a start in another
    track: at one tick, a player reads the tracks in turn, and the other track's note-on may come first."""
    out: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.pitch, round(s.on, 6), -s.velocity, s.on - s.off, s.owner)):
        previous = out[-1] if out and out[-1].pitch == span.pitch else None
        if previous is not None and round(previous.on, 6) == round(span.on, 6):
            continue
        if previous is not None:
            cut = span.on - (gap if span.owner != previous.owner else 0)
            if cut <= previous.on:
                out.pop()  # shorter than the gap: nothing to hear
            elif previous.off > cut:
                out[-1] = replace(previous, off=cut)
        out.append(span)
    return out


def without_overlaps(notes: Iterable[Note]) -> tuple[Note, ...]:
    """The notes (by start, pitch), each ending no later than the next start of its pitch (see
    :func:`_one_voice_per_pitch`): what backtracked onsets, quantising and fixed-length drum hits must pass."""
    spans = _one_voice_per_pitch(_Span(n.start, n.end, n.pitch, n.velocity) for n in notes)
    kept = (Note(s.on, s.off, s.pitch, s.velocity) for s in spans)
    return tuple(sorted(kept, key=lambda n: (n.start, n.pitch)))


def _channels(tracks: Sequence[NoteTrack]) -> list[int]:
    """GM channel per track: drums on 9, pitched tracks on the other 15 in turn."""
    melodic = [c for c in range(16) if c != DRUM_CHANNEL]
    out, k = [], 0
    for track in tracks:
        if track.is_drum:
            out.append(DRUM_CHANNEL)
        else:
            out.append(melodic[k % len(melodic)])
            k += 1
    return out


def _tempo_track(tempo: TempoMap, title: str, markers: Sequence[tuple[float, str]] = ()) -> object:
    """The conductor track: name, tempo, meter, and the markers (seconds, text), where DAWs look for them."""
    import mido

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=title, time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=tempo.microseconds_per_quarter, time=0))
    track.append(
        mido.MetaMessage("time_signature", numerator=tempo.numerator, denominator=tempo.denominator, time=0)
    )
    last = 0
    for tick, text in sorted((tempo.seconds_to_ticks(t), text) for t, text in markers):
        track.append(mido.MetaMessage("marker", text=text, time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _tick_spans(tracks: Sequence[NoteTrack], channels: Sequence[int], tempo: TempoMap) -> list[list[_Span]]:
    """Each track's notes in ticks, one voice per pitch on each channel, across the tracks that share it
    (two drum stems, or a 16th pitched stem): rounding to ticks and other tracks can still overlap notes."""
    out: list[list[_Span]] = [[] for _ in tracks]
    for channel in sorted(set(channels)):
        spans = []
        for k, track in enumerate(tracks):
            for note in track.notes if channels[k] == channel else ():
                on = tempo.seconds_to_ticks(note.start)
                off = max(tempo.seconds_to_ticks(note.end), on + 1)  # most readers drop a zero-length note
                spans.append(_Span(on, off, note.pitch, int(min(max(note.velocity, 1), 127)), k))
        for span in _one_voice_per_pitch(spans, gap=1):
            out[span.owner].append(span)
    return out


def _events(
    track: NoteTrack, spans: Sequence[_Span], channel: int, tempo: TempoMap
) -> list[tuple[int, int, object]]:
    """(tick, order, message) triples; at one tick note-offs go before bends before note-ons."""
    import mido

    events: list[tuple[int, int, object]] = []
    for span in spans:
        on, off, pitch = int(span.on), int(span.off), span.pitch
        events.append((on, 2, mido.Message("note_on", channel=channel, note=pitch, velocity=span.velocity)))
        events.append((off, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    for bend in track.pitch_bends:
        value = int(min(max(bend.value, PITCH_BEND_MIN), PITCH_BEND_MAX))
        tick = tempo.seconds_to_ticks(bend.time)
        events.append((tick, 1, mido.Message("pitchwheel", channel=channel, pitch=value)))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def _note_track(track: NoteTrack, spans: Sequence[_Span], channel: int, tempo: TempoMap) -> object:
    import mido

    out = mido.MidiTrack()
    out.append(mido.MetaMessage("track_name", name=track.name, time=0))
    if not track.is_drum:
        out.append(mido.Message("program_change", channel=channel, program=track.program, time=0))
    last = 0
    for tick, _, msg in _events(track, spans, channel, tempo):
        out.append(msg.copy(time=tick - last))  # type: ignore[attr-defined]
        last = tick
    if track.pitch_bends:  # leave the wheel centred for whoever plays the channel next
        out.append(mido.Message("pitchwheel", channel=channel, pitch=0, time=0))
    out.append(mido.MetaMessage("end_of_track", time=0))
    return out


def _check_tracks(tracks: Sequence[NoteTrack]) -> None:
    for track in tracks:
        if not 0 <= track.program <= 127:
            raise UserInputError(f"{track.name}: GM program {track.program} is out of range; use 0-127")
        for note in track.notes:
            if not 0 <= note.pitch <= 127 or note.start < 0 or note.end < note.start:
                raise UserInputError(
                    f"{track.name}: invalid note {note}; pitch must be 0-127 and 0 <= start <= end"
                )


def write_midi(
    path: Path, tracks: Sequence[NoteTrack], tempo: TempoMap, markers: Sequence[tuple[float, str]] = ()
) -> None:
    """Write one format-1 MIDI file (one track per NoteTrack, one tempo map) atomically; ``markers``
    (seconds, text), e.g. the chord symbols as played, are marker meta-events of the tempo track.

    An empty ``tracks`` or tracks without notes still give a valid file with the tempo map.
    """
    import mido

    _check_tracks(tracks)
    path = Path(path)
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(_tempo_track(tempo, path.stem, markers))
    channels = _channels(tracks)
    for track, spans, channel in zip(tracks, _tick_spans(tracks, channels, tempo), channels):
        midi.tracks.append(_note_track(track, spans, channel, tempo))
    with AtomicWriter(path) as tmp:
        midi.save(str(tmp))
