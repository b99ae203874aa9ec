"""The album YAML format: tracks (arrangement files or inline), shared defaults, sequencing and loudness.

``load_album(path)`` validates the album and every track with the same error quality as arrangements: a problem
in a track file names that file and line; a problem caused by a shared default names the album file's line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, GetJsonSchemaHandler, field_validator, model_validator
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import CoreSchema

from flows.schema.errors import Note, Problem, SchemaError, format_field
from flows.schema.loader import arrangement_notes, render_checks, require_mapping, validate_document
from flows.schema.models import (
    SLUG_PATTERN,
    Arrangement,
    AudioFormat,
    ExistingFile,
    Lufs,
    Name,
    OneLine,
    SBool,
    SFloat,
    StrictModel,
    TruePeak,
)
from flows.schema.slugs import slugify
from flows.schema.yamlload import Loc, YamlDocument, read_yaml_file
from mixing.sequence import crossfade_problem
from mixing.targets import DEFAULT_LUFS, DEFAULT_TRUE_PEAK

# Arrangement keys an album may set for all its tracks (a track's own value wins).
DEFAULTABLE = (
    "artist",
    "bpm",
    "key",
    "time_signature",
    "duration",
    "sample_rate",
    "seed",
    "model",
    "separation_model",
    "generation",
    "melody",
    "melody_loop",
    "sections",
    "master",
    "midi",
)


class AlbumTrack(StrictModel):
    """One track: an arrangement file (``path``) or an inline arrangement, with an optional folder name."""

    path: ExistingFile | None = Field(
        default=None, description="arrangement YAML, relative to the album file"
    )
    arrangement: dict[str, Any] | None = Field(default=None, description="an inline arrangement")
    slug: Annotated[str, Field(pattern=SLUG_PATTERN)] | None = Field(default=None, description="folder name")

    @model_validator(mode="before")
    @classmethod
    def _path_shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @classmethod
    def __get_pydantic_json_schema__(cls, core: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The schema says what ``_path_shorthand`` accepts: a bare file name is a track too."""
        shorthand = {"type": "string", "description": "arrangement YAML file, relative to the album file"}
        return {"anyOf": [shorthand, handler(core)]}

    @model_validator(mode="after")
    def _one_source(self) -> AlbumTrack:
        if (self.path is None) == (self.arrangement is None):
            raise ValueError("give exactly one of 'path' (an arrangement file) or 'arrangement' (inline)")
        return self


class Album(StrictModel):
    """An album: its tracks in order, defaults they share, gaps or crossfades, loudness mode and formats."""

    json_schema: str | None = Field(
        default=None, alias="$schema", description="for editors (yaml-language-server)"
    )
    title: Name
    artist: OneLine | None = None
    defaults: dict[str, Any] = Field(
        default_factory=dict, description="arrangement keys shared by all tracks"
    )
    tracks: list[AlbumTrack] = Field(min_length=1, max_length=100)
    gap: SFloat = Field(default=2.0, ge=0, le=60, description="seconds of silence between tracks")
    crossfade: SFloat = Field(
        default=0.0, ge=0, le=30, description="seconds of overlap between tracks (no gap then)"
    )
    loudness: Literal["track", "album"] = Field(
        default="track", description="track: every track to the target; album: one gain keeps relative levels"
    )
    lufs: Lufs = DEFAULT_LUFS
    true_peak: TruePeak = DEFAULT_TRUE_PEAK
    formats: list[AudioFormat] = Field(default_factory=lambda: ["wav", "mp3"], min_length=1)  # type: ignore[arg-type]
    commercial_use: SBool = Field(
        default=False,
        description="true: the album is for commercial use, so every track is checked as if it said "
        "commercial_use: true (models whose licence forbids it, or is unknown, are refused)",
    )
    batch_tracks: SBool = Field(
        default=True,
        description="generate stems of different tracks in one batch where model and settings match; "
        "false generates each track on its own (bit-identical to a render on a pool of workers)",
    )
    source: SkipJsonSchema[Path | None] = None

    @field_validator("defaults")
    @classmethod
    def _known_defaults(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(DEFAULTABLE))
        if unknown:
            raise ValueError(f"unknown default(s) {unknown}; an album may set {', '.join(DEFAULTABLE)}")
        return value

    @model_validator(mode="after")
    def _gap_or_crossfade(self) -> Album:
        if self.gap > 0 and self.crossfade > 0:
            raise ValueError(
                f"set either gap ({self.gap}) or crossfade ({self.crossfade}), not both; "
                "use gap: 0 with a crossfade"
            )
        return self


@dataclass(frozen=True)
class _MergedDocument(YamlDocument):
    """A track's data merged over the album defaults; each location remembers the file it came from."""

    files: Mapping[Loc, str] = field(default_factory=dict)

    def problem(self, loc: Loc, message: str, *, key: bool = False, offset: int | None = None) -> Problem:
        line, col = self.position(loc, key=key, offset=offset)
        file = next(
            (self.files[loc[:end]] for end in range(len(loc), -1, -1) if loc[:end] in self.files), self.file
        )
        return Problem(file, line, col, format_field(loc), message)


