"""Turn pydantic's validation errors into messages a musician can act on.

Each message says what was received, what is allowed (range, choices, keys) and, when useful, how to fix it;
allowed values come from the model's own field definitions so they never drift from the schema.
"""

from __future__ import annotations

import datetime
import decimal
import difflib
import re
import typing
from typing import Any, Literal

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import ErrorDetails

Loc = tuple[str | int, ...]
HIDDEN_FIELDS = {"source"}  # model fields that are not YAML keys (where hidden from the JSON Schema too)

_EXPECTED = {
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "list_type": "a list (one '- item' per line, or [a, b])",
    "model_type": "a mapping of 'key: value' lines",
    "model_attributes_type": "a mapping of 'key: value' lines",
    "dict_type": "a mapping of 'key: value' lines",
    "path_type": "a file path",
}
# Words musicians often write for a key of ours; used only when the target key is allowed at that place.
_SYNONYMS = {
    "tempo": "bpm",
    "bpms": "bpm",
    "length": "duration",
    "seconds": "duration",
    "scale": "key",
    "meter": "time_signature",
    "time": "time_signature",
    "tracks": "stems",
    "instruments": "stems",
    "parts": "sections",
    "volume": "gain_db",
    "gain": "gain_db",
    "loudness": "lufs",
    "format": "formats",
    "author": "artist",
    "name": "title",
    "balance": "pan",
    "text": "prompt",
    "description": "prompt",
    "instrument": "midi",
    "source": "separate",
    "peak": "true_peak",
    "quantise": "quantize",
}
_ANY_RANGE = "a value in range"
# pydantic error types our validators raise with a finished message (and, in ``ctx``, where in the text)
CHORD_CHART_ERROR = "chord_chart"
_OWN_MESSAGES = {CHORD_CHART_ERROR}
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def friendly_message(error: ErrorDetails, model: type[BaseModel]) -> str:
    """The message for one pydantic error raised while validating ``model``."""
    kind, loc, received = error["type"], tuple(error["loc"]), error.get("input")
    owner, info = locate_field(model, loc)
    if kind == "missing":
        return _missing(str(loc[-1]), info)
    if kind == "extra_forbidden":
        return _unknown_key(str(loc[-1]), owner, received)
    if kind in _EXPECTED:
        return _wrong_type(_EXPECTED[kind], received)
    if kind in _RANGE_ERRORS:
        return f"received {describe(received)}; allowed: {_range_text(info)}"
    if kind == "literal_error":
        return _not_a_choice(received, info)
    if kind in ("string_too_short", "too_short") and error.get("ctx", {}).get("min_length") == 1:
        return f"received {describe(received)}; it must not be empty"
    if kind in ("string_too_short", "string_too_long", "too_short", "too_long"):
        return _length_message(kind, received, error.get("ctx", {}))
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind in _OWN_MESSAGES:
        return str(error["msg"])
    return f"{error['msg']} (received {describe(received)})"


def describe(value: Any) -> str:
    """A short, YAML-flavoured description of a received value."""
    if value is None:
        return "nothing (an empty value / null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"the text {text!r}"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"the date {value.isoformat()}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        keys = ", ".join(map(str, list(value)[:6])) + (", ..." if len(value) > 6 else "")
        return f"a mapping with keys {keys}" if value else "an empty mapping {}"
    return repr(value)[:60]


def locate_field(model: type[BaseModel], loc: Loc) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model owning the last key of ``loc`` and its field (None where ``loc`` leaves the schema)."""
    owner: type[BaseModel] | None = model
    info: FieldInfo | None = None
    keys = [part for part in loc if isinstance(part, str)]  # list indexes do not change the owning model
    for depth, key in enumerate(keys):
        if owner is None:
            return None, None
        info = _field_by_key(owner, key)
        if info is None:
            return owner, None
        if depth < len(keys) - 1:
            owner = _inner_model(info.annotation)
    return owner, info


def yaml_keys(model: type[BaseModel]) -> list[str]:
    """The keys a YAML mapping for ``model`` may hold (aliases where set)."""
    return [info.alias or name for name, info in model.model_fields.items() if not _hidden(name, info)]


def _hidden(name: str, info: FieldInfo) -> bool:
    """Arrangement's and Album's ``source`` (set by the loaders); a stem's ``source`` is a YAML key."""
    return name in HIDDEN_FIELDS and any(type(m) is SkipJsonSchema for m in info.metadata)


