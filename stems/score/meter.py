"""How a bar is felt: its pulses (where a bass note, a comping chord or a drum hit falls) and their accents.

Beats are the time signature's beats (``bpm`` counts them). In simple meters (a denominator of 4 or less:
2/4, 3/4, 4/4, 5/4) every beat is a pulse. With eighths or shorter as the beat (6/8, 7/8, 9/8, 12/8, 5/8)
the beats group into pulses: threes when the numerator is a multiple of 3 (compound meters: 6/8 is two
dotted quarters), otherwise twos with one three at the end for an odd count (7/8 = 2+2+3, 5/8 = 2+3), the
common reading of additive meters. Pulses then group into strong-weak units by the same twos-and-a-three
rule, so a kick falls on each unit's first pulse and a snare on the others: 4/4 K S K S, 3/4 K S S,
6/8 K S, 7/8 K S S.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from stems.transcription.midi import TempoMap

# The largest beat unit that is still "simple": quarter notes (or halves, wholes) are felt one by one.
SIMPLE_MAX_DENOMINATOR = 4
EIGHTH = 8  # the note value approach notes and drum subdivisions are counted in


def twos_and_a_three(count: int) -> tuple[int, ...]:
    """``count`` split into twos, with a three last when it is odd (1, 2 and 3 stay whole)."""
    if count <= 3:
        return (count,)
    threes = count % 2
    return (2,) * ((count - 3 * threes) // 2) + (3,) * threes


@dataclass(frozen=True)
class Meter:
    """A time signature as it is played: pulse lengths in beats and which pulses are strong."""

    numerator: int
    denominator: int

    @classmethod
    def of(cls, tempo: TempoMap) -> Meter:
        return cls(tempo.numerator, tempo.denominator)

    @property
    def pulse_lengths(self) -> tuple[int, ...]:
        """Beats per pulse, in bar order (4/4: 1 1 1 1; 6/8: 3 3; 7/8: 2 2 3)."""
        if self.denominator <= SIMPLE_MAX_DENOMINATOR:
            return (1,) * self.numerator
        if self.numerator % 3 == 0:
            return (3,) * (self.numerator // 3)
        return twos_and_a_three(self.numerator)

    @property
    def pulses(self) -> tuple[int, ...]:
        """The beat each pulse starts on, from the bar's start."""
        starts, beat = [], 0
        for length in self.pulse_lengths:
            starts.append(beat)
            beat += length
        return tuple(starts)

    @property
    def strong(self) -> tuple[bool, ...]:
        """Per pulse: whether it opens a strong-weak unit (a kick) or not (a snare)."""
        flags: list[bool] = []
        for size in twos_and_a_three(len(self.pulse_lengths)):
            flags += [True] + [False] * (size - 1)
        return tuple(flags)

    @property
    def eighth(self) -> Fraction:
        """An eighth note in beats (half a beat in 4/4, one in 6/8)."""
        return Fraction(self.denominator, EIGHTH)
