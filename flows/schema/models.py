"""Pydantic models of the arrangement YAML format: one model per mapping, ``extra="forbid"`` everywhere.

Numbers and booleans are strict (``pan: true`` or ``bpm: "96"`` are mistakes, not values to coerce); paths
resolve against the ``base_dir`` given in the validation context (the YAML file's folder) and must exist.
Cross-field rules live in ``flows.schema.checks`` and run in ``Arrangement``'s after-validator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema
from pydantic_core import PydanticCustomError

from flows.schema.checks import BAND, BAND_STEM_FORBIDDEN, AnyIssue, TextIssue, cross_field_issues
from flows.schema.errors import format_field
from flows.schema.messages import CHORD_CHART_ERROR
from flows.schema.score import score_issues
from flows.schema.slugs import slugify
from mixing.formats import MP3_BITRATES, bitrate_problem, format_problem
from mixing.targets import DEFAULT_LUFS, DEFAULT_TRUE_PEAK, LUFS_RANGE, TRUE_PEAK_RANGE
from stems.audio import not_a_regular_file
from stems.errors import UserInputError
from stems.instruments import GM_PROGRAM_FIRST, GM_PROGRAM_LAST, INSTRUMENT_FAMILIES, resolve_instrument
from stems.musicgen.plan import MUSICGEN_WINDOW_S
from stems.score import SKETCH_MODEL, ChordChartError, is_midi_file, parse_chart, read_midi_melody
from stems.separation.catalog import DEFAULT_MODEL as DEFAULT_SEPARATION_MODEL
from stems.transcription.settings import SETTING_RANGES

DEFAULT_MODEL = "facebook/musicgen-stereo-medium"

SLUG_LENGTH = 40
_SLUG = f"[a-z0-9][a-z0-9_-]{{0,{SLUG_LENGTH - 1}}}"
SLUG_PATTERN = (
    f"^{_SLUG}$"  # for the JSON Schema; Python checks with fullmatch ("$" also matches before "\n")
)
KEY_MODES = ("major", "minor", "dorian", "phrygian", "lydian", "mixolydian", "aeolian", "locrian")
_KEY_RE = re.compile(r"^\s*([A-G])([#b\u266f\u266d]?)\s+(" + "|".join(KEY_MODES) + r")\s*$", re.IGNORECASE)
_TIME_SIGNATURE_RE = re.compile(r"^\s*(\d{1,3})\s*/\s*(\d{1,3})\s*$")
BEAT_UNITS = (1, 2, 4, 8, 16, 32)
BPM_RANGE = (20, 300)  # beats of the time signature's unit per minute, as `bpm:` and `--bpm` take them


def parse_time_signature(value: str) -> tuple[int, int]:
    """``"6/8"`` -> ``(6, 8)``; a ValueError saying what to write otherwise (the schema and the CLI share it)."""
    match = _TIME_SIGNATURE_RE.match(value)
    beats, unit = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not (1 <= beats <= 32 and unit in BEAT_UNITS):
        raise ValueError(
            f'received {value!r}; write "N/D" with N from 1 to 32 beats per bar and D one of '
            f'{", ".join(map(str, BEAT_UNITS))}, e.g. "4/4", "3/4", "6/8" (quote it in YAML)'
        )
    return beats, unit


MAX_SEED = 2**32 - 1  # MusicGen seeds go through numpy's and torch's generators, which take 32 bits
# Characters that must not reach file tags, CUE sheets or a terminal raw: C0/C1 controls (NUL, newline, ESC of a
# terminal escape), line and paragraph separators, and the bidirectional overrides that reorder shown text.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_PROMPT_WHITESPACE = frozenset("\t\n\r")  # prompts may span lines (YAML block scalars)


def _no_controls(value: str, allowed: frozenset[str], why: str) -> str:
    bad = next((ch for ch in _CONTROL_CHARACTERS.findall(value) if ch not in allowed), None)
    if bad is not None:
        raise ValueError(f"contains the control character {bad!r} at position {value.index(bad) + 1}; {why}")
    return value


def _one_line(value: str) -> str:
    why = "titles and names reach file tags, CUE sheets and the terminal, so write them on one line of printable characters"
    return _no_controls(value, frozenset(), why)


def _prompt_text(value: str) -> str:
    why = "a prompt may hold line breaks and tabs, no other control characters (they would reach the terminal raw)"
    return _no_controls(value, _PROMPT_WHITESPACE, why)


SFloat = Annotated[float, Strict()]  # strict float still accepts ints (bpm: 96), but not "96" or true
SInt = Annotated[int, Strict()]
SBool = Annotated[bool, Strict()]
MAX_TAKES = 8  # takes of one stem: rows of one generation batch (issue 25)
TAKES_DESCRIPTION = (
    f"candidates generated for a stem in one batch, each separated, cleaned and conformed, the best kept in "
    f"stems/ and all in takes/<stem>/ (1-{MAX_TAKES})"
)
OneLine = Annotated[str, AfterValidator(_one_line)]
Prompt = Annotated[str, AfterValidator(_prompt_text)]
Name = Annotated[OneLine, Field(min_length=1, max_length=200)]
Lufs = Annotated[SFloat, Field(ge=LUFS_RANGE[0], le=LUFS_RANGE[1])]
TruePeak = Annotated[SFloat, Field(ge=TRUE_PEAK_RANGE[0], le=TRUE_PEAK_RANGE[1])]

SeparateSource = Literal["drums", "bass", "other", "vocals", "guitar", "piano"]
# A stem's `midi:` holds an instrument's canonical name (stems.instruments.resolve_instrument: a family, a GM
# name, or a GM program number 1-128, the GM tables' numbering), false or null. Editors complete the families.
_GM_NUMBERS = f"{GM_PROGRAM_FIRST}-{GM_PROGRAM_LAST}"
MIDI_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"enum": [*INSTRUMENT_FAMILIES, False]},
        {"type": "string", "minLength": 1, "description": "a General MIDI instrument name, e.g. clarinet"},
        {
            "type": "integer",
            "minimum": GM_PROGRAM_FIRST,
            "maximum": GM_PROGRAM_LAST,
            "description": f"a General MIDI program number {_GM_NUMBERS}, as the GM tables number them",
        },
        {"type": "null"},
    ]
}
MidiChoice = Annotated[str | Literal[False] | None, WithJsonSchema(MIDI_JSON_SCHEMA)]
_MIDI_ALLOWED = (
    f"allowed: {', '.join(INSTRUMENT_FAMILIES)}, false (no MIDI), null (guess), a General MIDI instrument "
    f"name such as 'clarinet', or a GM program number {_GM_NUMBERS} (72 is clarinet)"
)


def _melody_stems(value: Any) -> Any:
    """``false`` is ``[]`` (keep the whole melody file); ``true`` or one bare name is a likely slip."""
    if value is False:
        return []
    if value is True or isinstance(value, str):
        shown = "true" if value is True else repr(value)
        raise ValueError(
            f"received {shown}; write a list of Demucs sources to keep, e.g. [vocals, other], [] or false to use "
            "the melody file as it is, or null for the default"
        )
    return value


def _unique_sources(value: list[str] | None) -> list[str] | None:
    repeated = sorted({source for source in value or [] if value and value.count(source) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repeated)} listed more than once; list each source once")
    return value


MELODY_STEMS_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "array", "items": {"enum": list(get_args(SeparateSource))}, "uniqueItems": True},
        {"const": False, "description": "use the melody file as it is (same as [])"},
        {"type": "null"},
    ]
}
MelodyStems = Annotated[
    list[SeparateSource] | None,
    BeforeValidator(_melody_stems),
    AfterValidator(_unique_sources),
    WithJsonSchema(MELODY_STEMS_JSON_SCHEMA),
]
MELODY_STEMS_DESCRIPTION = (
    "Demucs sources of the melody file summed before its chroma, as audiocraft's ChromaStemConditioner "
    "keeps vocals + other so bass and drums do not win the chroma argmax (bench/melody_stems.py); "
    "[] or false: the file as it is (write it for a bass or drum riff, which Demucs would drop); null: every "
    "source but drums and bass of separation_model (vocals + other with htdemucs, what MusicGen-melody was "
    "trained on) for trained models, the file as it is for debug and random: models"
)
AudioFormat = Literal["wav", "flac", "mp3"]  # mixing.formats.FORMATS (a test keeps the two equal)
# mixing.sessions.model.SESSION_FORMATS (a test keeps them equal)
SessionFormat = Literal["dawproject", "reaper"]
ExportRate = Literal[32000, 44100, 48000]
Quantize = Literal["1/4", "1/8", "1/16", "1/32", "1/8t", "1/16t"]
# stems.musicgen.types.ENGINES (tests/stems/musicgen/test_fast_decode.py keeps the two equal)
DecodeEngine = Literal["eager", "fast"]


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    """Resolve ``value`` against the YAML folder (context ``base_dir``, else the cwd); it must exist."""
    context = info.context if isinstance(info.context, dict) else {}
    base = Path(context.get("base_dir") or Path.cwd())
    path = value.expanduser()
    path = path if path.is_absolute() else base / path
    try:
        found = path.is_file()
        path = path.resolve()
    except (OSError, ValueError) as err:  # name too long, NUL byte, symlink loop
        raise ValueError(f"cannot use the path {str(value)!r} ({err}); check the file name") from None
    kind = None if found else not_a_regular_file(path)
    if kind:  # a folder or a pipe: there, but nothing to read
        raise ValueError(f"{kind}: {path}; give the path of a file")
    if not found:
        where = "" if value.is_absolute() else f" (relative paths start in the YAML file's folder {base})"
        raise ValueError(f"file not found: {path}{where}; check the spelling or give an absolute path")
    return path


ExistingFile = Annotated[Path, AfterValidator(_existing_file)]


def _midi_melody(value: Path) -> Path:
    """A MIDI melody is read now, so one without a pitched note is refused at its line, not in a render."""
    if is_midi_file(value):
        try:
            read_midi_melody(value)
        except UserInputError as err:
            raise ValueError(str(err)) from None
    return value


MelodyFile = Annotated[Path, AfterValidator(_existing_file), AfterValidator(_midi_melody)]
MELODY_DESCRIPTION = (
    "audio whose chroma guides a melody model, or a MIDI file (.mid, .midi: its first pitched track) whose "
    "notes guide it and which a lead's part plays"
)


def _chord_chart(value: str) -> str:
    """A chart whose every symbol pychord reads (stems.score.parse_chart); the error keeps the symbol's offset
    in the text (``ctx["offset"]``) so the loader points at the symbol itself."""
    try:
        parse_chart(value)
    except ChordChartError as err:
        raise PydanticCustomError(
            CHORD_CHART_ERROR, "{message}", {"message": str(err), "offset": err.column, "symbol": err.symbol}
        ) from None
    return value


ChordChart = Annotated[str, AfterValidator(_chord_chart)]
CHORDS_EXAMPLE = "Em | C | G D | Am7 B7"
CHORDS_DESCRIPTION = (
    "chord chart: bars separated by '|', each one or more chord symbols separated by spaces that split the "
    "bar's beats evenly (leftover beats to the first); the bars repeat in order to fill the section, and a "
    "longer chart is cut; symbols: triads, 6, 7, maj7, m7, dim, aug, sus2/4, 9, slash basses (Em/G)"
)


def _model_name(value: str, info: ValidationInfo) -> str:
    """A model is a name (hub, debug, random:) or a local checkpoint folder; a folder next to the YAML file
    becomes its absolute path, as a relative melody file does (a hub name with no such folder stays a name)."""
    from stems.musicgen.models import is_builtin_name, looks_like_path

    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir")
    if not base or is_builtin_name(value) or value == SKETCH_MODEL:
        return value
    try:
        folder = Path(base) / Path(value).expanduser()
        return str(folder.resolve()) if looks_like_path(value) or folder.is_dir() else value
    except (OSError, ValueError):  # not a usable path: the model check reports the name
        return value


ModelName = Annotated[str, Field(min_length=1), AfterValidator(_model_name)]


def _issue_sink(info: ValidationInfo) -> list[Any] | None:
    """The list where the YAML loader collects ``(loc, message)`` issues; None outside the loader."""
    context = info.context if isinstance(info.context, dict) else {}
    sink = context.get("issues")
    return sink if isinstance(sink, list) else None


def _report(issues: Sequence[AnyIssue], info: ValidationInfo) -> None:
    """Cross-field issues go to the YAML loader, which turns them into problems with line numbers; without it
    (a model validated from data) they are raised."""
    sink = _issue_sink(info)
    if issues and sink is not None:
        sink.extend(issues)
    elif issues:
        parts = [(i.loc, i.message) if isinstance(i, TextIssue) else i for i in issues]
        raise ValueError("; ".join(f"{format_field(loc)}: {message}" for loc, message in parts))


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)


class Generation(StrictModel):
    """MusicGen sampling settings (audiocraft ``set_generation_params``)."""

    use_sampling: SBool = True
    temperature: SFloat = Field(default=1.0, gt=0, le=10)
    top_k: SInt = Field(default=250, ge=0)
    top_p: SFloat = Field(default=0.0, ge=0, le=1, description="0 disables nucleus sampling (top_k is used)")
    cfg_coef: SFloat = Field(default=3.0, ge=0, le=20, description="classifier-free guidance strength")
    two_step_cfg: SBool = False
    extend_stride: SFloat = Field(
        default=18.0,
        gt=0,
        lt=MUSICGEN_WINDOW_S,
        description="seconds of new audio per 30 s window after the first",
    )
    engine: DecodeEngine = Field(
        default="fast",
        description="decode loop: fast (static KV cache, CUDA graphs on a GPU) or eager (transformers, reference)",
    )


class Section(StrictModel):
    """A named part of the song; its text is added to every stem prompt while it plays."""

    name: OneLine = Field(min_length=1, max_length=64, examples=["chorus"])
    bars: SInt = Field(ge=1, le=1000, examples=[8])
    prompt: Prompt = ""
    chords: ChordChart | None = Field(
        default=None,
        description=f"{CHORDS_DESCRIPTION}; null: the arrangement's chords",
        examples=[CHORDS_EXAMPLE],
    )


class Clean(StrictModel):
    """Cleanup after separation; each step can be switched off, the band limits moved."""

    enabled: SBool = Field(default=True, description="false: no cleanup at all")
    dc: SBool = Field(default=True, description="remove DC offset")
    band_limits: SBool = Field(default=True, description="high/low-pass to the instrument's range")
    highpass_hz: SFloat | None = Field(
        default=None, gt=0, le=20000, description="override the family's high-pass"
    )
    lowpass_hz: SFloat | None = Field(
        default=None, gt=0, le=24000, description="override the family's low-pass"
    )
    gate: SBool = Field(default=True, description="noise gate with hysteresis between notes")
    fades: SBool = Field(default=True, description="short fade-in/out at the stem's ends")
    peak_safety: SBool = Field(default=True, description="keep the stem's peak at or under 0 dBFS")

    def overrides(self) -> dict[str, Any]:
        """Keyword overrides for ``stems.separation.cleanup.settings_for``: what this stem changes of its family's table."""
        out: dict[str, Any] = {"dc": self.dc}
        if not self.band_limits:
            out.update(highpass_hz=None, lowpass_hz=None)
        else:
            out.update(
                {k: v for k, v in (("highpass_hz", self.highpass_hz), ("lowpass_hz", self.lowpass_hz)) if v}
            )
        if not self.gate:
            out.update(gate_open_db=None, gate_close_db=None)
        if not self.fades:
            out.update(fade_in_s=None, fade_out_s=None)
        if not self.peak_safety:
            out["peak_ceiling_db"] = None
        return out


