"""The arrangement as a score: its chord charts on the arrangement's grid (``stems.score``), the instrument each
stem's part is played on, and the rules and notes about chords, sketch stems and MIDI melodies.

One reading for the schema and the pipeline: ``Arrangement``'s after-validator runs :func:`score_issues`, the
loaders turn :func:`score_notes` into notes, and the pipeline builds parts from :func:`arrangement_score`,
:func:`stem_instrument` and :func:`tempo_map`. Like ``flows.schema.checks`` it reads an arrangement through
that module's protocol views, so ``flows.schema.models`` can import it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from flows.schema.checks import BAND, AnyIssue, Arrangement, Issue, Loc, Stem, TextIssue
from stems.errors import UserInputError
from stems.instruments import INSTRUMENT_FAMILIES, Instrument, resolve_instrument
from stems.score import (
    FAMILY_ROLES,
    SKETCH_MODEL,
    ChordChartError,
    Score,
    SectionChart,
    is_midi_file,
    lay_out,
    read_midi_melody,
    role_of,
    section_chords,
)
from stems.separation.catalog import SOURCES
from stems.transcription.midi import TempoMap

# Demucs sources that name an instrument family (all but "other"), used when `midi:` does not say it.
_FAMILY_SOURCES = frozenset(SOURCES) & frozenset(INSTRUMENT_FAMILIES)
GUESSED_INSTRUMENT = "keys"  # what a stem of no known family is transcribed and played as
LEAD_ROLE = FAMILY_ROLES["lead"]  # the only part that plays a melody (stems.score.parts)
CHORDS_EXAMPLE = 'chords: "Am | F | C | G"'
MELODY_MODELS = "debug-melody, facebook/musicgen-melody, facebook/musicgen-stereo-melody, ..."


# --- the score and the instruments ----------------------------------------------------------------------------


def tempo_map(arrangement: Arrangement) -> TempoMap:
    """The arrangement's tempo and time signature, as its MIDI files and its score count them."""
    return TempoMap(arrangement.bpm, arrangement.beats_per_bar, arrangement.beat_unit)


def has_chords(arrangement: Arrangement) -> bool:
    return arrangement.chords is not None or any(s.chords is not None for s in arrangement.sections)


def section_charts(arrangement: Arrangement) -> list[SectionChart]:
    return [SectionChart(s.name, s.bars, s.chords, s.prompt) for s in arrangement.sections]


def arrangement_score(arrangement: Arrangement) -> Score | None:
    """The chords of every section in time, or None when the arrangement has no chords at all."""
    if not has_chords(arrangement):
        return None
    return lay_out(
        tempo_map(arrangement), arrangement.duration, section_charts(arrangement), arrangement.chords
    )


def instrument_family(stem: Stem) -> str | None:
    """The instrument family used for cleanup, MIDI and parts: `midi:`'s (clarinet: woodwind) if given, else
    from `separate:` (or a band stem's `source:`) or the name."""
    if isinstance(stem.midi, str):
        return resolve_instrument(stem.midi).family
    kept = stem.separate or stem.source
    if kept in _FAMILY_SOURCES:
        return kept
    return next((w for w in INSTRUMENT_FAMILIES if w.rstrip("s") in stem.name), None)


def midi_instrument(stem: Stem) -> str | None:
    """The instrument a stem is transcribed and played as (`midi:`'s name, e.g. clarinet, else its family), or
    None for `midi: false`; stems of unknown family are keys."""
    if stem.midi is False:
        return None
    if isinstance(stem.midi, str):
        return resolve_instrument(stem.midi).name
    return instrument_family(stem) or GUESSED_INSTRUMENT


def stem_instrument(stem: Stem) -> Instrument | None:
    """What the stem's part is played on (:func:`midi_instrument`, resolved); None for ``midi: false``."""
    name = midi_instrument(stem)
    return None if name is None else resolve_instrument(name)


def is_sketch(arrangement: Arrangement, stem: Stem) -> bool:
    """Whether FluidSynth plays ``stem``'s part (``model: sketch``, its own or the arrangement's); a stem of the
    band take never is."""
    return stem.from_ != BAND and (stem.model or arrangement.model) == SKETCH_MODEL


# --- rules -----------------------------------------------------------------------------------------------------


def score_issues(arrangement: Arrangement) -> list[AnyIssue]:
    """Charts that do not fit the time signature, and what sketch stems cannot do; each problem once."""
    issues: list[AnyIssue] = [*_chart_issues(arrangement), *_band_take_issues(arrangement)]
    for index, stem in enumerate(arrangement.stems):
        if is_sketch(arrangement, stem):
            issues += _sketch_issues(arrangement, index, stem)
    return list(dict.fromkeys(issues))


