"""The checks that need more than the YAML: models, melody and continuation audio, separation and MIDI choices.

They run in the one checking pass that ``validate``, ``render --dry-run`` and ``render`` share (the loaders in
``flows.schema`` and ``flows.schema.album`` call :func:`render_issues`), before any model loads. Each rule returns
``(loc, message)`` pairs, so every problem is reported at the line of the field that causes it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from flows.pipeline import generation, licenses, stages
from flows.schema.checks import Issue, Loc
from flows.schema.models import Arrangement, Stem
from flows.schema.score import is_sketch
from stems.errors import UserInputError
from stems.score import SKETCH_MODEL, is_midi_file
from stems.separation.catalog import MODEL_SOURCES


def render_issues(arrangement: Arrangement) -> list[Issue]:
    """Every problem a render of ``arrangement`` would meet before (or instead of) making sound; each once."""
    issues: list[Issue] = _band_issues(arrangement)
    for index, stem in enumerate(arrangement.stems):
        if is_sketch(arrangement, stem):  # no model, no audio input: the schema's rules (flows.schema.score)
            issues += _settings_issues(index, stem)
            continue
        issues += [] if stem.from_band else _generation_issues(arrangement, index, stem)
        issues += _separation_issues(arrangement, index, stem)
        issues += _melody_stems_issues(arrangement, index, stem)
        issues += _settings_issues(index, stem)
    issues += licenses.commercial_use_issues(arrangement)
    return list(dict.fromkeys(issues))  # an arrangement-wide field (model, melody) is reported once


def _attempt(loc: Loc, check: Callable[[], Any]) -> list[Issue]:
    """``check()``'s UserInputError as a problem at ``loc``."""
    try:
        check()
    except UserInputError as err:
        return [(loc, str(err))]
    return []


def _generation_issues(arrangement: Arrangement, index: int, stem: Stem) -> list[Issue]:
    from stems.musicgen.generator import check_continuation, check_melody
    from stems.musicgen.models import model_info

    model = arrangement.stem_model(stem)
    where = ("stems", index)
    try:
        info = model_info(model)
    except UserInputError as err:
        return [((*where, "model") if stem.model else ("model",), str(err))]
    if not info.takes_melody and (stem.follow or stem.melody):
        field = "follow" if stem.follow else "melody"
        return [
            (
                (*where, field),
                f"model {model!r} takes no melody, so '{field}' cannot guide stem "
                f"{stem.name!r}; give the stem a melody model (debug-melody, facebook/musicgen-melody, "
                f"facebook/musicgen-stereo-melody, ...) with 'model:', or remove '{field}'",
            )
        ]
    label = f"stem {stem.name!r}"

    def melody() -> None:
        if _midi_melody(arrangement, stem):  # read when the schema checked the field; no audio to decode
            return
        audio = generation.melody_audio(arrangement, stem, None, info.takes_melody)
        if audio is not None:
            check_melody(audio, label, arrangement.duration, arrangement.melody_loop)

    def continuation() -> None:
        audio = generation.continuation_audio(stem)
        if audio is not None:
            check_continuation(audio, label)

    melody_loc = (*where, "melody") if stem.melody else ("melody",)
    return _attempt(melody_loc, melody) + _attempt((*where, "continuation"), continuation)


def _midi_melody(arrangement: Arrangement, stem: Stem) -> bool:
    """Whether the melody file that would guide ``stem`` is MIDI (its own, else the arrangement's)."""
    source = None if stem.follow else stem.melody or arrangement.melody
    return source is not None and is_midi_file(source)


def _band_issues(arrangement: Arrangement) -> list[Issue]:
    """The band take's model and melody, like a stem's, and a split model that has every band stem's source."""
    from stems.musicgen.models import model_info
    from stems.separation.separator import check_separation_model, model_for

    if arrangement.band is None or not any(s.from_band for s in arrangement.stems):
        return []
    take = generation.band_take(arrangement)
    if arrangement.stem_model(take) == SKETCH_MODEL:  # the schema refuses it (flows.schema.score)
        return []
    model_loc: Loc = ("band", "model") if arrangement.band.model else ("model",)
    issues = _attempt(model_loc, lambda: model_info(arrangement.stem_model(take)))
    if not issues:
        issues += _generation_issues(
            arrangement, 0, take
        )  # the track's melody: its locs are top-level fields
        issues += _melody_stems_issues(arrangement, 0, take)
    requested = arrangement.stem_separation_model(next(s for s in arrangement.stems if s.from_band))
    own = arrangement.band.separation_model is not None
    split = _attempt(
        ("band", "separation_model") if own else ("separation_model",),
        lambda: check_separation_model(requested),
    )
    for index, stem in enumerate(arrangement.stems):
        if stem.from_band and not split:
            split += _attempt(("stems", index, "source"), partial(model_for, stem.source or "", requested))
    return issues + split


def _separation_issues(arrangement: Arrangement, index: int, stem: Stem) -> list[Issue]:
    from stems.separation.separator import check_separation_model

    if stem.separate is None:
        return []
    own = stem.separation_model
    loc: Loc = ("stems", index, "separation_model") if own else ("separation_model",)
    issues = _attempt(loc, lambda: check_separation_model(arrangement.stem_separation_model(stem)))
    return issues or _attempt(
        ("stems", index, "separate"), lambda: stages.separation_model(arrangement, stem)
    )


def _melody_stems_issues(arrangement: Arrangement, index: int, stem: Stem) -> list[Issue]:
    """The separation model must have every source ``melody_stems`` keeps, and must not keep them all."""
    if stem.follow or (stem.melody is None and arrangement.melody is None) or _midi_melody(arrangement, stem):
        return []
    loc: Loc = (
        ("stems", index, "melody_stems")
        if stem.melody is not None and stem.melody_stems is not None
        else (("melody_stems",) if arrangement.melody_stems is not None else ("separation_model",))
    )
    try:
        keep = generation.melody_stems(arrangement, stem)
        model = generation.melody_separation_model(arrangement, keep) if keep else None
    except UserInputError as err:
        return [(loc, str(err))]
    if model is not None and set(MODEL_SOURCES[model]) <= set(keep):
        return [
            (
                loc,
                f"melody_stems keeps every source of {model!r} ({', '.join(keep)}), which sums back to the "
                "melody file; drop drums and bass (e.g. [vocals, other]), or write [] to use the file as it is",
            )
        ]
    return []


def _settings_issues(index: int, stem: Stem) -> list[Issue]:
    """The cleanup and transcription settings of ``stem`` (its family's, with its overrides) must be valid."""
    from stems.separation.cleanup import settings_for as clean_settings_for
    from stems.transcription.transcriber import settings_for

    issues = _attempt(
        ("stems", index, "clean"),
        lambda: clean_settings_for(stages.instrument_family(stem), **stem.clean.overrides()),
    )
    family = stages.midi_instrument(stem)
    if family is not None:
        issues += _attempt(
            ("stems", index, "transcription"), lambda: settings_for(family, **stem.transcription.overrides())
        )
    return issues