class Conform(StrictModel):
    """After cleanup, put the stem on the arrangement's grid and, optionally, in its key."""

    tempo: SBool = Field(
        default=True,
        description="warp the stem's beats onto the arrangement's tempo grid (a time map through Rubber Band); "
        "a stem without a steady beat is left as is, and the manifest says why",
    )
    key: SBool = Field(
        default=False,
        description="retune by the measured cents and the nearest semitones toward the arrangement's key "
        "(drums are never pitch-shifted)",
    )


def _setting(name: str, description: str) -> Any:
    """A transcription override: null (the family's value) or a number in the range the transcriber itself
    checks (``stems.transcription.settings.SETTING_RANGES``), so the schema, validate and a render agree."""
    allowed = SETTING_RANGES[name]
    low, high = allowed.low, allowed.high
    return Field(
        default=None,
        description=description,
        gt=low if allowed.low_open else None,
        ge=None if allowed.low_open else low,
        lt=high if allowed.high_open else None,
        le=None if allowed.high_open else high,
    )


class Transcription(StrictModel):
    """Per-stem overrides of the instrument family's transcription settings (null: the family's value)."""

    onset_threshold: SFloat | None = _setting("onset_threshold", "basic-pitch onset threshold")
    frame_threshold: SFloat | None = _setting("frame_threshold", "basic-pitch frame threshold")
    min_note_ms: SFloat | None = _setting("min_note_ms", "shortest note kept (0 keeps every note)")
    min_frequency: SFloat | None = _setting("min_frequency", "lowest pitch kept (Hz)")
    max_frequency: SFloat | None = _setting("max_frequency", "highest pitch kept (Hz)")
    monophonic: SBool | None = Field(default=None, description="one note at a time")
    pitch_bends: SBool | None = Field(default=None, description="write pitch bends (monophonic stems)")
    note_tracking: SBool | None = Field(
        default=None, description="our note tracker (ends from the activation's decay); false: basic-pitch's"
    )
    rise_weight: SFloat | None = _setting(
        "rise_weight", "note tracker: onsets also from the note activation's rise"
    )
    release_ratio: SFloat | None = _setting(
        "release_ratio", "note tracker: a note ends below this fraction of its peak"
    )
    release_ms: SFloat | None = _setting(
        "release_ms", "note tracker: ends moved this much earlier (reverb tail)"
    )
    reonset_threshold: SFloat | None = _setting(
        "reonset_threshold", "note tracker: weaker onsets that re-start a held pitch (0: off)"
    )

    def overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


