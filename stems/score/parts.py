"""A MIDI part per stem, played from the score by what the instrument's family does in a band.

This is a guide for the models and the ear, not a composition engine; every choice is a fixed rule, and the
seed only picks among equals (velocity jitter, the first voicing, approach directions, the lead's steps):

- bass: the chord's bass (the slash bass, else the root) on every pulse (:mod:`stems.score.meter`), in the
  octave from E1; into a chord change on every fourth bar line it plays a chromatic approach note, an
  eighth note a semitone above or below the next bass (at most one eighth in four bars is off the chord);
- piano, keys, guitar (comping): a voicing struck on every pulse of the chord, each voicing the close
  position, within the family's register, that moves the voices least from the one before (voice leading);
- strings, pad, brass, woodwind, vocals (sustained): the same voice-led voicings held for the whole chord;
- lead: the melody's notes when a melody is given, else a chord-tone line: one note per pulse, a chord
  tone next to the last one, up or down (the seed picks which);
- drums: :mod:`stems.score.drums`.

A voicing takes at most four of the chord's pitch classes (a slash bass foreign to the chord is one of
them: it sounds); from five and more the fifth is left out first, then the top tones.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from stems.errors import UserInputError
from stems.instruments import Instrument
from stems.score.meter import Meter
from stems.score.timeline import Score, TimedChord
from stems.transcription.midi import Note, NoteTrack, write_midi

BASS, COMP, SUSTAIN, LEAD, DRUMS = "bass", "comp", "sustain", "lead", "drums"
# What each family of stems.instruments plays.
FAMILY_ROLES: dict[str, str] = {
    "drums": DRUMS,
    "bass": BASS,
    "piano": COMP,
    "keys": COMP,
    "guitar": COMP,
    "lead": LEAD,
    "strings": SUSTAIN,
    "pad": SUSTAIN,
    "vocals": SUSTAIN,
    "brass": SUSTAIN,
    "woodwind": SUSTAIN,
}
# MIDI pitch range each family's part keeps to (E1 = 28, C4 = 60): where the GM instrument sounds well and
# out of the other parts' way (bass below keys below lead).
FAMILY_REGISTERS: dict[str, tuple[int, int]] = {
    "bass": (28, 40),
    "piano": (52, 76),
    "keys": (52, 76),
    "guitar": (52, 72),
    "lead": (64, 84),
    "strings": (48, 72),
    "pad": (48, 72),
    "vocals": (55, 76),
    "brass": (50, 74),
    "woodwind": (60, 84),
}
ROLE_VELOCITIES: dict[str, int] = {BASS: 96, COMP: 78, SUSTAIN: 72, LEAD: 92}
APPROACH_VELOCITY = 80
VELOCITY_JITTER = 6  # +- uniform, so repeated strikes are not machine-identical
ARTICULATION = 0.9  # sounding fraction of a struck note's time to the next strike
VOICING_SIZE = 4
APPROACH_EVERY_BARS = 4  # a pickup into each four-bar phrase: at most one eighth in four bars off the chord
FIFTH = 7


@dataclass(frozen=True)
class Part:
    """One stem's part: its notes in seconds from the track's start."""

    stem: str
    instrument: Instrument
    role: str
    notes: tuple[Note, ...]

    def track(self) -> NoteTrack:
        """The part as a MIDI track (GM program of the instrument; drums on channel 10)."""
        program = 0 if self.instrument.is_drum else self.instrument.program
        return NoteTrack(self.stem, self.instrument.name, program, self.instrument.is_drum, self.notes)


def role_of(instrument: Instrument) -> str:
    return DRUMS if instrument.is_drum else FAMILY_ROLES[instrument.family]


def make_part(
    stem: str, instrument: Instrument, score: Score, seed: int = 0, melody: Sequence[Note] | None = None
) -> Part:
    """The part ``instrument`` plays over ``score`` (the same for the same seed). ``melody``: the lead's
    notes (only a lead plays them)."""
    from stems.score.drums import drum_notes

    rng = np.random.default_rng(seed)
    role = role_of(instrument)
    if role == DRUMS:
        notes = drum_notes(score, rng)
    elif role == LEAD and melody is not None:
        notes = list(melody)
    else:
        play = {BASS: _bass, COMP: _comp, SUSTAIN: _sustain, LEAD: _lead}[role]
        notes = play(score, FAMILY_REGISTERS[instrument.family], rng)
    notes = [
        Note(n.start, min(n.end, score.duration), n.pitch, n.velocity)
        for n in notes
        if n.start < score.duration
    ]
    return Part(stem, instrument, role, tuple(sorted(notes, key=lambda n: (n.start, n.pitch))))


def write_part(path: Path, part: Part, score: Score) -> None:
    """The part as a MIDI file on the score's tempo map and time signature, written atomically."""
    write_midi(path, [part.track()], score.tempo)


