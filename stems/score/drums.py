"""A drum groove for any meter, busier in sections that ask for energy.

Per bar (pulses and strong pulses from :mod:`stems.score.meter`): a kick on every strong pulse, a snare on
every other pulse, a closed hi-hat on every beat (quarters in 4/4, eighths in 6/8). In an energetic section
the hi-hat plays twice as often, its last stroke in the bar opens, a kick is added on the bar's last eighth
and a crash marks the section's first beat. A section is energetic when its name or prompt holds one of
ENERGY_WORDS as a word (``"big chorus"``, ``"driving, full band"``); a negation ("not busy") is not read.
The seed jitters velocities only.
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np

from stems.score.meter import Meter
from stems.score.timeline import Score, ScoreSection
from stems.transcription.midi import Note

# General MIDI Level 1 percussion key map (channel 10).
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH = 36, 38, 42, 46, 49
ENERGY_WORDS: tuple[str, ...] = (
    "energetic",
    "energy",
    "full",
    "driving",
    "busy",
    "intense",
    "chorus",
    "climax",
    "powerful",
    "drop",
)
_ENERGY = re.compile(r"\b(" + "|".join(ENERGY_WORDS) + r")\b", re.IGNORECASE)
VELOCITIES: dict[int, int] = {KICK: 100, SNARE: 96, CLOSED_HAT: 62, OPEN_HAT: 70, CRASH: 100}
PULSE_ACCENT = 12  # hi-hat strokes on a pulse are louder
JITTER = 5
HIT_FRACTION_OF_EIGHTH = Fraction(1, 2)  # note length; GM drums ring to their own end regardless


def is_energetic(section: ScoreSection) -> bool:
    return _ENERGY.search(f"{section.name} {section.prompt}") is not None


def drum_bar(meter: Meter, energetic: bool) -> list[tuple[Fraction, int, int]]:
    """(beat from the bar's start, GM key, velocity before jitter) of one bar."""
    hits = [
        (Fraction(p), KICK if strong else SNARE, VELOCITIES[KICK if strong else SNARE])
        for p, strong in zip(meter.pulses, meter.strong)
    ]
    step = Fraction(1, 2) if energetic else Fraction(1)
    strokes = [step * k for k in range(int(meter.numerator / step))]
    for k, beat in enumerate(strokes):
        key = OPEN_HAT if energetic and k == len(strokes) - 1 else CLOSED_HAT
        accent = PULSE_ACCENT if beat in meter.pulses else 0
        hits.append((beat, key, VELOCITIES[key] + accent))
    if energetic:
        hits.append((meter.numerator - meter.eighth, KICK, VELOCITIES[KICK] - PULSE_ACCENT))
    return hits


def drum_notes(score: Score, rng: np.random.Generator) -> list[Note]:
    """The groove over every section of the score, cut at its end."""
    meter = Meter.of(score.tempo)
    length = float(meter.eighth * HIT_FRACTION_OF_EIGHTH) * score.beat_seconds
    notes = []
    for section in score.sections:
        energetic = is_energetic(section)
        pattern = drum_bar(meter, energetic)
        crash = [(Fraction(0), CRASH, VELOCITIES[CRASH])] if energetic else []
        for bar in range(section.bars):
            first = (section.start_bar + bar) * meter.numerator
            for beat, key, velocity in pattern + (crash if bar == 0 else []):
                start = float(first + beat) * score.beat_seconds
                if start < score.duration:
                    jitter = int(rng.integers(-JITTER, JITTER + 1))
                    notes.append(Note(start, start + length, key, int(np.clip(velocity + jitter, 1, 127))))
    return notes