MarkT = TypeVar("MarkT")


def _cut(marks: Mapping[Loc, MarkT], prefix: Loc) -> dict[Loc, MarkT]:
    """The marks under ``prefix``, re-rooted."""
    return {loc[len(prefix) :]: mark for loc, mark in marks.items() if loc[: len(prefix)] == prefix}


def _subtree(doc: YamlDocument, prefix: Loc) -> YamlDocument:
    """The part of ``doc`` under ``prefix`` (its marks re-rooted; the data is the caller's)."""
    cut = _cut(doc.value_marks, prefix), _cut(doc.key_marks, prefix), _cut(doc.text_marks, prefix)
    return YamlDocument(doc.file, None, *cut)


def _merge(
    album: YamlDocument, defaults: dict[str, Any], track: YamlDocument, prefix: Loc
) -> _MergedDocument:
    """Defaults first, the track's own keys over them (a whole key replaces; mappings merge one level)."""
    data = dict(defaults)
    for key, value in track.data.items():
        both = isinstance(value, dict) and isinstance(data.get(key), dict)
        data[key] = {**data[key], **value} if both else value
    shared, own = _subtree(album, ("defaults",)), _subtree(track, prefix)
    files = {loc: album.file for loc in shared.value_marks if loc}
    files.update({loc: track.file for loc in own.value_marks})
    values, keys = {**shared.value_marks, **own.value_marks}, {**shared.key_marks, **own.key_marks}
    values[()] = own.value_marks.get((), (1, 1))
    texts = {**shared.text_marks, **own.text_marks}
    return _MergedDocument(track.file, data, values, keys, texts, files)


def _track_document(album_doc: YamlDocument, album: Album, index: int) -> tuple[YamlDocument, Loc, Path]:
    track = album.tracks[index]
    if track.path is not None:
        return read_yaml_file(track.path), (), track.path.parent
    prefix: Loc = ("tracks", index, "arrangement")
    return album_doc, prefix, Path(album_doc.file).resolve().parent


def _load_track(album_doc: YamlDocument, album: Album, index: int) -> tuple[Arrangement, tuple[Note, ...]]:
    doc, prefix, base = _track_document(album_doc, album, index)
    if prefix:
        doc = replace(doc, data=album.tracks[index].arrangement)
    require_mapping(doc, Arrangement)  # a track file holding a text or a list has nothing to merge
    merged = _merge(album_doc, album.defaults, doc, prefix)
    if album.commercial_use and isinstance(merged.data, dict):  # the album's promise holds for every track
        merged = replace(merged, data={**merged.data, "commercial_use": True})
    arrangement = validate_document(merged, Arrangement, base, render_checks)
    notes = arrangement_notes(merged, arrangement)
    return arrangement.model_copy(
        update={"source": album.tracks[index].path or Path(album_doc.file).resolve()}
    ), notes


def track_slug(album: Album, index: int, arrangement: Arrangement) -> str:
    return album.tracks[index].slug or slugify(arrangement.title)


def is_album_file(path: Path) -> bool:
    """An album is a mapping with ``tracks:``; anything else is read as an arrangement."""
    data = read_yaml_file(Path(path)).data
    return isinstance(data, dict) and "tracks" in data


@dataclass(frozen=True)
class LoadedAlbum:
    """A valid album, its tracks, and the notes on them (in track order)."""

    album: Album
    tracks: list[Arrangement]
    notes: tuple[Note, ...] = ()


def load_album(path: Path) -> tuple[Album, list[Arrangement]]:
    """Read and validate an album and all its tracks; raises ``SchemaError`` listing every problem found."""
    loaded = read_album(path)
    return loaded.album, loaded.tracks


def read_album(path: Path) -> LoadedAlbum:
    """:func:`load_album`, with the notes on its tracks (``validate`` and ``album render`` print them)."""
    path = Path(path)
    doc = read_yaml_file(path)
    album = validate_document(doc, Album, path.parent).model_copy(update={"source": path.resolve()})
    problems: list[Problem] = []
    tracks: list[Arrangement] = []
    notes: list[Note] = []
    for index in range(len(album.tracks)):
        try:
            track, track_notes = _load_track(doc, album, index)
        except SchemaError as err:
            problems.extend(err.problems)
        else:
            tracks.append(track)
            notes.extend(track_notes)
    if problems:
        raise SchemaError(problems)
    seen: dict[str, int] = {}
    for index, arrangement in enumerate(tracks):
        slug = track_slug(album, index, arrangement)
        if slug in seen:
            problems.append(
                doc.problem(
                    ("tracks", index),
                    f"track folder '{slug}' is already used by track "
                    f"{seen[slug] + 1}; give one of them a different title or a 'slug'",
                )
            )
        seen.setdefault(slug, index)
    problem = crossfade_problem(album.crossfade, [t.duration for t in tracks])
    if problem:
        problems.append(doc.problem(("crossfade",), problem))
    if problems:
        raise SchemaError(problems)
    return LoadedAlbum(album, tracks, tuple(notes))


def album_json_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **Album.model_json_schema(by_alias=True, mode="validation"),
    }