def strikes(chord: TimedChord, meter: Meter) -> list[Fraction]:
    """Beats (from the track's start) where a chord is struck: its start and every pulse inside it."""
    bar = meter.numerator
    first = chord.start_beat - chord.start_beat % bar
    pulses = {first + k * bar + p for k in range(chord.beats // bar + 2) for p in meter.pulses}
    inside = {Fraction(b) for b in pulses if chord.start_beat < b < chord.start_beat + chord.beats}
    return sorted(inside | {Fraction(chord.start_beat)})


def _velocity(base: int, rng: np.random.Generator) -> int:
    return int(np.clip(base + rng.integers(-VELOCITY_JITTER, VELOCITY_JITTER + 1), 1, 127))


def _spans(chord: TimedChord, meter: Meter) -> list[tuple[Fraction, Fraction]]:
    """(start, end) beats of each strike of ``chord``."""
    hits = strikes(chord, meter)
    return list(zip(hits, [*hits[1:], Fraction(chord.start_beat + chord.beats)]))


def _seconds(score: Score, beats: Fraction | float) -> float:
    return float(beats) * score.beat_seconds


def pitch_in(pc: int, low: int) -> int:
    """The lowest MIDI pitch of pitch class ``pc`` at or above ``low``."""
    return low + (pc - low) % 12


def _bass(score: Score, register: tuple[int, int], rng: np.random.Generator) -> list[Note]:
    meter, low = Meter.of(score.tempo), register[0]
    notes = []
    for index, chord in enumerate(score.chords):
        following = score.chords[index + 1] if index + 1 < len(score.chords) else None
        approach = _approach_at(chord, following, meter)
        for start, end in _spans(chord, meter):
            end = end if approach is None else min(end, approach)
            if start < end:
                stop = start + (end - start) * Fraction(ARTICULATION)
                notes.append(_note(score, start, stop, pitch_in(chord.bass_pc, low), BASS, rng))
        if approach is not None and following is not None:
            step = 1 if rng.random() < 0.5 else -1
            target = pitch_in(following.bass_pc, low)
            end = approach + meter.eighth * Fraction(ARTICULATION)
            notes.append(
                Note(_seconds(score, approach), _seconds(score, end), target + step, APPROACH_VELOCITY)
            )
    return notes


def _approach_at(chord: TimedChord, following: TimedChord | None, meter: Meter) -> Fraction | None:
    """The beat of the approach eighth into ``following``, or None: only into a change of bass on every
    APPROACH_EVERY_BARS-th bar line, from a chord at least a pulse long."""
    if following is None or following.bass_pc == chord.bass_pc or following.start_beat != chord.end_beat:
        return None
    bar = meter.numerator
    if following.start_beat % (bar * APPROACH_EVERY_BARS) or chord.beats < max(meter.pulse_lengths):
        return None
    return Fraction(following.start_beat) - meter.eighth


def _note(
    score: Score, start: Fraction, end: Fraction, pitch: int, role: str, rng: np.random.Generator
) -> Note:
    return Note(_seconds(score, start), _seconds(score, end), pitch, _velocity(ROLE_VELOCITIES[role], rng))


def voicing_tones(pitch_classes: tuple[int, ...]) -> tuple[int, ...]:
    """At most VOICING_SIZE pitch classes: the fifth goes first, then the top tones."""
    tones = list(pitch_classes)
    if len(tones) > VOICING_SIZE and (tones[0] + FIFTH) % 12 in tones:
        tones.remove((tones[0] + FIFTH) % 12)
    return tuple(tones[:VOICING_SIZE])


def close_voicings(pitch_classes: tuple[int, ...], register: tuple[int, int]) -> list[tuple[int, ...]]:
    """Every close-position voicing (each inversion, each octave) that fits in ``register``."""
    low, high = register
    tones = voicing_tones(pitch_classes)
    out = []
    for k in range(len(tones)):
        order = tones[k:] + tones[:k]
        for bottom in range(low, low + 12):
            if bottom % 12 != order[0]:
                continue
            for octave in itertools.count(0):
                voicing = _stack(order, bottom + 12 * octave)
                if voicing[-1] > high:
                    break
                out.append(voicing)
    return out


def _stack(order: tuple[int, ...], bottom: int) -> tuple[int, ...]:
    pitches = [bottom]
    for pc in order[1:]:
        pitches.append(pitches[-1] + (pc - pitches[-1]) % 12)
    return tuple(pitches)


def movement(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """Semitones the voices move from ``a`` to ``b``: each note to the nearest of the other chord, both ways
    (so voicings of different sizes compare)."""
    return sum(min(abs(x - y) for y in b) for x in a) + sum(min(abs(x - y) for x in a) for y in b)


def voice_lead(
    chords: Sequence[TimedChord], register: tuple[int, int], rng: np.random.Generator
) -> list[tuple[int, ...]]:
    """A voicing per chord: the first near the register's middle (the seed picks among the two nearest),
    then each the one moving least from the last (nearer the middle on a tie)."""
    middle = sum(register) / 2
    out: list[tuple[int, ...]] = []
    for chord in chords:
        options = close_voicings(chord.pitch_classes, register)
        if not options:
            raise UserInputError(f"chord {chord.symbol!r} has no voicing within MIDI pitches {register}")
        centred = sorted(options, key=lambda v: (abs(float(np.mean(v)) - middle), v))
        if not out:
            out.append(centred[int(rng.integers(0, min(2, len(centred))))])
            continue
        out.append(min(centred, key=lambda v: (movement(out[-1], v), abs(float(np.mean(v)) - middle))))
    return out


def _comp(score: Score, register: tuple[int, int], rng: np.random.Generator) -> list[Note]:
    meter = Meter.of(score.tempo)
    notes = []
    for chord, voicing in zip(score.chords, voice_lead(score.chords, register, rng)):
        for start, end in _spans(chord, meter):
            stop = start + (end - start) * Fraction(ARTICULATION)
            notes += [_note(score, start, stop, pitch, COMP, rng) for pitch in voicing]
    return notes


def _sustain(score: Score, register: tuple[int, int], rng: np.random.Generator) -> list[Note]:
    notes = []
    for chord, voicing in zip(score.chords, voice_lead(score.chords, register, rng)):
        velocity = _velocity(ROLE_VELOCITIES[SUSTAIN], rng)
        notes += [Note(chord.start, chord.end, pitch, velocity) for pitch in voicing]
    return notes


def _lead(score: Score, register: tuple[int, int], rng: np.random.Generator) -> list[Note]:
    """One chord tone per pulse: the nearest above or below the last note (the seed picks the direction)."""
    meter, (low, high) = Meter.of(score.tempo), register
    last = (low + high) // 2
    notes = []
    for chord in score.chords:
        candidates = [p for p in range(low, high + 1) if p % 12 in chord.pitch_classes]
        for start, end in _spans(chord, meter):
            steps = [
                c
                for c in (
                    max((p for p in candidates if p < last), default=None),
                    min((p for p in candidates if p > last), default=None),
                )
                if c is not None
            ]
            last = steps[int(rng.integers(0, len(steps)))]
            notes.append(_note(score, start, start + (end - start) * Fraction(ARTICULATION), last, LEAD, rng))
    return notes


CHORDS_TRACK = "chords"  # the block-chord track of a track's MIDI file
CHORDS_REGISTER = (48, 72)
CHORDS_VELOCITY = 64


def chord_track(score: Score) -> NoteTrack:
    """The score's chords as block chords (a bass note under voice-led close voicings), each held for its
    whole length: the chord lane a DAW shows as MIDI. Deterministic: no seed is involved."""
    notes: list[Note] = []
    rng = np.random.default_rng(0)  # voice_lead's first pick only
    for chord, voicing in zip(score.chords, voice_lead(score.chords, CHORDS_REGISTER, rng)):
        bass = pitch_in(chord.bass_pc, CHORDS_REGISTER[0] - 12)
        notes += [Note(chord.start, chord.end, p, CHORDS_VELOCITY) for p in (bass, *voicing)]
    return NoteTrack(CHORDS_TRACK, "Acoustic Grand Piano", 0, False, tuple(notes))


def chord_markers(score: Score) -> list[tuple[float, str]]:
    """One (start s, symbol as written) per chord as it is played: a bar of D then a bar of D is two."""
    return [(chord.start, chord.symbol) for chord in score.chords]
