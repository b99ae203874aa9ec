"""Typed views of the per-stem records of manifest.json, read back through the same types by the report.

Each ``from_json`` is lenient: a key missing from an older render (or of the wrong type) reads as ``None`` or empty,
and nothing an old render wrote is rejected. ``to_json`` gives back the document read, so a record read and written
again keeps manifest.json's content exactly. The clean stage's record and timing keep their old names
(:data:`flows.pipeline.manifest.CLEAN_RECORD`, :data:`flows.pipeline.manifest.CLEAN_TIMING`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flows.pipeline.manifest import CLEAN_RECORD

Json = Mapping[str, Any]


def _map(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Window:
    """One generation window of a stem: its prompt and where it lies, in seconds."""

    index: int | None
    start: float | None
    end: float | None
    text: str

    @classmethod
    def from_json(cls, data: Json) -> Window:
        index = data.get("index")
        return cls(
            index if isinstance(index, int) else None,
            _num(data.get("start")),
            _num(data.get("end")),
            str(data.get("text") or ""),
        )


@dataclass(frozen=True)
class GenerationRecord:
    model: str | None
    seed: int | None
    melody: str | None
    seconds: float | None
    windows: tuple[Window, ...] = ()

    @classmethod
    def from_json(cls, data: Json) -> GenerationRecord:
        windows = data.get("windows")
        seed = data.get("seed")
        return cls(
            model=_str(data.get("model")),
            seed=seed if isinstance(seed, int) else None,
            melody=_str(data.get("melody")),
            seconds=_num(data.get("seconds")),
            windows=tuple(Window.from_json(w) for w in windows if isinstance(w, Mapping))
            if isinstance(windows, list)
            else (),
        )


@dataclass(frozen=True)
class SeparationRecord:
    model: str | None
    source: str | None
    seconds: float | None

    @classmethod
    def from_json(cls, data: Json) -> SeparationRecord:
        return cls(_str(data.get("model")), _str(data.get("source")), _num(data.get("seconds")))


@dataclass(frozen=True)
class CleanRecord:
    """The clean stage of a stem, with the separation it started from (``None``: the stem was not separated)."""

    cleaned: object  # what the cleaner did (True/False in old renders)
    seconds: float | None
    separation: SeparationRecord | None

    @classmethod
    def from_json(cls, data: Json) -> CleanRecord:
        separation = data.get("separation")
        return cls(
            data.get("cleaned"),
            _num(data.get("seconds")),
            SeparationRecord.from_json(separation) if isinstance(separation, Mapping) else None,
        )


@dataclass(frozen=True)
class Measured:
    """What the report shows of a :class:`stems.conform.records.Analysis` written by its ``to_dict``."""

    tempo_bpm: float | None
    tempo_confidence: float | None
    downbeat: float | None
    key: str | None
    key_confidence: float | None
    tuning_cents: float | None

    @classmethod
    def from_json(cls, data: Json) -> Measured:
        return cls(
            _num(data.get("tempo_bpm")),
            _num(data.get("tempo_confidence")),
            _num(data.get("downbeat")),
            _str(data.get("key")) or None,
            _num(data.get("key_confidence")),
            _num(data.get("tuning_cents")),
        )


@dataclass(frozen=True)
class ConformRecord:
    """A stem's conform result as :meth:`stems.conform.records.ConformResult.to_dict` wrote it."""

    reason: str
    error_before_ms: float | None
    error_after_ms: float | None
    before: Measured

    @classmethod
    def from_json(cls, data: Json) -> ConformRecord:
        return cls(
            str(data.get("reason") or ""),
            _num(data.get("error_before_ms")),
            _num(data.get("error_after_ms")),
            Measured.from_json(_map(data.get("before"))),
        )


@dataclass(frozen=True)
class MidiRecord:
    """A stem's transcription; ``program`` and ``is_drum`` ``None`` when an older render did not write them."""

    instrument: str | None
    program: int | None
    is_drum: bool | None
    notes: int | None
    warnings: tuple[str, ...]
    seconds: float | None

    @property
    def drums(self) -> bool:
        return bool(self.is_drum) or self.instrument == "drums"

    @classmethod
    def from_json(cls, data: Json) -> MidiRecord:
        warnings, notes, program, drum = (data.get(k) for k in ("warnings", "notes", "program", "is_drum"))
        return cls(
            instrument=_str(data.get("instrument")),
            program=program if isinstance(program, int) and not isinstance(program, bool) else None,
            is_drum=None if drum is None else bool(drum),
            notes=notes if isinstance(notes, int) else None,
            warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
            seconds=_num(data.get("seconds")),
        )


@dataclass(frozen=True)
class StemRecord:
    """Everything the manifest holds about one stem, each stage ``None`` when an older render lacks it."""

    generation: GenerationRecord | None
    clean: CleanRecord | None
    conform: ConformRecord | None
    midi: MidiRecord | None
    loudness: Json  # LoudnessReport.to_dict(): a value None is digital silence, a key absent is unknown
    gain_db_applied: float | None
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object) -> StemRecord:
        data = _map(data)

        def part(key: str) -> Json | None:
            value = data.get(key)
            return value if isinstance(value, Mapping) and value else None

        gen, clean, conform, midi = (part(k) for k in ("generation", CLEAN_RECORD, "conform", "midi"))
        return cls(
            generation=GenerationRecord.from_json(gen) if gen else None,
            clean=CleanRecord.from_json(clean) if clean else None,
            conform=ConformRecord.from_json(conform) if conform else None,
            midi=MidiRecord.from_json(midi) if midi else None,
            loudness=_map(data.get("loudness")),
            gain_db_applied=_num(data.get("gain_db_applied")),
            raw=data,
        )

    def to_json(self) -> dict[str, Any]:
        return dict(self.raw)


@dataclass(frozen=True)
class MixRecord:
    """The mix and master of a track: the master's loudness (``LoudnessReport.to_dict()``), the gain that got it
    there, and the analysis of the master (``None`` in renders made before the conform stage)."""

    master: Json
    master_gain_db: float | None
    analysis: Measured | None
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object) -> MixRecord:
        data = _map(data)
        analysis = _map(data.get("analysis"))
        return cls(
            _map(data.get("master")),
            _num(data.get("master_gain_db")),
            Measured.from_json(analysis) if analysis else None,
            data,
        )

    def to_json(self) -> dict[str, Any]:
        return dict(self.raw)


def mix_record(manifest: object) -> MixRecord:
    """The ``mix`` section of a track manifest (empty for a manifest without one)."""
    return MixRecord.from_json(_map(manifest).get("mix"))


def stem_records(manifest: Json) -> dict[str, StemRecord]:
    """The ``stems`` section of a manifest, by stem name (empty for a manifest without one)."""
    return {str(name): StemRecord.from_json(rec) for name, rec in _map(manifest.get("stems")).items()}
