"""The typed records a render passes between its stages and writes into manifest.json, read back through the same
types by the report, the DAW sessions and the CLI.

One type per record: a stage builds it, the stage cache stores its ``to_json()`` (without ``reused``, which says
whether this run made it), :func:`flows.orchestration.render.finish_task` writes it into the manifest, and
``from_json`` reads it back. ``from_json`` is lenient: a key missing from an older render (or of the wrong type)
reads as ``None`` or empty, and nothing an old render wrote is rejected; ``to_json`` writes the keys a current
render writes (a key that only some records have, such as the band split's ``sources``, only when set). The clean
stage's record and timing keep their old names (:data:`flows.pipeline.manifest.CLEAN_RECORD`,
:data:`flows.pipeline.manifest.CLEAN_TIMING`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flows.pipeline.manifest import CLEAN_RECORD
from stems.conform.records import Analysis, ConformResult
from stems.licenses import COMMERCIAL_USE, UNKNOWN

if TYPE_CHECKING:
    from stems.musicgen.types import WindowRecord
    from stems.transcription.midi import NoteTrack

Json = Mapping[str, Any]  # a JSON object as read (values of any JSON type)
# LoudnessReport.to_dict(): a value None is digital silence, a key absent unknown
Loudness = Mapping[str, float | None]


def _map(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _bool(value: object) -> bool | None:
    return None if value is None else bool(value)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _strs(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _set(**values: object) -> dict[str, Any]:
    """The keys whose value is set (not None): those that only some records of a kind have."""
    return {k: v for k, v in values.items() if v is not None}


def _loudness(value: object) -> dict[str, float | None]:
    return {str(k): _num(v) for k, v in _map(value).items()}


@dataclass(frozen=True)
class Window:
    """One generation window of a stem: its prompt and where it lies, in seconds."""

    index: int | None
    start: float | None
    end: float | None
    text: str

    @classmethod
    def of(cls, window: WindowRecord) -> Window:
        return cls(window.index, window.start, window.end, window.text)

    @classmethod
    def from_json(cls, data: Json) -> Window:
        return cls(
            _int(data.get("index")),
            _num(data.get("start")),
            _num(data.get("end")),
            str(data.get("text") or ""),
        )

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "start": self.start, "end": self.end, "text": self.text}


@dataclass(frozen=True)
class SectionRecord:
    """One section redo of a stem's generated audio (issue 26): the section (its name, or None for ``--bars``),
    its bars (1-based, inclusive), the seed asked for and the one this item was generated with, where it lies
    and its seams (each crossfade's ``[start, end]``), in seconds."""

    section: str | None
    bars: tuple[int, int] | None
    seed: int | None
    item_seed: int | None
    start: float | None
    end: float | None
    seams: tuple[tuple[float, float], ...] = ()
    take: int | None = (
        None  # of a stem with takes: the take the section was spliced into (flows.pipeline.sections)
    )
    reused: bool | None = None  # None: read from a stage cache record, which does not say

    @classmethod
    def from_json(cls, data: Json) -> SectionRecord:
        bars = data.get("bars")
        seams = data.get("seams")
        return cls(
            section=_str(data.get("section")),
            bars=(bars[0], bars[1])
            if isinstance(bars, list) and len(bars) == 2 and all(_int(b) is not None for b in bars)
            else None,
            seed=_int(data.get("seed")),
            item_seed=_int(data.get("item_seed")),
            start=_num(data.get("start")),
            end=_num(data.get("end")),
            seams=tuple(
                (float(s[0]), float(s[1]))
                for s in (seams if isinstance(seams, list) else [])
                if isinstance(s, list) and len(s) == 2 and all(_num(v) is not None for v in s)
            ),
            take=_int(data.get("take")),
            reused=_bool(data.get("reused")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "bars": None if self.bars is None else list(self.bars),
            "seed": self.seed,
            "item_seed": self.item_seed,
            "start": self.start,
            "end": self.end,
            "seams": [list(s) for s in self.seams],
            **_set(take=self.take, reused=self.reused),
        }


@dataclass(frozen=True)
class GenerationRecord:
    """How a stem (or the band take) was generated, or for a band stem (``from_band``: "band") which take it
    came out of (the manifest's ``band`` holds the take's record whole)."""

    model: str | None
    seed: int | None = None
    melody: str | None = None
    seconds: float | None = None  # the whole batch's
    windows: tuple[Window, ...] = ()
    batch: tuple[str, ...] = ()  # stems generated in the same call
    sample_rate: int | None = None
    channels: int | None = None
    started: float | None = None
    finished: float | None = None
    reused: bool | None = None  # None: read from a stage cache record, which does not say
    from_band: str | None = None
    source: str | None = None  # a band stem's source of the take
    guide: str | None = (
        None  # what its melody condition came from: part, melody, follow (flows.pipeline.score)
    )
    sections: tuple[SectionRecord, ...] = ()  # its section redos, in bar order (flows.pipeline.redo)

    @classmethod
    def from_json(cls, data: Json) -> GenerationRecord:
        windows = data.get("windows")
        return cls(
            model=_str(data.get("model")),
            seed=_int(data.get("seed")),
            melody=_str(data.get("melody")),
            seconds=_num(data.get("seconds")),
            windows=tuple(Window.from_json(w) for w in windows if isinstance(w, Mapping))
            if isinstance(windows, list)
            else (),
            batch=_strs(data.get("batch")),
            sample_rate=_int(data.get("sample_rate")),
            channels=_int(data.get("channels")),
            started=_num(data.get("started")),
            finished=_num(data.get("finished")),
            reused=_bool(data.get("reused")),
            from_band=_str(data.get("from")),
            source=_str(data.get("source")),
            guide=_str(data.get("guide")),
            sections=tuple(
                SectionRecord.from_json(s) for s in _list(data.get("sections")) if isinstance(s, Mapping)
            ),
        )

    def to_json(self) -> dict[str, Any]:
        if self.from_band is not None:
            return {
                "from": self.from_band,
                "source": self.source,
                "model": self.model,
                **_set(reused=self.reused),
            }
        return {
            "model": self.model,
            "seed": self.seed,
            "batch": list(self.batch),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "windows": [w.to_json() for w in self.windows],
            "seconds": self.seconds,
            "melody": self.melody,
            "guide": self.guide,
            **_set(sections=[s.to_json() for s in self.sections] or None),  # only a stem with section redos
            **_set(started=self.started, finished=self.finished, reused=self.reused),
        }


@dataclass(frozen=True)
class SeparationRecord:
    """A stem's Demucs separation (``source`` kept), or the band take's split (``sources``: every one taken)."""

    model: str | None
    source: str | None
    seconds: float | None
    batch: tuple[str, ...] = ()  # stems separated in the same call ("band": the take)
    sources: tuple[str, ...] | None = None
    started: float | None = None
    finished: float | None = None
    reused: bool | None = None

    @classmethod
    def from_json(cls, data: Json) -> SeparationRecord:
        sources = data.get("sources")
        return cls(
            _str(data.get("model")),
            _str(data.get("source")),
            _num(data.get("seconds")),
            _strs(data.get("batch")),
            _strs(sources) if isinstance(sources, list) else None,
            _num(data.get("started")),
            _num(data.get("finished")),
            _bool(data.get("reused")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            **_set(source=self.source, sources=None if self.sources is None else list(self.sources)),
            "seconds": self.seconds,
            "batch": list(self.batch),
            **_set(started=self.started, finished=self.finished, reused=self.reused),
        }


@dataclass(frozen=True)
class CleanRecord:
    """The clean stage of a stem, with the separation it started from (``None``: the stem was not separated)."""

    cleaned: bool | None  # whether the cleaner ran (`clean: false` skips it)
    seconds: float | None
    separation: SeparationRecord | None
    sample_rate: int | None = None
    samples: int | None = None
    started: float | None = None
    finished: float | None = None
    reused: bool | None = None
    skipped: str | None = (
        None  # why neither separation nor cleanup ran (a sketch stem is clean by construction)
    )

    @classmethod
    def from_json(cls, data: Json) -> CleanRecord:
        separation = data.get("separation")
        return cls(
            _bool(data.get("cleaned")),
            _num(data.get("seconds")),
            SeparationRecord.from_json(separation) if isinstance(separation, Mapping) else None,
            _int(data.get("sample_rate")),
            _int(data.get("samples")),
            _num(data.get("started")),
            _num(data.get("finished")),
            _bool(data.get("reused")),
            _str(data.get("skipped")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "cleaned": self.cleaned,
            "sample_rate": self.sample_rate,
            "samples": self.samples,
            "seconds": self.seconds,
            **_set(started=self.started, finished=self.finished),
            "separation": None if self.separation is None else self.separation.to_json(),
            **_set(reused=self.reused, skipped=self.skipped),
        }


def _analysis(value: object) -> Analysis | None:
    data = _map(value)
    return Analysis.from_dict(data) if data else None


@dataclass(frozen=True)
class ConformRecord:
    """A stem's conform result (:meth:`stems.conform.records.ConformResult.to_dict`) and the stage's time."""

    reason: str
    error_before_ms: float | None
    error_after_ms: float | None
    before: Analysis
    applied: bool | None = None
    stretch: float | None = None
    shift_cents: float | None = None
    grid_origin: float | None = None
    engine: str | None = None
    after: Analysis | None = None
    seconds: float | None = None
    reused: bool | None = None
    method: str | None = None  # what placed it (stems.conform.scored.PLACED_BY_*), None: left as is
    moved_ms: float | None = None  # mean distance an anchor of the time map moved, input to output

    @classmethod
    def of(cls, result: ConformResult, seconds: float, method: str) -> ConformRecord:
        """The record of ``result``, placed by ``method`` (said only when the time map was applied)."""
        anchors = [abs(out - into) for into, out in result.time_map]
        moved = round(1000.0 * sum(anchors) / len(anchors), 1) if anchors else None
        placed = method if result.applied and result.time_map else None
        return cls.from_json({**result.to_dict(), "seconds": seconds, "method": placed, "moved_ms": moved})

    @classmethod
    def from_json(cls, data: Json) -> ConformRecord:
        return cls(
            reason=str(data.get("reason") or ""),
            error_before_ms=_num(data.get("error_before_ms")),
            error_after_ms=_num(data.get("error_after_ms")),
            before=Analysis.from_dict(_map(data.get("before"))),
            applied=_bool(data.get("applied")),
            stretch=_num(data.get("stretch")),
            shift_cents=_num(data.get("shift_cents")),
            grid_origin=_num(data.get("grid_origin")),
            engine=_str(data.get("engine")),
            after=_analysis(data.get("after")),
            seconds=_num(data.get("seconds")),
            reused=_bool(data.get("reused")),
            method=_str(data.get("method")),
            moved_ms=_num(data.get("moved_ms")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "reason": self.reason,
            "error_before_ms": self.error_before_ms,
            "error_after_ms": self.error_after_ms,
            "stretch": self.stretch,
            "shift_cents": self.shift_cents,
            "grid_origin": self.grid_origin,
            "engine": self.engine,
            "before": self.before.to_dict(),
            "after": None if self.after is None else self.after.to_dict(),
            "seconds": self.seconds,
            **_set(reused=self.reused, method=self.method, moved_ms=self.moved_ms),
        }


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
    def of(cls, track: NoteTrack) -> MidiRecord:
        notes = len(track.notes)
        return cls(
            track.instrument, track.program, track.is_drum, notes, track.warnings, round(track.seconds, 3)
        )

    @classmethod
    def from_json(cls, data: Json) -> MidiRecord:
        drum = data.get("is_drum")
        return cls(
            instrument=_str(data.get("instrument")),
            program=_int(data.get("program")),
            is_drum=None if drum is None else bool(drum),
            notes=_int(data.get("notes")),
            warnings=_strs(data.get("warnings")),
            seconds=_num(data.get("seconds")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "program": self.program,
            "is_drum": self.is_drum,
            "notes": self.notes,
            "warnings": list(self.warnings),
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class Transcribed:
    """What the transcribe stage hands on: the stem's notes (``None`` for `midi: false`) and whether this run
    reused them from the stage cache."""

    track: NoteTrack | None
    reused: bool

    @property
    def record(self) -> MidiRecord | None:
        return None if self.track is None else MidiRecord.of(self.track)


@dataclass(frozen=True)
class TakeRecord:
    """One take of a stem with ``takes``: its number (1..K), seed, file (takes/<stem>/<k>.wav, relative to the
    render), its scores as ``stems.takes.TakeScores.to_json()`` (term: value, weight, figure), their total and
    whether it is the stem: ``picked_by`` says who chose it, the best total ("score") or ``musicmaker pick``
    ("pick")."""

    take: int
    seed: int
    file: str
    scores: Json
    total: float
    picked: bool
    picked_by: str | None = None

    @classmethod
    def from_json(cls, data: object) -> TakeRecord:
        d = _map(data)
        return cls(
            take=_int(d.get("take")) or 0,
            seed=_int(d.get("seed")) or 0,
            file=_str(d.get("file")) or "",
            scores=_map(d.get("scores")),
            total=_num(d.get("total")) or 0.0,
            picked=bool(d.get("picked")),
            picked_by=_str(d.get("picked_by")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "take": self.take,
            "seed": self.seed,
            "file": self.file,
            "scores": dict(self.scores),
            "total": self.total,
            "picked": self.picked,
            "picked_by": self.picked_by,
        }


@dataclass(frozen=True)
class StemRecord:
    """Everything the manifest holds about one stem, each stage ``None`` when an older render lacks it;
    ``takes`` only for a stem rendered with takes."""

    generation: GenerationRecord | None
    clean: CleanRecord | None
    conform: ConformRecord | None
    midi: MidiRecord | None
    loudness: Loudness = field(default_factory=dict)
    gain_db_applied: float | None = None
    takes: tuple[TakeRecord, ...] = ()

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
            loudness=_loudness(data.get("loudness")),
            gain_db_applied=_num(data.get("gain_db_applied")),
            takes=tuple(TakeRecord.from_json(t) for t in data.get("takes") or () if isinstance(t, Mapping)),
        )

    def to_json(self) -> dict[str, Any]:
        out = {
            "generation": None if self.generation is None else self.generation.to_json(),
            CLEAN_RECORD: None if self.clean is None else self.clean.to_json(),
            "conform": None if self.conform is None else self.conform.to_json(),
            "midi": None if self.midi is None else self.midi.to_json(),
            "loudness": dict(self.loudness),
            "gain_db_applied": self.gain_db_applied,
        }
        return out | ({"takes": [t.to_json() for t in self.takes]} if self.takes else {})


@dataclass(frozen=True)
class MixRecord:
    """The mix and master of a track (the manifest's ``mix``): the master's loudness, the gain that got it there,
    the files exported and the analysis of the master (``None`` in renders made before the conform stage)."""

    master: Loudness
    master_gain_db: float | None
    analysis: Analysis | None
    master_iterations: int | None = None
    files: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: object) -> MixRecord:
        data = _map(data)
        return cls(
            _loudness(data.get("master")),
            _num(data.get("master_gain_db")),
            _analysis(data.get("analysis")),
            _int(data.get("master_iterations")),
            _strs(data.get("files")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "master": dict(self.master),
            "master_gain_db": self.master_gain_db,
            "master_iterations": self.master_iterations,
            "files": list(self.files),
            "analysis": None if self.analysis is None else self.analysis.to_dict(),
        }


@dataclass(frozen=True)
class MixResult:
    """What the mix stage hands on (and caches): the manifest's ``mix``, each stem's loudness and gain as mixed,
    and the stage's time."""

    mix: MixRecord
    stems: Mapping[str, Loudness]
    stem_gain_db: Mapping[str, float]
    seconds: float | None
    reused: bool | None = None

    @classmethod
    def from_json(cls, data: Json) -> MixResult:
        gains = _map(data.get("stem_gain_db"))
        return cls(
            MixRecord.from_json(data),
            {str(k): _loudness(v) for k, v in _map(data.get("stems")).items()},
            {str(k): float(v) for k, v in gains.items() if _num(v) is not None},
            _num(data.get("seconds")),
            _bool(data.get("reused")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "stems": {k: dict(v) for k, v in self.stems.items()},
            "stem_gain_db": dict(self.stem_gain_db),
            **self.mix.to_json(),
            "seconds": self.seconds,
            **_set(reused=self.reused),
        }


@dataclass(frozen=True)
class BandRecord:
    """The manifest's ``band``: the take's prompt, file, generation and split, and which stems came out of it
    (stem: source)."""

    prompt: str | None
    take: str | None
    generation: GenerationRecord | None
    separation: SeparationRecord | None
    stems: Mapping[str, str | None] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> BandRecord | None:
        if not isinstance(data, Mapping):
            return None
        gen, sep = _map(data.get("generation")), _map(data.get("separation"))
        return cls(
            _str(data.get("prompt")),
            _str(data.get("take")),
            GenerationRecord.from_json(gen) if gen else None,
            SeparationRecord.from_json(sep) if sep else None,
            {str(k): _str(v) for k, v in _map(data.get("stems")).items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "take": self.take,
            "generation": None if self.generation is None else self.generation.to_json(),
            "separation": None if self.separation is None else self.separation.to_json(),
            "stems": dict(self.stems),
        }


@dataclass(frozen=True)
class Reused:
    """The manifest's ``reused``: the stems (and whether the mix) this render took from the stage cache."""

    generate: tuple[str, ...] = ()
    separate: tuple[str, ...] = ()
    clean: tuple[str, ...] = ()
    conform: tuple[str, ...] = ()
    transcribe: tuple[str, ...] = ()
    mix_and_master: bool = False

    @classmethod
    def from_json(cls, data: object) -> Reused:
        data = _map(data)
        names = {k: _strs(data.get(k)) for k in ("generate", "separate", "clean", "conform", "transcribe")}
        return cls(**names, mix_and_master=bool(data.get("mix_and_master")))

    def to_json(self) -> dict[str, Any]:
        return {
            "generate": list(self.generate),
            "separate": list(self.separate),
            "clean": list(self.clean),
            "conform": list(self.conform),
            "transcribe": list(self.transcribe),
            "mix_and_master": self.mix_and_master,
        }


@dataclass(frozen=True)
class ArrangedStem:
    """What the report shows of a stem as arranged (the manifest's ``arrangement.stems``)."""

    name: str | None
    prompt: str | None

    @classmethod
    def from_json(cls, data: Json) -> ArrangedStem:
        return cls(_str(data.get("name")), _str(data.get("prompt")) or None)


@dataclass(frozen=True)
class ArrangementRecord:
    """The manifest's ``arrangement``: the document the schema's ``Arrangement.model_dump`` wrote (``document``,
    for the timeline and the page's "arrangement as rendered"), and the figures the report shows of it, read
    leniently (an old or hand-edited manifest may lack any)."""

    document: Json
    title: str | None
    artist: str | None
    bpm: float | None
    key: str | None
    time_signature: str | None
    seed: int | None
    model: str | None
    stems: tuple[ArrangedStem, ...]
    section_bars: tuple[object, ...]  # each section's ``bars`` as written
    master: Json
    generation: Json

    @classmethod
    def from_json(cls, data: object) -> ArrangementRecord:
        data = _map(data)

        def objects(key: str) -> list[Json]:
            value = data.get(key)
            return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []

        return cls(
            document=data,
            title=_str(data.get("title")) or None,
            artist=_str(data.get("artist")) or None,
            bpm=_num(data.get("bpm")),
            key=_str(data.get("key")),
            time_signature=_str(data.get("time_signature")),
            seed=_int(data.get("seed")),
            model=_str(data.get("model")),
            stems=tuple(ArrangedStem.from_json(s) for s in objects("stems")),
            section_bars=tuple(s.get("bars") for s in objects("sections")),
            master=_map(data.get("master")),
            generation=_map(data.get("generation")),
        )


@dataclass(frozen=True)
class FileEntry:
    """One output file the manifest lists (:func:`flows.pipeline.manifest.file_entry`)."""

    path: str
    bytes: int | None
    sha256: str

    @classmethod
    def from_json(cls, data: Json) -> FileEntry:
        return cls(str(data.get("path") or ""), _int(data.get("bytes")), str(data.get("sha256") or ""))


MODEL_ROLES = ("generation", "separation", "transcription")
PROVENANCE = "Made with musicmaker"  # the provenance note's start, in tags, sessions and the report


@dataclass(frozen=True)
class Licenses:
    """The manifest's ``licenses``: for each role (:data:`MODEL_ROLES`), each model the render used and its
    licence, an SPDX id or "unknown" (``flows.pipeline.licenses`` finds them in the model catalogues)."""

    generation: Mapping[str, str] = field(default_factory=dict)
    separation: Mapping[str, str] = field(default_factory=dict)
    transcription: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> Licenses:
        data = _map(data)
        return cls(*({str(k): str(v) for k, v in _map(data.get(role)).items()} for role in MODEL_ROLES))

    def to_json(self) -> dict[str, Any]:
        return {role: dict(models) for role, models in zip(MODEL_ROLES, self._roles())}

    def _roles(self) -> tuple[Mapping[str, str], ...]:
        return (self.generation, self.separation, self.transcription)

    def rows(self) -> list[tuple[str, str, str]]:
        """(role, model, licence) of every model, in role order."""
        return [(r, m, lic) for r, models in zip(MODEL_ROLES, self._roles()) for m, lic in models.items()]

    def merged(self, other: Licenses) -> Licenses:
        """Every model of both (an album's tracks)."""
        mine, theirs = self._roles(), other._roles()
        return Licenses(*({**a, **b} for a, b in zip(mine, theirs)))

    def note(self) -> str:
        """The provenance note the exported files' tags, the DAW sessions and the report carry: which models
        made the render, under which licences, and whether any keeps it from commercial use ('' for none)."""
        rows = self.rows()
        if not rows:
            return ""
        models = ", ".join(f"{_shown(model)} ({role}, {lic})" for role, model, lic in rows)
        forbidding = sorted({lic for _, _, lic in rows if COMMERCIAL_USE.get(lic) is False})
        unknown = any(lic == UNKNOWN for _, _, lic in rows)
        tail = f"; not for commercial use: {', '.join(forbidding)} forbids it" if forbidding else ""
        tail += "; a licence is unknown: check it before commercial use" if unknown else ""
        return f"{PROVENANCE} from models {models}{tail}."


def _shown(model: str) -> str:
    """A local checkpoint by its folder's name: published files do not carry this machine's paths."""
    return model.rstrip("/").rsplit("/", 1)[-1] if model.startswith(("/", "~")) else model


@dataclass(frozen=True)
class ChordEntry:
    """One chord of the score as it is played: the symbol as written, seconds, its section's name."""

    symbol: str
    start: float
    end: float
    section: str

    @classmethod
    def from_json(cls, data: Json) -> ChordEntry:
        start, end = _num(data.get("start")), _num(data.get("end"))
        return cls(str(data.get("symbol", "")), start or 0.0, end or 0.0, str(data.get("section", "")))

    def to_json(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "start": self.start, "end": self.end, "section": self.section}


@dataclass(frozen=True)
class ScoreRecord:
    """The arrangement's score in a render: its chords in time, the part written for each stem
    (score/<stem>.mid), notes on cut charts, and how well the audio follows the chords: per stem and for the
    mix, the fraction of the grid's beats whose recognised major/minor triad is the planned one
    (``stems.conform.chords``; None where no beat counts: a drum stem, or only dim/aug/sus chords), and for a
    melody file the fraction of its voiced chroma frames on a tone of the planned chord."""

    chords: tuple[ChordEntry, ...]
    parts: dict[str, str]
    notes: tuple[str, ...] = ()
    beats: int | None = None  # beats counted (planned major or minor)
    mix_on_chord: float | None = None
    stems_on_chord: dict[str, float | None] = field(default_factory=dict)
    melody_on_chord: float | None = None

    @classmethod
    def from_json(cls, data: object) -> ScoreRecord | None:
        data = _map(data)
        if not data:
            return None
        chords, adherence = data.get("chords"), _map(data.get("adherence"))
        return cls(
            chords=tuple(ChordEntry.from_json(c) for c in chords if isinstance(c, Mapping))
            if isinstance(chords, list)
            else (),
            parts={str(k): str(v) for k, v in _map(data.get("parts")).items()},
            notes=_strs(data.get("notes")),
            beats=_int(adherence.get("beats")),
            mix_on_chord=_num(adherence.get("mix")),
            stems_on_chord={str(k): _num(v) for k, v in _map(adherence.get("stems")).items()},
            melody_on_chord=_num(adherence.get("melody")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "chords": [c.to_json() for c in self.chords],
            "parts": dict(self.parts),
            "notes": list(self.notes),
            "adherence": {
                "beats": self.beats,
                "mix": self.mix_on_chord,
                "stems": dict(self.stems_on_chord),
                "melody": self.melody_on_chord,
            },
        }


@dataclass(frozen=True)
class TrackManifest:
    """A track's manifest.json as the report, the sessions and the CLI read it: every section typed, read
    leniently (a section missing from an old render reads as empty). The flow writes the sections from the
    same types (:func:`flows.orchestration.render.finish_task`, :func:`flows.pipeline.manifest.build_manifest`)."""

    manifest_version: int | None
    created: str | None
    title: str | None
    source: str | None
    seed: int | None
    arrangement: ArrangementRecord
    stems: dict[str, StemRecord]
    band: BandRecord | None
    mix: MixRecord
    timings: dict[str, float]
    reused: Reused
    files: tuple[FileEntry, ...]
    packages: dict[str, str | None]
    platform: dict[str, str]
    licenses: Licenses = field(default_factory=Licenses)  # empty for renders made before it was written
    score: ScoreRecord | None = None  # None without chords (and for renders made before they existed)

    @classmethod
    def from_json(cls, data: object) -> TrackManifest:
        data = _map(data)
        files = data.get("files")
        return cls(
            manifest_version=_int(data.get("manifest_version")),
            created=_str(data.get("created")),
            title=_str(data.get("title")) or None,
            source=_str(data.get("source")) or None,
            seed=_int(data.get("seed")),
            arrangement=ArrangementRecord.from_json(data.get("arrangement")),
            stems=stem_records(data),
            band=BandRecord.from_json(data.get("band")),
            mix=mix_record(data),
            timings={str(k): float(v) for k, v in _map(data.get("timings")).items() if _num(v) is not None},
            reused=Reused.from_json(data.get("reused")),
            files=tuple(FileEntry.from_json(f) for f in files if isinstance(f, Mapping))
            if isinstance(files, list)
            else (),
            packages={str(k): _str(v) for k, v in _map(data.get("packages")).items()},
            platform={str(k): str(v) for k, v in _map(data.get("platform")).items()},
            licenses=Licenses.from_json(data.get("licenses")),
            score=ScoreRecord.from_json(data.get("score")),
        )


@dataclass(frozen=True)
class AlbumTrack:
    """One track of an album manifest's ``tracks``: its number, folder and place in the album (seconds)."""

    number: int | None
    slug: str | None
    title: str | None
    folder: str | None
    start: float | None
    duration: float | None

    @classmethod
    def from_json(cls, data: Json) -> AlbumTrack:
        return cls(
            _int(data.get("number")),
            _str(data.get("slug")) or None,
            _str(data.get("title")) or None,
            _str(data.get("folder")) or None,
            _num(data.get("start")),
            _num(data.get("duration")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "slug": self.slug,
            "title": self.title,
            "folder": self.folder,
            "start": self.start,
            "duration": self.duration,
        }


@dataclass(frozen=True)
class AlbumManifest:
    """album-manifest.json as the album report and ``musicmaker export`` read it, leniently; the album flow
    writes its ``tracks`` and ``reused`` from the same types (:func:`flows.orchestration.album.render_album`)."""

    title: str | None
    artist: str | None
    created: str | None
    tracks: tuple[AlbumTrack, ...]
    master: Loudness
    loudness_mode: str | None
    reused: dict[str, Reused]
    licenses: Licenses = field(default_factory=Licenses)  # every track's models; empty in older albums

    @classmethod
    def from_json(cls, data: object) -> AlbumManifest:
        data = _map(data)
        tracks = data.get("tracks")
        return cls(
            title=_str(data.get("title")) or None,
            artist=_str(data.get("artist")) or None,
            created=_str(data.get("created")) or None,
            tracks=tuple(AlbumTrack.from_json(t) for t in tracks if isinstance(t, Mapping))
            if isinstance(tracks, list)
            else (),
            master=_loudness(data.get("master")),
            loudness_mode=_str(data.get("loudness_mode")) or None,
            reused={str(k): Reused.from_json(v) for k, v in _map(data.get("reused")).items()},
            licenses=Licenses.from_json(data.get("licenses")),
        )


def mix_record(manifest: object) -> MixRecord:
    """The ``mix`` section of a track manifest (empty for a manifest without one)."""
    return MixRecord.from_json(_map(manifest).get("mix"))


def stem_records(manifest: Json) -> dict[str, StemRecord]:
    """The ``stems`` section of a manifest, by stem name (empty for a manifest without one)."""
    return {str(name): StemRecord.from_json(rec) for name, rec in _map(manifest.get("stems")).items()}