# Editors see the two kinds of stem: generated (a prompt) or a source of the band take (from: band, source).
# "Absent" is written as absent or null: Prefect checks a deployment's parameters, dumped with every field, against
# this schema.
_STEM_KINDS_JSON_SCHEMA: dict[str, Any] = {
    "if": {"properties": {"from": {"const": BAND}}, "required": ["from"]},
    "then": {
        "required": ["source"],
        "properties": {"source": {"type": "string"}, **{f: {"type": "null"} for f in BAND_STEM_FORBIDDEN}},
    },
    "else": {
        "required": ["prompt"],
        "properties": {"prompt": {"type": "string"}, "source": {"type": "null"}},
    },
}
_MISSING_PROMPT = (
    "required field 'prompt' is missing (or null) in this stem; add it, e.g. prompt: tight funk drums "
    f"(only a stem with 'from: {BAND}' may leave it out)"
)


class Stem(StrictModel):
    """One track: generated from its prompt, or (``from: band``) one source of the band take."""

    # `from_` is the Python name of `from`; accepted from model_dump(by_alias=False) as Arrangement's `$schema`
    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, json_schema_extra=_STEM_KINDS_JSON_SCHEMA
    )

    name: str = Field(
        description="file-name slug", examples=["drums"], json_schema_extra={"pattern": SLUG_PATTERN}
    )
    from_: Literal["band"] | None = Field(
        default=None,
        alias="from",
        description="band: this stem is one source of the band take (see band:), not generated on its own",
    )
    source: SeparateSource | None = Field(
        default=None,
        validate_default=True,
        description="with from: band, the Demucs source of the band take that is this stem",
    )
    prompt: Prompt | None = Field(
        default=None,
        validate_default=True,
        description="text prompt for MusicGen; with from: band (optional), this stem's words in the composed "
        "band prompt",
        examples=["tight funk drums"],
    )
    model: ModelName | None = Field(
        default=None,
        description="defaults to the arrangement's model; a name, a local checkpoint folder, or "
        f"{SKETCH_MODEL} (no model: the stem's part played by FluidSynth; needs chords)",
    )
    melody: MelodyFile | None = Field(
        default=None, description=f"this stem's own melody: {MELODY_DESCRIPTION}"
    )
    follow: str | None = Field(default=None, description="name of another stem used as this stem's melody")
    guide: SBool = Field(
        default=True,
        description="with chords: condition a melody model on this stem's part when it has no melody or follow "
        "of its own; false: do not",
    )
    melody_stems: MelodyStems = Field(
        default=None,
        description=f"for this stem's own melody file, else the arrangement's; {MELODY_STEMS_DESCRIPTION}",
    )
    continuation: ExistingFile | None = Field(default=None, description="audio this stem continues from")
    takes: SInt | None = Field(
        default=None, ge=1, le=MAX_TAKES, description=f"{TAKES_DESCRIPTION}; null: the arrangement's takes"
    )
    separate: SeparateSource | None = Field(default=None, description="Demucs source to keep")
    separation_model: str | None = Field(default=None, min_length=1)
    midi: MidiChoice = Field(
        default=None,
        description=f"instrument to transcribe: a family, a General MIDI name (clarinet, acoustic grand "
        f"piano) or GM program number {_GM_NUMBERS} as the GM tables number them (72: clarinet, which MIDI "
        "files store as program 71, counting from 0); false: no MIDI; null: guess",
    )
    clean: Clean = Clean()
    conform: Conform = Conform()
    transcription: Transcription = Transcription()
    gain_db: SFloat = Field(default=0.0, ge=-60, le=24)
    pan: SFloat = Field(default=0.0, ge=-1, le=1, description="-1 left, 0 centre, 1 right")
    mute: SBool = False
    solo: SBool = False

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(_SLUG, value):
            raise ValueError(
                f"stem name {value!r} is not a valid file-name slug: use 1 to {SLUG_LENGTH} lowercase letters, "
                f"digits, '-' "
                f"or '_', starting with a letter or digit ({SLUG_PATTERN}); e.g. {slugify(value, SLUG_LENGTH, 'stem')!r}"
            )
        return value

    @field_validator("source")
    @classmethod
    def _band_source(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("from_") == BAND:
            raise ValueError(
                f"required with 'from: {BAND}': the source of the band take that is this stem, one of "
                f"{', '.join(get_args(SeparateSource))} (guitar and piano split the take with htdemucs_6s)"
            )
        return value

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            if "from_" in info.data and info.data["from_"] is None:  # an invalid `from` is reported already
                raise ValueError(_MISSING_PROMPT)
            return None
        if not value.strip():
            raise ValueError("the prompt is empty; describe the sound, e.g. prompt: tight funk drums")
        return value.strip()

    @property
    def from_band(self) -> bool:
        """Whether this stem is a source of the band take rather than generated on its own."""
        return self.from_ == BAND

    @field_validator("midi", mode="before")
    @classmethod
    def _midi_instrument(cls, value: Any) -> Any:
        """Any spelling of an instrument becomes its canonical name (72 and "Clarinet" -> "clarinet")."""
        if value is None or value is False:
            return value
        # pydantic turns ValueError (not TypeError) into a validation error
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            shown = "true" if value is True else repr(value)
            raise ValueError(f"received {shown}; {_MIDI_ALLOWED}")
        try:
            return resolve_instrument(value).name
        except UserInputError as err:
            message = f"received the number {value}; {err}" if isinstance(value, int) else str(err)
            raise ValueError(message) from None


class Band(StrictModel):
    """One MusicGen take of the whole band, with the track's melody, sections and windows, split once by Demucs
    into the stems that say ``from: band``: they share one clock and one key by construction."""

    prompt: Prompt | None = Field(
        default=None,
        description="the take's text prompt; null: 'full band: ' and the band stems' prompts (or sources)",
        examples=["funk band, tight drums, slap bass, clean guitar"],
    )
    model: ModelName | None = Field(default=None, description="defaults to the arrangement's model")
    separation_model: str | None = Field(
        default=None,
        min_length=1,
        description="Demucs model that splits the take; defaults to the arrangement's, or its 6-source sibling "
        "when a band stem takes guitar or piano",
    )

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError(
                "the prompt is empty; describe the band, or write null to compose it from the stems"
            )
        return None if value is None else value.strip()


class MasterSettings(StrictModel):  # the settings of `master:`; mixing.master.Master is the mastering itself
    """Final loudness and export."""

    lufs: Lufs = Field(default=DEFAULT_LUFS, description="integrated loudness target (ITU-R BS.1770-4)")
    true_peak: TruePeak = Field(default=DEFAULT_TRUE_PEAK, description="true-peak ceiling in dBTP (EBU R128)")
    formats: list[AudioFormat] = Field(default=["wav"], min_length=1)  # pydantic copies mutable defaults
    bit_depth: Literal[16, 24, "float"] = 24
    sample_rate: ExportRate | None = None
    mp3_bitrate: str = Field(
        default="320k",
        description='constant "320k" (32k..320k) or VBR "V0".."V9"',
        json_schema_extra={"enum": list(MP3_BITRATES)},
    )
    zip_stems: SBool = Field(
        default=False, description="also write stems.zip of the stems (cleaned and conformed)"
    )
    sessions: list[SessionFormat] = Field(
        default=list(get_args(SessionFormat)),
        description="DAW sessions written to session/<slug>.dawproject (Bitwig Studio, Studio One, Cubase) and "
        "session/<slug>.rpp (REAPER); [] writes none",
    )

    @field_validator("formats", "sessions")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        repeated = sorted({fmt for fmt in value if value.count(fmt) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed more than once; list each format once")
        return value

    @field_validator("bit_depth")
    @classmethod
    def _writable(cls, value: int | str, info: ValidationInfo) -> int | str:
        for fmt in ["wav", *info.data.get("formats", [])]:  # the WAV mix is always written
            problem = format_problem(fmt, value)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("mp3_bitrate")
    @classmethod
    def _bitrate(cls, value: str) -> str:
        problem = bitrate_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class Midi(StrictModel):
    """MIDI export settings."""

    quantize: Quantize | None = Field(
        default=None, description="grid for note starts; t = triplet; null: none"
    )


class Arrangement(StrictModel):
    """One song: tempo, key, sections and the stems to generate, clean, transcribe and mix."""

    json_schema: str | None = Field(
        default=None, alias="$schema", description="for editors (yaml-language-server)"
    )
    title: Name = Field(examples=["Night Drive"])
    artist: OneLine | None = None
    bpm: SFloat = Field(ge=BPM_RANGE[0], le=BPM_RANGE[1], examples=[96])
    key: str = Field(description="tonic and mode", examples=["A minor", "C# major", "Bb dorian"])
    time_signature: str = Field(default="4/4", description='beats per bar / beat unit, e.g. "4/4", "6/8"')
    duration: SFloat = Field(ge=5, le=600, description="seconds", examples=[180])
    sample_rate: ExportRate | None = Field(
        default=None, description="export rate of stems; null: the model's rate"
    )
    seed: SInt = Field(default=0, ge=0, le=MAX_SEED)
    takes: SInt = Field(
        default=1, ge=1, le=MAX_TAKES, description=f"{TAKES_DESCRIPTION}; each stem's default"
    )
    model: ModelName = Field(
        default=DEFAULT_MODEL,
        description='MusicGen model: a hub name, "debug" (offline), or a local checkpoint folder (Hugging Face '
        f'format, relative to this file); "{SKETCH_MODEL}": no model, each stem\'s part played by FluidSynth '
        "(needs chords)",
    )
    separation_model: str = Field(default=DEFAULT_SEPARATION_MODEL, min_length=1)
    generation: Generation = Generation()  # frozen, so one shared default is safe
    melody: MelodyFile | None = Field(
        default=None,
        description=f"the track's melody, for every stem of a melody model: {MELODY_DESCRIPTION}",
    )
    melody_stems: MelodyStems = Field(
        default=None,
        description=f"for the melody and the stems' own melody files; {MELODY_STEMS_DESCRIPTION}",
    )
    melody_loop: SBool = True
    chords: ChordChart | None = Field(
        default=None,
        description=f"{CHORDS_DESCRIPTION}; the chords of every section without its own; null: none",
        examples=[CHORDS_EXAMPLE],
    )
    sections: list[Section] = Field(default_factory=list)
    band: Band | None = Field(
        default=None,
        description="one take of the whole band, split by Demucs into the stems with from: band; null: none",
    )
    stems: list[Stem] = Field(
        min_length=1, max_length=32, examples=[[{"name": "drums", "prompt": "tight funk drums"}]]
    )
    master: MasterSettings = MasterSettings()
    midi: Midi = Midi()
    commercial_use: SBool = Field(
        default=False,
        description="true: the render is for commercial use, so validate refuses every model whose licence "
        "forbids it (MusicGen's published weights are CC-BY-NC-4.0) or is unknown",
    )
    source: SkipJsonSchema[Path | None] = None  # set by load_arrangement to the YAML file; not a YAML key

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        match = _KEY_RE.match(value)
        if not match:
            raise ValueError(
                f"received {value!r}; write a tonic A-G with optional # or b, then a mode "
                f"({', '.join(KEY_MODES)})"
                ', e.g. "A minor", "C# major", "Bb dorian"'
            )
        tonic, accidental, mode = match.groups()
        accidental = {"": "", "#": "#", "\u266f": "#"}.get(accidental, "b")  # b, B and the flat sign
        return f"{tonic.upper()}{accidental} {mode.lower()}"

    @field_validator("time_signature")
    @classmethod
    def _time_signature(cls, value: str) -> str:
        beats, unit = parse_time_signature(value)
        return f"{beats}/{unit}"

    # `json_schema` is the Python name of `$schema`: accepted from model_dump(by_alias=False) (Prefect does
    # that in places) but not in YAML, where only `$schema` is a key.
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    @model_validator(mode="before")
    @classmethod
    def _python_name_not_in_yaml(cls, data: Any, info: ValidationInfo) -> Any:
        sink = _issue_sink(info)
        if sink is None or not isinstance(data, dict) or "json_schema" not in data:
            return data
        sink.append((("json_schema",), "unknown key 'json_schema'; did you mean '$schema'?"))
        return {key: value for key, value in data.items() if key != "json_schema"}

    @model_validator(mode="before")
    @classmethod
    def _stem_python_name_not_in_yaml(cls, data: Any, info: ValidationInfo) -> Any:
        """A stem's ``from_`` is reported as ``json_schema`` is, then read as the ``from`` it stands for."""
        sink = _issue_sink(info)
        stems = data.get("stems") if isinstance(data, dict) else None
        if sink is None or not isinstance(stems, list):
            return data
        fixed = []
        for index, stem in enumerate(stems):
            if isinstance(stem, dict) and "from_" in stem:
                sink.append((("stems", index, "from_"), "unknown key 'from_'; did you mean 'from'?"))
                stem = {
                    ("from" if key == "from_" and "from" not in stem else key): v for key, v in stem.items()
                }
            fixed.append(stem)
        return {**data, "stems": fixed}

    @field_validator("source")
    @classmethod
    def _source_not_in_yaml(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and isinstance(info.context, dict) and info.context.get("from_yaml"):
            raise ValueError("'source' is not a YAML key: musicmaker sets it to this file's path; remove it")
        return value

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Arrangement:
        _report([*cross_field_issues(self), *score_issues(self)], info)
        return self

    @model_validator(mode="after")
    def _melody_stems_need_a_melody(self, info: ValidationInfo) -> Arrangement:
        _report(melody_stems_issues(self), info)
        return self

    @property
    def beats_per_bar(self) -> int:
        return int(self.time_signature.split("/")[0])

    @property
    def beat_unit(self) -> int:
        return int(self.time_signature.split("/")[1])

    @property
    def bar_seconds(self) -> float:
        """Length of one bar; ``bpm`` counts beats of the time signature's unit."""
        return self.beats_per_bar * 60.0 / self.bpm

    @property
    def tonic(self) -> str:
        """``"A"``, ``"C#"``, ``"Bb"``: the key's tonic (``key`` is normalised to "Tonic mode")."""
        return self.key.split(" ")[0]

    @property
    def mode(self) -> str:
        return self.key.split(" ")[1]

    def stem(self, name: str) -> Stem:
        """The stem called ``name`` (names are unique)."""
        for stem in self.stems:
            if stem.name == name:
                return stem
        raise KeyError(name)

    def stem_model(self, stem: Stem) -> str:
        """The MusicGen model of ``stem``: its own, the band take's for a band stem, else the arrangement's."""
        if stem.from_band and self.band is not None:
            return self.band.model or self.model
        return stem.model or self.model

    def stem_takes(self, stem: Stem) -> int:
        """How many takes of ``stem`` a render generates: its own ``takes``, else the arrangement's; one for a
        stem the band take gives or one played from its part (a sketch is the same every time)."""
        if stem.from_band or self.stem_model(stem) == SKETCH_MODEL:
            return 1
        return stem.takes if stem.takes is not None else self.takes

    def stem_separation_model(self, stem: Stem) -> str:
        """The Demucs model of ``stem``: its own, the band take's for a band stem, else the arrangement's."""
        if stem.from_band and self.band is not None:
            return self.band.separation_model or self.separation_model
        return stem.separation_model or self.separation_model


def melody_stems_issues(arrangement: Arrangement) -> list[tuple[tuple[str | int, ...], str]]:
    """``melody_stems`` only where a melody file is separated: the track's, or the stem's own ``melody``."""
    issues: list[tuple[tuple[str | int, ...], str]] = []
    has_file = arrangement.melody is not None or any(s.melody is not None for s in arrangement.stems)
    if arrangement.melody_stems is not None and not has_file:
        issues.append(
            (
                ("melody_stems",),
                "set, but neither the arrangement nor any stem has a 'melody' file to "
                "separate; add 'melody:' or remove 'melody_stems'",
            )
        )
    for index, stem in enumerate(arrangement.stems):
        if stem.melody_stems is None or stem.melody is not None:
            continue
        why = (
            f"stem {stem.name!r} follows {stem.follow!r}, whose audio guides it as it is"
            if stem.follow
            else f"stem {stem.name!r} has no 'melody' file of its own"
        )
        issues.append(
            (
                ("stems", index, "melody_stems"),
                f"set, but {why}; remove 'melody_stems' here (set it at "
                "the top level for the arrangement's melody)",
            )
        )
    return issues + _midi_melody_stems_issues(arrangement)


def _midi_split(path: Path) -> str:
    return (
        f"melody_stems splits an audio melody with Demucs, and {path.name} is a MIDI file, whose notes need no "
        "splitting; remove melody_stems"
    )


def _midi_melody_stems_issues(arrangement: Arrangement) -> list[tuple[tuple[str | int, ...], str]]:
    """``melody_stems`` where every melody file it would split is MIDI."""
    issues: list[tuple[tuple[str | int, ...], str]] = [
        (("stems", index, "melody_stems"), _midi_split(stem.melody))
        for index, stem in enumerate(arrangement.stems)
        if stem.melody_stems is not None and stem.melody is not None and is_midi_file(stem.melody)
    ]
    shared = [arrangement.melody, *(s.melody for s in arrangement.stems if s.melody_stems is None)]
    files = [path for path in shared if path is not None]
    if arrangement.melody_stems is not None and files and all(is_midi_file(path) for path in files):
        issues.append((("melody_stems",), _midi_split(files[0])))
    return issues