def _field_by_key(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info
    return None


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _literal_values(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    return [value for arg in typing.get_args(annotation) for value in _literal_values(arg)]


def _yaml_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _closest(word: str, options: list[str], cutoff: float = 0.7) -> str:
    word = word.lower()
    synonym = _SYNONYMS.get(word)
    prefixed = [
        o for o in options if min(len(o), len(word)) >= 3 and (word.startswith(o) or o.startswith(word))
    ]
    matches = (
        [synonym] if synonym in options else prefixed or difflib.get_close_matches(word, options, 1, cutoff)
    )
    return f"; did you mean {matches[0]!r}?" if matches else ""


def _unknown_key(key: str, owner: type[BaseModel] | None, received: Any) -> str:
    if owner is None:
        return f"unknown key {key!r}; this value takes no keys"
    allowed = yaml_keys(owner)
    message = f"unknown key {key!r}; allowed keys here: {', '.join(allowed)}{_closest(key, allowed)}"
    if received is None:  # `{prompt: sparse, soft}` makes `soft` a key with no value
        message += " (if this word belongs to a text, quote that text: a ',' inside { } starts a new key)"
    return message


def _missing(key: str, info: FieldInfo | None) -> str:
    message = f"required field {key!r} is missing from this mapping; add it"
    if info is not None and info.examples:
        example = yaml.safe_dump({key: info.examples[0]}, default_flow_style=True, width=1000)
        message += f", e.g. {example.strip()[1:-1]}"  # `{bpm: 96}` -> `bpm: 96`
    if info is not None and any(isinstance(m, annotated_types.BaseMetadata) for m in info.metadata):
        range_text = _range_text(info)
        message += f" ({range_text})" if range_text != _ANY_RANGE else ""
    return message


def _wrong_type(expected: str, received: Any) -> str:
    message = f"expected {expected}, received {describe(received)}"
    if expected == "text" and isinstance(received, (bool, int, float, datetime.date)):
        message += '; YAML read it as a non-text value: put it in quotes, e.g. "1999" or "yes"'
    elif "number" in expected and isinstance(received, str):
        message += _exponent_advice(received, whole="whole" in expected) or (
            "; write a plain number without quotes or units, e.g. 96"
        )
    elif expected == "true or false" and not isinstance(received, bool):
        message += "; write true or false without quotes"
    return message


# A number in exponent notation that YAML 1.2 reads as a number and YAML 1.1 (PyYAML) as text: 1.1 wants a dot in
# the mantissa and a sign on the exponent (1.0e+9).
_YAML12_EXPONENT = re.compile(r"^([-+]?)(\d+\.?\d*|\.\d+)([eE])([-+]?)(\d+)$")


def _exponent_advice(text: str, whole: bool) -> str | None:
    """How to write ``1e9`` so that YAML reads a number: ``1.0e+9``, or the plain number where it is short."""
    match = _YAML12_EXPONENT.match(text.strip())
    if match is None:
        return None
    sign, mantissa, e, exp_sign, exponent = match.groups()
    mantissa = mantissa + ("0" if mantissa.endswith(".") else "" if "." in mantissa else ".0")
    spelled = f"{sign}{mantissa}{e}{exp_sign or '+'}{exponent}"
    plain = format(decimal.Decimal(text.strip()), "f")
    plain = plain.rstrip("0").rstrip(".") if "." in plain else plain
    choices = [] if whole else [spelled]
    choices += [plain] if len(plain) <= 20 and (not whole or "." not in plain) else []
    if not choices:
        return None
    return (
        f"; YAML reads {text.strip()} as text, since a number in exponent notation needs a dot and a signed "
        f"exponent there: write {' or '.join(choices)}"
    )


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _range_text(info: FieldInfo | None) -> str:
    bounds: dict[str, Any] = {}
    for item in info.metadata if info is not None else []:
        for name in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, name.capitalize())):
                bounds[name] = getattr(item, name)
    low = (
        f"from {_number(bounds['ge'])}"
        if "ge" in bounds
        else f"greater than {_number(bounds['gt'])}"
        if "gt" in bounds
        else ""
    )
    high = (
        f"up to {_number(bounds['le'])}"
        if "le" in bounds
        else f"less than {_number(bounds['lt'])}"
        if "lt" in bounds
        else ""
    )
    return " ".join(part for part in (low, high) if part) or _ANY_RANGE


def _not_a_choice(received: Any, info: FieldInfo | None) -> str:
    options = _literal_values(info.annotation) if info is not None else []
    allowed = ", ".join(_yaml_text(option) for option in options)
    message = f"received {describe(received)}; allowed: {allowed}"
    if isinstance(received, str):
        message += _closest(received, [str(o) for o in options if isinstance(o, str)], cutoff=0.6)
    return message


def _length_message(kind: str, received: Any, ctx: dict[str, Any]) -> str:
    unit = "characters" if kind.startswith("string") else "items"
    size = len(received) if isinstance(received, (str, list, dict)) else "?"
    if kind.endswith("short"):
        return f"received {size} {unit}; at least {ctx.get('min_length')} {unit} required"
    return f"received {size} {unit}; at most {ctx.get('max_length')} {unit} allowed"
