"""Instrument names as musicians write them: a family of ours, a General MIDI name, or a GM program number.

Whatever names an instrument (``transcribe --instrument``, a stem's ``midi:``) goes through
:func:`resolve_instrument`: it gives the family whose transcription and cleanup settings apply and the GM
program the MIDI file carries. GM names and classes come from pretty_midi's tables of the GM Level 1 sound
set (MMA, "General MIDI System Level 1", 1991), imported only when a name is not a family, so this module
stays light enough for schema validation. Program numbers are written as the GM tables print them, 1-128
(1 Acoustic Grand Piano, 72 Clarinet); MIDI files and pretty_midi count from 0, so
``Instrument.program`` is the written number minus one.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from stems.errors import UserInputError

# Each family's GM program (0-based) when only the family is named: 0 Acoustic Grand Piano, 4 Electric
# Piano 1, 27 Electric Guitar (clean), 33 Electric Bass (finger), 48 String Ensemble 1, 53 Voice Oohs,
# 61 Brass Section, 73 Flute, 81 Lead 2 (sawtooth), 89 Pad 2 (warm). Drums play on GM channel 10, which
# takes no program.
FAMILY_PROGRAMS: dict[str, int] = {
    "drums": 0,
    "bass": 33,
    "piano": 0,
    "keys": 4,
    "guitar": 27,
    "lead": 81,
    "strings": 48,
    "pad": 89,
    "vocals": 53,
    "brass": 61,
    "woodwind": 73,
}
INSTRUMENT_FAMILIES: tuple[str, ...] = tuple(FAMILY_PROGRAMS)
DRUM_FAMILY = "drums"
# GM program numbers as users write them (the GM tables' numbering).
GM_PROGRAM_FIRST, GM_PROGRAM_LAST = 1, 128

# GM instrument classes (eight programs each) -> the family whose settings suit them: reed and pipe are
# woodwinds, synth effects sustain like pads, the "ethnic" class is mostly plucked, and both percussion
# classes and the sound effects are pitched sounds that GM plays on melodic channels, like keys.
GM_CLASS_FAMILIES: dict[str, str] = {
    "Piano": "piano",
    "Chromatic Percussion": "keys",
    "Organ": "keys",
    "Guitar": "guitar",
    "Bass": "bass",
    "Strings": "strings",
    "Ensemble": "strings",
    "Brass": "brass",
    "Reed": "woodwind",
    "Pipe": "woodwind",
    "Synth Lead": "lead",
    "Synth Pad": "pad",
    "Synth Effects": "pad",
    "Ethnic": "guitar",
    "Percussive": "keys",
    "Sound Effects": "keys",
}
# Programs (0-based) their class misplaces: the electric pianos are keys and the choirs vocals (so every
# family's own program resolves back to that family), bagpipe and shanai are reeds, the fiddle a violin.
GM_PROGRAM_FAMILIES: dict[int, str] = {
    4: "keys",
    5: "keys",
    52: "vocals",
    53: "vocals",
    54: "vocals",
    109: "woodwind",
    110: "strings",
    111: "woodwind",
}

ALLOWED = (
    f"allowed: a family ({', '.join(INSTRUMENT_FAMILIES)}), a General MIDI instrument name such as "
    f"'clarinet', 'violin' or 'acoustic grand piano', or a GM program number {GM_PROGRAM_FIRST}-"
    f"{GM_PROGRAM_LAST} as the GM tables number them (1 is acoustic grand piano, 72 clarinet)"
)


@dataclass(frozen=True)
class Instrument:
    """A named instrument, resolved.

    ``name`` is how it is shown (the family, or the GM name in lower case), ``family`` the row of the
    settings tables that applies, ``program`` the 0-based GM program written to MIDI files, ``is_drum``
    whether it plays on the GM drum channel.
    """

    name: str
    family: str
    program: int
    is_drum: bool = False


def resolve_instrument(value: str | int) -> Instrument:
    """The instrument ``value`` names: a family (``"bass"``), a GM name in any case, spacing or hyphenation
    (``"Acoustic Grand Piano"``, ``"fretless-bass"``), or a GM program number 1-128 (an int or its digits).

    Raises ``UserInputError`` with the close matches and what is allowed.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise UserInputError(f"instrument {value!r} is neither a name nor a number; {ALLOWED}")
    if isinstance(value, int) or re.fullmatch(r"\s*[0-9]+\s*", value):
        return _numbered(int(value))
    key = _key(value)
    if key in FAMILY_PROGRAMS:
        return Instrument(key, key, FAMILY_PROGRAMS[key], is_drum=key == DRUM_FAMILY)
    import pretty_midi

    try:
        return _gm_instruments()[pretty_midi.instrument_name_to_program(value)]
    except ValueError:
        raise UserInputError(f"instrument {value!r} is unknown{_suggestion(value)}; {ALLOWED}") from None


def _key(name: str) -> str:
    """Case, spacing, hyphens and brackets do not matter (pretty_midi matches GM names the same way)."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _numbered(number: int) -> Instrument:
    if not GM_PROGRAM_FIRST <= number <= GM_PROGRAM_LAST:
        raise UserInputError(f"instrument number {number} is not a GM program; {ALLOWED}")
    return _gm_instruments()[number - GM_PROGRAM_FIRST]


@functools.cache
def _gm_instruments() -> tuple[Instrument, ...]:
    """The 128 GM instruments by 0-based program, each with its family."""
    import pretty_midi

    return tuple(
        Instrument(
            name.lower(),
            GM_PROGRAM_FAMILIES.get(program)
            or GM_CLASS_FAMILIES[pretty_midi.program_to_instrument_class(program)],
            program,
        )
        for program, name in enumerate(pretty_midi.INSTRUMENT_MAP)
    )


def _suggestion(value: str) -> str:
    names = {_key(n): n for n in (*INSTRUMENT_FAMILIES, *(i.name for i in _gm_instruments()))}
    close = [repr(names[c]) for c in difflib.get_close_matches(_key(value), names, n=3, cutoff=0.6)]
    if not close:
        return ""
    return f" (did you mean {' or '.join([', '.join(close[:-1]), close[-1]] if len(close) > 1 else close)}?)"