def _charts(arrangement: Arrangement) -> Iterator[tuple[Loc, str]]:
    if arrangement.chords is not None:
        yield ("chords",), arrangement.chords
    for index, section in enumerate(arrangement.sections):
        if section.chords is not None:
            yield ("sections", index, "chords"), section.chords


def _chart_issues(arrangement: Arrangement) -> list[AnyIssue]:
    """A bar may hold one chord per beat of the time signature (the symbols themselves are the field's check)."""
    issues: list[AnyIssue] = []
    for loc, chart in _charts(arrangement):
        try:
            section_chords(chart, 1, arrangement.beats_per_bar)
        except ChordChartError as err:
            issues.append(TextIssue(loc, str(err), err.column))
    return issues


def _band_take_issues(arrangement: Arrangement) -> list[AnyIssue]:
    band = arrangement.band
    if band is None or not any(s.from_ == BAND for s in arrangement.stems):
        return []
    if (band.model or arrangement.model) != SKETCH_MODEL:
        return []
    loc: Loc = ("band", "model") if band.model else ("model",)
    return [
        (
            loc,
            f"the band take is one MusicGen generation of the whole band, split by Demucs, which model "
            f"{SKETCH_MODEL} cannot make (it plays one part per stem); give band: a MusicGen model, e.g. "
            f"band: {{model: debug}}, or drop from: {BAND} and give those stems model: {SKETCH_MODEL}",
        )
    ]


# Why each input of a generated stem does not apply to a sketch stem.
_NOT_FOR_SKETCH = {
    "follow": "it plays its own part, so no other stem's audio can guide it",
    "continuation": "it plays its part from the first bar; there is no generation to continue",
    "separate": "it is clean by construction (one instrument, no model), so nothing is separated",
    "separation_model": "it is clean by construction (one instrument, no model), so nothing is separated",
}


def _sketch_issues(arrangement: Arrangement, index: int, stem: Stem) -> list[AnyIssue]:
    where: Loc = ("stems", index)
    issues: list[AnyIssue] = []
    if not has_chords(arrangement):
        loc: Loc = (*where, "model") if stem.model else ("model",)
        issues.append(
            (
                loc,
                f"model: {SKETCH_MODEL} plays the stem's part of the chord chart, and this arrangement has no "
                f"chords; add chords: at the top level (e.g. {CHORDS_EXAMPLE}) or on its sections, or give "
                "the stem a MusicGen model",
            )
        )
    if stem.midi is False:
        issues.append(
            (
                (*where, "midi"),
                f"model: {SKETCH_MODEL} plays the stem's part on the instrument midi: names, so it cannot be "
                "false; name an instrument: a family (bass, keys, pad, ...), a General MIDI name such as "
                "'electric piano 1', or null to guess it from the stem's name",
            )
        )
    for field, why in _NOT_FOR_SKETCH.items():
        if getattr(stem, field) is not None:
            issues.append(
                (
                    (*where, field),
                    f"'{field}' does not apply to a {SKETCH_MODEL} stem: {why}; remove it, or give the stem a "
                    "MusicGen model",
                )
            )
    return issues + _sketch_melody_issues(where, stem)


def _sketch_melody_issues(where: Loc, stem: Stem) -> list[AnyIssue]:
    if stem.melody is None:
        return []
    if not is_midi_file(stem.melody):
        message = (
            f"a {SKETCH_MODEL} stem plays notes, not audio: give its lead a MIDI melody (.mid), or give "
            f"the stem a melody model ({MELODY_MODELS}) to be guided by this audio"
        )
        return [((*where, "melody"), message)]
    instrument = stem_instrument(stem)
    if instrument is not None and role_of(instrument) != LEAD_ROLE:
        message = (
            f"only a lead plays a melody, and this stem's part is its instrument's ({instrument.name}, "
            f"{role_of(instrument)}); set midi: lead (or a General MIDI lead such as 'lead 1 (square)'), or "
            "remove melody"
        )
        return [((*where, "melody"), message)]
    return []


# --- notes -----------------------------------------------------------------------------------------------------


def score_notes(arrangement: Arrangement) -> list[Issue]:
    """What a render of ``arrangement`` will do that its writer may not expect; nothing here stops it."""
    return [
        *_cut_notes(arrangement),
        *_unplayable_notes(arrangement),
        *_unused_default_notes(arrangement),
        *_melody_notes(arrangement),
        *_guide_notes(arrangement),
        *_sketch_takes_notes(arrangement),
    ]


