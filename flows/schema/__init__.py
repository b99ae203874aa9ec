"""The YAML formats (arrangement, album): load with line numbers, validate, describe as JSON Schema.

The lowest layer of ``flows``: it imports ``stems`` and ``mixing`` catalogs, never the pipeline at import time
(the render checks of :func:`render_checks` are imported when they run)."""

from __future__ import annotations

from flows.schema.album import (
    Album,
    AlbumTrack,
    LoadedAlbum,
    album_json_schema,
    is_album_file,
    load_album,
    read_album,
    track_slug,
)
from flows.schema.checks import BAND, Issue, Loc
from flows.schema.errors import Note, Problem, SchemaError, format_field
from flows.schema.loader import (
    LoadedArrangement,
    arrangement_json_schema,
    load_arrangement,
    parse_arrangement,
    read_arrangement,
    render_checks,
    validate_document,
)
from flows.schema.models import (
    BPM_RANGE,
    DEFAULT_MODEL,
    DEFAULT_SEPARATION_MODEL,
    MAX_SEED,
    MAX_TAKES,
    Arrangement,
    Clean,
    Generation,
    MasterSettings,
    Midi,
    Section,
    SessionFormat,
    Stem,
    parse_time_signature,
)
from flows.schema.slugs import slugify

__all__ = [
    "Album",
    "AlbumTrack",
    "Arrangement",
    "BAND",
    "BPM_RANGE",
    "Clean",
    "DEFAULT_MODEL",
    "DEFAULT_SEPARATION_MODEL",
    "Generation",
    "Issue",
    "Loc",
    "LoadedAlbum",
    "LoadedArrangement",
    "MAX_TAKES",
    "MAX_SEED",
    "MasterSettings",
    "Midi",
    "Note",
    "Problem",
    "SchemaError",
    "Section",
    "SessionFormat",
    "Stem",
    "album_json_schema",
    "arrangement_json_schema",
    "format_field",
    "is_album_file",
    "load_album",
    "load_arrangement",
    "parse_arrangement",
    "parse_time_signature",
    "read_album",
    "read_arrangement",
    "render_checks",
    "slugify",
    "track_slug",
    "validate_document",
]
