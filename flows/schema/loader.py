"""The arrangement YAML format: load, validate with file:line:col problems, and describe it as JSON Schema.

``load_arrangement(path)`` is the only door from a YAML file to an ``Arrangement``: it reads the file safely
(``flows.schema.yamlload``), validates it with pydantic (``flows.schema.models``), runs the cross-field rules
(``flows.schema.checks``) and turns every mistake into a ``Problem`` at the line of the offending value.
The validated model is plain data: it round-trips through ``model_dump(mode="json")`` / ``model_validate``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from flows.schema.checks import AnyIssue, Issue, TextIssue
from flows.schema.errors import ROOT_FIELD, Note, Problem, SchemaError, format_field
from flows.schema.messages import describe, friendly_message, yaml_keys
from flows.schema.models import (
    Arrangement,
)
from flows.schema.score import score_notes
from flows.schema.yamlload import YamlDocument, parse_yaml, read_yaml_file

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class LoadedArrangement:
    """A valid arrangement and its notes: what a render will do that its writer may not expect."""

    arrangement: Arrangement
    notes: tuple[Note, ...] = ()


def load_arrangement(path: Path) -> Arrangement:
    """Read, parse and validate the arrangement at ``path``; raises ``SchemaError`` listing every problem."""
    path = Path(path)
    document = read_yaml_file(path)
    return _with_source(validate_document(document, Arrangement, path.parent, render_checks), path)


def read_arrangement(path: Path) -> LoadedArrangement:
    """:func:`load_arrangement`, with the notes on the valid arrangement (``validate`` and ``render`` print them)."""
    path = Path(path)
    document = read_yaml_file(path)
    arrangement = validate_document(document, Arrangement, path.parent, render_checks)
    return LoadedArrangement(_with_source(arrangement, path), arrangement_notes(document, arrangement))


def arrangement_notes(document: YamlDocument, arrangement: Arrangement) -> tuple[Note, ...]:
    """The notes on a valid ``arrangement`` (``flows.schema.score.score_notes``) at their lines in ``document``."""
    notes = [Note.at(document.problem(loc, message)) for loc, message in score_notes(arrangement)]
    return tuple(sorted(notes, key=lambda note: (note.line, note.col)))


def parse_arrangement(text: str, path: Path) -> Arrangement:
    """Validate YAML ``text`` as if read from ``path`` (relative paths resolve against ``path.parent``)."""
    path = Path(path)
    document = parse_yaml(text, str(path))
    return _with_source(validate_document(document, Arrangement, path.parent, render_checks), path)


def _with_source(arrangement: Arrangement, path: Path) -> Arrangement:
    return arrangement.model_copy(update={"source": path.resolve()})


def render_checks(arrangement: Arrangement) -> list[Issue]:
    """What a render would reject beyond the schema (models, audio files, separation, MIDI): ``flows.pipeline.checks``.

    Imported here, not at the top: the pipeline's modules import the schema's, and the schema is the lower layer."""
    from flows.pipeline.checks import render_issues

    return render_issues(arrangement)


def validate_document(
    document: YamlDocument,
    model: type[ModelT],
    base_dir: Path,
    checks: Callable[[ModelT], list[Issue]] | None = None,
) -> ModelT:
    """Validate a parsed YAML document as ``model``, then run ``checks`` on the valid result; every problem
    carries the line of its YAML node."""
    require_mapping(document, model)
    issues: list[AnyIssue] = []  # filled by validators pydantic cannot place on a line (cross-field rules)
    context: dict[str, Any] = {"base_dir": base_dir.resolve(), "from_yaml": True, "issues": issues}
    try:
        validated = model.model_validate(document.data, context=context)
    except ValidationError as err:
        problems = [_problem(document, model, error) for error in err.errors()]
        raise SchemaError(problems + [issue_problem(document, issue) for issue in issues]) from None
    issues += checks(validated) if checks is not None else []
    if issues:
        raise SchemaError([issue_problem(document, issue) for issue in issues])
    return validated


def issue_problem(document: YamlDocument, issue: AnyIssue) -> Problem:
    """A rule's issue at its place in ``document``: inside a text value for a :class:`TextIssue`."""
    if isinstance(issue, TextIssue):
        return document.problem(issue.loc, issue.message, offset=issue.offset)
    loc, message = issue
    return document.problem(loc, message)


def _problem(document: YamlDocument, model: type[BaseModel], error: Any) -> Problem:
    loc = tuple(error["loc"])
    message = friendly_message(error, model)
    if error["type"] == "missing":  # point at the mapping that lacks the key, name the key in the field
        line, col = document.position(loc[:-1])
        return Problem(document.file, line, col, format_field(loc), message)
    offset = error.get("ctx", {}).get("offset")  # a chord symbol's place in its chart
    return document.problem(
        loc,
        message,
        key=error["type"] == "extra_forbidden",
        offset=offset if isinstance(offset, int) else None,
    )


def require_mapping(document: YamlDocument, model: type[BaseModel]) -> None:
    """A document is a mapping of ``model``'s keys; anything else (a text, a list, nothing) is one problem at its
    first line, raised before the document is merged with or validated against anything."""
    if not isinstance(document.data, dict):
        raise SchemaError([_root_problem(document, model)])


def _root_problem(document: YamlDocument, model: type[BaseModel]) -> Problem:
    required = [key for key in yaml_keys(model) if model.model_fields[_name(model, key)].is_required()]
    needed = f"a mapping of 'key: value' lines with at least {', '.join(required)}"
    if document.data is None:
        message = f"the file has no content (empty or only comments); expected {needed}"
    else:
        message = f"expected {needed}, received {describe(document.data)}"
    line, col = document.position(())
    return Problem(document.file, line, col, ROOT_FIELD, message + " (see `musicmaker schema`)")


def _name(model: type[BaseModel], key: str) -> str:
    return next(name for name, info in model.model_fields.items() if (info.alias or name) == key)


def arrangement_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the arrangement YAML format, for editors and `musicmaker schema`."""
    schema = Arrangement.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}