def _cut_notes(arrangement: Arrangement) -> list[Issue]:
    """A chart longer than the section that plays it (counted in the bars the section is written with)."""
    score = arrangement_score(arrangement)
    charts = section_charts(arrangement)
    notes: list[Issue] = []
    for index, placed in enumerate(score.sections if score is not None else ()):
        own = charts[index].chords if charts else None
        text = own if own is not None else arrangement.chords
        bars = charts[index].bars if charts else placed.bars
        cut = section_chords(text, bars, arrangement.beats_per_bar).note if text is not None else None
        if cut is None:
            continue
        if own is not None:
            notes.append((("sections", index, "chords"), cut))
        elif charts:
            notes.append((("chords",), f"section {placed.name!r}: {cut}"))
        else:
            notes.append((("chords",), cut.replace("but the section has", "but the track has")))
    return notes


def _first_chart(arrangement: Arrangement) -> Loc:
    return next(loc for loc, _ in _charts(arrangement))


def _unplayable_notes(arrangement: Arrangement) -> list[Issue]:
    """Chords that no stem plays: every stem is drums or has ``midi: false``."""
    if not has_chords(arrangement):
        return []
    reasons = []
    for stem in arrangement.stems:
        instrument = stem_instrument(stem)
        if instrument is not None and not instrument.is_drum:
            return []
        reasons.append(f"{stem.name!r} has midi: false" if instrument is None else f"{stem.name!r} is drums")
    message = (
        f"no stem plays the chords ({', '.join(reasons)}), so the chart guides no part; give a pitched stem an "
        "instrument with midi: (bass, keys, pad, ...), or remove the chords"
    )
    return [(_first_chart(arrangement), message)]


def _unused_default_notes(arrangement: Arrangement) -> list[Issue]:
    sections = arrangement.sections
    if arrangement.chords is None or not sections or any(s.chords is None for s in sections):
        return []
    message = (
        "every section has its own chords, so this default chart is not played; remove it, or remove a "
        "section's chords to play this chart there"
    )
    return [(("chords",), message)]


def _melody_notes(arrangement: Arrangement) -> list[Issue]:
    """A MIDI melody of several tracks: its first pitched track is the melody."""
    files: list[tuple[Loc, Path | None]] = [(("melody",), arrangement.melody)]
    files += [(("stems", i, "melody"), s.melody) for i, s in enumerate(arrangement.stems)]
    notes: list[Issue] = []
    for loc, path in files:
        if path is None or not is_midi_file(path):
            continue
        try:
            note = read_midi_melody(path).note
        except UserInputError:  # changed since the field's check read it: a render reports it
            continue
        if note is not None:
            notes.append((loc, note))
    return notes


def _sketch_takes_notes(arrangement: Arrangement) -> list[Issue]:
    """``takes`` on a sketch stem: FluidSynth plays its part the same every time, so one take is rendered."""
    notes: list[Issue] = []
    for index, stem in enumerate(arrangement.stems):
        takes = stem.takes if stem.takes is not None else arrangement.takes
        if takes > 1 and is_sketch(arrangement, stem):
            loc: Loc = ("stems", index, "takes") if stem.takes is not None else ("takes",)
            message = (
                f"stem {stem.name!r} is a {SKETCH_MODEL}: its part plays the same every time (the voicings do "
                f"not vary by seed), so one take is rendered, not {takes}"
            )
            notes.append((loc, message))
    return notes


def _guide_notes(arrangement: Arrangement) -> list[Issue]:
    """``guide`` written on a stem where it changes nothing."""
    notes: list[Issue] = []
    for index, stem in enumerate(arrangement.stems):
        if "guide" in stem.model_fields_set:
            why = _guide_unused(arrangement, stem)
            if why is not None:
                notes.append((("stems", index, "guide"), f"{why}, so guide changes nothing here"))
    return notes


def _guide_unused(arrangement: Arrangement, stem: Stem) -> str | None:
    from stems.musicgen.models import model_info

    if stem.from_ == BAND:
        return "this stem comes out of the band take, which is not guided by parts"
    if is_sketch(arrangement, stem):
        return f"a {SKETCH_MODEL} stem plays its part itself; guide conditions a MusicGen melody model"
    if not has_chords(arrangement):
        return f"the arrangement has no chords, so there is no part to guide this stem (add e.g. {CHORDS_EXAMPLE})"
    if stem.melody is not None or stem.follow is not None:
        return f"this stem's own {'melody' if stem.melody is not None else 'follow'} guides it"
    model = stem.model or arrangement.model
    try:
        takes_melody = model_info(model).takes_melody
    except UserInputError:
        return None
    if not takes_melody:
        return f"model {model!r} takes no melody (melody models: {MELODY_MODELS})"
    instrument = stem_instrument(stem)
    if instrument is None or instrument.is_drum:
        return "this stem plays no pitched part (drums, or midi: false)"
    return None
