"""Which models a render of an arrangement uses, each with its licence and the field that chose it.

One walk over the arrangement serves manifest.json's ``licenses`` (:func:`licenses`), the provenance note of
the exported files' tags (``Licenses.note``), and the ``commercial_use: true`` check that ``validate``,
``render --dry-run`` and ``render`` share (:func:`commercial_use_issues`, run by ``flows.pipeline.checks``).
The licences come from the model catalogues (``stems.musicgen.models``, ``stems.separation.catalog``,
``stems.transcription.transcriber``); a local checkpoint's from its own folder. The check is generic: any
role's model whose licence does not allow commercial use is refused, an unknown licence as unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from flows.pipeline import band, generation, stages
from flows.pipeline.records import MODEL_ROLES, Licenses
from flows.schema.checks import Issue, Loc
from flows.schema.models import Arrangement, Stem
from stems.errors import UserInputError
from stems.licenses import LICENSE_FILES, MODEL_CARD, License

GENERATION, SEPARATION, TRANSCRIPTION = MODEL_ROLES
COMMERCIAL_FIELD = "commercial_use"


@dataclass(frozen=True)
class ModelUse:
    """One model a stem needs: its role, name, licence, and the arrangement field that chose it."""

    role: str
    model: str
    license: License
    loc: Loc
    stem: str


def model_uses(arrangement: Arrangement, stems: Sequence[Stem] | None = None) -> list[ModelUse]:
    """Every (role, model) that rendering ``stems`` (all by default) takes, once per stem; a model the checks
    reject (an unknown name) is left out: its own check reports it."""
    chosen = list(arrangement.stems if stems is None else stems)
    uses: list[ModelUse] = []
    for index, stem in enumerate(arrangement.stems):
        if stem in chosen:
            for find in (_generation, _separation, _melody_separation, _transcription):
                uses += _attempt(find, arrangement, index, stem)
    return uses


Finder = Callable[[Arrangement, int, Stem], Iterator[ModelUse]]


def _attempt(find: Finder, arrangement: Arrangement, index: int, stem: Stem) -> list[ModelUse]:
    try:
        return list(find(arrangement, index, stem))
    except UserInputError:
        return []


def _model_loc(arrangement: Arrangement, index: int, stem: Stem) -> Loc:
    """The field that chose a stem's MusicGen model: its own, the band's, the top level's, else the stem (the
    default model is written nowhere)."""
    if stem.from_band and arrangement.band is not None and arrangement.band.model:
        return ("band", "model")
    if stem.model and not stem.from_band:
        return ("stems", index, "model")
    return ("model",) if "model" in arrangement.model_fields_set else ("stems", index, "model")


def _generation(arrangement: Arrangement, index: int, stem: Stem) -> Iterator[ModelUse]:
    """The MusicGen model, or for a sketch stem the soundfont FluidSynth plays its part with."""
    from stems.musicgen.models import model_license
    from stems.score import SKETCH_LICENSE, SKETCH_MODEL

    model = arrangement.stem_model(stem)
    found = SKETCH_LICENSE if model == SKETCH_MODEL and not stem.from_band else model_license(model)
    yield ModelUse(GENERATION, model, found, _model_loc(arrangement, index, stem), stem.name)


def _separation_loc(arrangement: Arrangement, index: int, stem: Stem) -> Loc:
    if stem.from_band and arrangement.band is not None and arrangement.band.separation_model:
        return ("band", "separation_model")
    if stem.separation_model and not stem.from_band:
        return ("stems", index, "separation_model")
    return ("separation_model",) if "separation_model" in arrangement.model_fields_set else ("stems", index)


def _separation(arrangement: Arrangement, index: int, stem: Stem) -> Iterator[ModelUse]:
    """Demucs on the stem (``separate:``) or on the band take it comes out of."""
    from stems.separation.catalog import model_license

    model = (
        band.band_separation_model(arrangement)
        if stem.from_band
        else stages.separation_model(arrangement, stem)
    )
    if model is not None:
        yield ModelUse(
            SEPARATION, model, model_license(model), _separation_loc(arrangement, index, stem), stem.name
        )


def _melody_separation(arrangement: Arrangement, index: int, stem: Stem) -> Iterator[ModelUse]:
    """Demucs on the melody file before its chroma (``melody_stems``), for a model that takes a melody."""
    from stems.musicgen.models import model_info
    from stems.separation.catalog import model_license

    item = generation.band_take(arrangement) if stem.from_band else stem
    has_file = item.melody is not None or (arrangement.melody is not None and not item.follow)
    keep = generation.melody_stems(arrangement, item)
    if not (has_file and keep and model_info(arrangement.stem_model(item)).takes_melody):
        return
    model = generation.melody_separation_model(arrangement, keep)
    yield ModelUse(SEPARATION, model, model_license(model), ("separation_model",), stem.name)


def _transcription(arrangement: Arrangement, index: int, stem: Stem) -> Iterator[ModelUse]:
    """basic-pitch for a pitched stem with MIDI; drums are transcribed without a model."""
    from stems.transcription.transcriber import MODEL_NAME, model_license, settings_for

    instrument = stages.midi_instrument(stem)
    if instrument is not None and not settings_for(instrument).is_drum:
        yield ModelUse(TRANSCRIPTION, MODEL_NAME, model_license(), ("stems", index, "midi"), stem.name)


def licenses(arrangement: Arrangement, stems: Sequence[Stem] | None = None) -> Licenses:
    """The manifest's ``licenses`` of a render of ``stems`` (all by default)."""
    found: dict[str, dict[str, str]] = {role: {} for role in MODEL_ROLES}
    for use in model_uses(arrangement, stems):
        found[use.role][use.model] = use.license.name
    return Licenses(*(found[role] for role in MODEL_ROLES))


def album_licenses(tracks: Sequence[Arrangement]) -> Licenses:
    """Every model of every track of an album."""
    merged = Licenses()
    for arrangement in tracks:
        merged = merged.merged(licenses(arrangement))
    return merged


# What to use instead, by role: generation's choices do not exist in the catalogue yet, so they are said here.
_INSTEAD = {
    GENERATION: (
        "use `model: sketch` (FluidSynth and a General MIDI soundfont, no neural network; a model kind coming "
        "in a later musicmaker version) or a local checkpoint folder with its own licence that allows commercial "
        f"use (a {LICENSE_FILES[0]} file, or `license:` in its {MODEL_CARD} front matter, as Hugging Face model "
        "cards write it)"
    ),
    SEPARATION: "use a separation model whose licence allows commercial use",
    TRANSCRIPTION: "set `midi: false` on the stem",
}


def commercial_use_issues(arrangement: Arrangement) -> list[Issue]:
    """With ``commercial_use: true``, one problem per field that chose a model whose licence forbids
    commercial use or is unknown, naming the stems it serves and the licence; nothing otherwise."""
    if not arrangement.commercial_use:
        return []
    refused: dict[tuple[Loc, str, str], list[ModelUse]] = {}
    for use in model_uses(arrangement):
        if use.license.why_not_commercial() is not None:
            refused.setdefault((use.loc, use.role, use.model), []).append(use)
    return [_issue(uses) for uses in refused.values()]


def _issue(uses: list[ModelUse]) -> Issue:
    first = uses[0]
    names = list(dict.fromkeys(u.stem for u in uses))
    stems = f"stem{'s' if len(names) > 1 else ''} {', '.join(repr(n) for n in names)}"
    message = (
        f"{COMMERCIAL_FIELD} is true, but {stems} use{'' if len(names) > 1 else 's'} the {first.role} model "
        f"{first.model!r}, and {first.license.why_not_commercial()}. For a commercial render, "
        f"{_INSTEAD[first.role]}; or remove `{COMMERCIAL_FIELD}: true`"
    )
    return first.loc, message
