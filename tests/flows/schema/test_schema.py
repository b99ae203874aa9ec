"""The arrangement schema: valid fixtures, defaults, path resolution, cross-field rules, JSON round trip and
JSON Schema. Bad inputs through the CLI are in test_validate_cli.py, random ones in test_schema_fuzz.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pydantic import ValidationError

from flows.schema import (
    DEFAULT_MODEL,
    DEFAULT_SEPARATION_MODEL,
    Arrangement,
    Problem,
    SchemaError,
    arrangement_json_schema,
    format_field,
    load_arrangement,
    parse_arrangement,
)
from flows.schema.yamlload import parse_yaml
from stems.errors import UserInputError
from tests.support import paths

DATA = paths.DATA / "schema"
HEAD = "title: Test song\nbpm: 120\nkey: A minor\nduration: 10\n"
ONE_STEM = "stems:\n  - {name: keys, prompt: soft piano}\n"


def _write_tone(path: Path, seconds: float = 0.5, rate: int = 32000) -> Path:
    """A tiny 440 Hz sine so that melody/continuation paths point at real audio."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32), rate)
    return path


@pytest.fixture()
def full_yaml(tmp_path: Path) -> Path:
    """valid_full.yaml copied next to the two WAV files it names."""
    target = tmp_path / "song" / "valid_full.yaml"
    target.parent.mkdir()
    shutil.copy(DATA / "valid_full.yaml", target)
    _write_tone(target.parent / "melodies" / "theme.wav", seconds=60)  # melody_loop: false, duration: 60
    _write_tone(target.parent / "takes" / "bass_take.wav")
    return target


def test_minimal_fixture_gets_documented_defaults() -> None:
    song = load_arrangement(DATA / "valid_minimal.yaml")
    assert (song.title, song.bpm, song.key, song.duration) == ("Minimal", 100.0, "C major", 12.0)
    assert (song.time_signature, song.seed, song.sample_rate, song.melody) == ("4/4", 0, None, None)
    assert (song.model, song.separation_model) == (DEFAULT_MODEL, DEFAULT_SEPARATION_MODEL)
    gen = song.generation
    assert (gen.use_sampling, gen.temperature, gen.top_k, gen.top_p) == (True, 1.0, 250, 0.0)
    assert (gen.cfg_coef, gen.two_step_cfg, gen.extend_stride) == (3.0, False, 18.0)
    assert (song.master.lufs, song.master.true_peak, song.master.formats) == (-14.0, -1.0, ["wav"])
    assert (song.master.bit_depth, song.master.sample_rate, song.midi.quantize) == (24, None, None)
    (stem,) = song.stems
    assert (stem.model, stem.follow, stem.separate, stem.midi, stem.clean.enabled) == (
        None,
        None,
        None,
        None,
        True,
    )
    assert (stem.gain_db, stem.pan, stem.mute, stem.solo) == (0.0, 0.0, False, False)
    assert song.sections == [] and song.json_schema is None
    assert song.source == (DATA / "valid_minimal.yaml").resolve()


def test_full_fixture_reads_every_field(full_yaml: Path) -> None:
    song = load_arrangement(full_yaml)
    folder = full_yaml.parent.resolve()
    assert song.json_schema == "../../../arrangement.schema.json" and song.artist == "The Testers"
    assert (song.key, song.time_signature, song.beats_per_bar, song.beat_unit) == ("Bb dorian", "6/8", 6, 8)
    assert song.bar_seconds == pytest.approx(6 * 60 / 96, abs=1e-12)
    assert (song.sample_rate, song.seed, song.model, song.separation_model) == (
        44100,
        2**32 - 1,
        "debug",
        "htdemucs_6s",
    )
    assert song.generation.model_dump() == {
        "use_sampling": False,
        "temperature": 0.7,
        "top_k": 0,
        "top_p": 0.9,
        "cfg_coef": 5.0,
        "two_step_cfg": True,
        "extend_stride": 20.5,
        "engine": "eager",
    }
    assert song.melody == folder / "melodies" / "theme.wav" and song.melody_loop is False
    assert [(s.name, s.bars, s.prompt) for s in song.sections] == [
        ("intro", 4, "sparse, soft"),
        ("chorus", 8, "full band, energetic"),
    ]
    drums, keys, bass = song.stems
    assert (drums.separate, drums.midi, drums.gain_db, drums.solo) == ("drums", "drums", -1.5, True)
    assert (keys.model, keys.melody, keys.separation_model, keys.pan) == (
        "facebook/musicgen-melody",
        folder / "melodies" / "theme.wav",
        "htdemucs",
        -0.3,
    )
    assert (bass.follow, bass.continuation, bass.midi) == ("keys", folder / "takes" / "bass_take.wav", False)
    assert (bass.clean.enabled, bass.gain_db, bass.pan, bass.mute) == (False, 24.0, 1.0, True)
    assert song.master.model_dump() == {
        "lufs": -16.0,
        "true_peak": -2.0,
        "formats": ["wav", "mp3"],
        "bit_depth": "float",
        "sample_rate": 48000,
        "mp3_bitrate": "V0",
        "zip_stems": True,
        "sessions": ["reaper"],
    }
    assert keys.clean.overrides() == {
        "dc": False,
        "highpass_hz": 80.0,
        "lowpass_hz": 9000.0,
        "gate_open_db": None,
        "gate_close_db": None,
        "fade_in_s": None,
        "fade_out_s": None,
        "peak_ceiling_db": None,
    }
    assert keys.transcription.overrides() == {
        "onset_threshold": 0.6,
        "frame_threshold": 0.4,
        "min_note_ms": 80.0,
        "min_frequency": 60.0,
        "max_frequency": 2000.0,
        "monophonic": False,
        "pitch_bends": True,
    }
    assert song.midi.quantize == "1/16t"
    assert (song.stem_model(drums), song.stem_model(keys)) == ("debug", "facebook/musicgen-melody")
    assert (song.stem_separation_model(drums), song.stem_separation_model(keys)) == (
        "htdemucs_6s",
        "htdemucs",
    )
    assert song.stem("bass_2") is bass and (song.tonic, song.mode) == ("Bb", "dorian")


def test_anchors_and_merge_keys_are_expanded() -> None:
    song = load_arrangement(DATA / "valid_anchors.yaml")
    lead, double = song.stems
    assert (lead.name, lead.pan, lead.separate) == ("lead", 0.25, "other")
    assert (double.name, double.pan, double.separate, double.prompt) == (
        "lead-double",
        -0.25,
        "other",
        lead.prompt,
    )


def test_model_round_trips_through_json(full_yaml: Path) -> None:
    song = load_arrangement(full_yaml)
    dumped = json.loads(json.dumps(song.model_dump(mode="json")))
    assert dumped["$schema"] == song.json_schema and dumped["source"] == str(full_yaml.resolve())
    again = Arrangement.model_validate(dumped)
    assert again == song and again.source == song.source
    assert Arrangement.model_validate_json(song.model_dump_json()) == song
    by_name = song.model_dump(mode="json", by_alias=False)  # some Prefect paths dump without aliases
    assert "json_schema" in by_name and Arrangement.model_validate(by_name) == song


def test_relative_paths_resolve_against_the_yaml_folder_not_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_tone(tmp_path / "songs" / "theme.wav")
    monkeypatch.chdir(tmp_path)  # theme.wav is NOT in the current folder
    song = parse_arrangement(HEAD + "melody: theme.wav\n" + ONE_STEM, tmp_path / "songs" / "a.yaml")
    assert song.melody == (tmp_path / "songs" / "theme.wav").resolve() and song.melody.is_absolute()
    with pytest.raises(SchemaError, match="file not found"):
        parse_arrangement(HEAD + "melody: songs/theme.wav\n" + ONE_STEM, tmp_path / "songs" / "a.yaml")


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("a minor", "A minor"),
        ("C# MAJOR", "C# major"),
        ("bb Dorian", "Bb dorian"),
        ("F\u266f lydian", "F# lydian"),
        ("E\u266d phrygian", "Eb phrygian"),
        (" G mixolydian ", "G mixolydian"),
        ("D aeolian", "D aeolian"),
        ("B locrian", "B locrian"),
    ],
)
def test_key_is_normalised(written: str, normalised: str) -> None:
    assert (
        parse_arrangement(
            f'title: t\nbpm: 90\nkey: "{written}"\nduration: 10\n{ONE_STEM}', Path("x.yaml")
        ).key
        == normalised
    )


@pytest.mark.parametrize("key", ["H minor", "A", "A blues", "Am", "C## major", "minor", ""])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(SchemaError, match="tonic A-G"):
        parse_arrangement(f'title: t\nbpm: 90\nkey: "{key}"\nduration: 10\n{ONE_STEM}', Path("x.yaml"))


@pytest.mark.parametrize(
    ("sig", "beats", "unit"),
    [("4/4", 4, 4), ("3/4", 3, 4), ("6/8", 6, 8), ("32/32", 32, 32), ("1/1", 1, 1), (" 7 / 16 ", 7, 16)],
)
def test_time_signature_properties(sig: str, beats: int, unit: int) -> None:
    song = parse_arrangement(HEAD + f'time_signature: "{sig}"\n' + ONE_STEM, Path("x.yaml"))
    assert (song.beats_per_bar, song.beat_unit, song.time_signature) == (beats, unit, f"{beats}/{unit}")


@pytest.mark.parametrize("sig", ["33/4", "0/4", "4/3", "4/64", "4", "four/four", "4/4/4"])
def test_bad_time_signatures_are_refused(sig: str) -> None:
    with pytest.raises(SchemaError, match="N/D"):
        parse_arrangement(HEAD + f'time_signature: "{sig}"\n' + ONE_STEM, Path("x.yaml"))


@pytest.mark.parametrize(("bars", "ok"), [(5, True), (6, True), (7, False)])
def test_sections_may_overrun_duration_by_at_most_one_bar(bars: int, ok: bool) -> None:
    # 120 bpm in 4/4: a bar lasts 2 s; duration 10 s allows up to 12 s of sections (6 bars).
    text = HEAD + f"sections:\n  - {{name: a, bars: 2}}\n  - {{name: b, bars: {bars - 2}}}\n" + ONE_STEM
    if ok:
        assert len(parse_arrangement(text, Path("x.yaml")).sections) == 2
        return
    with pytest.raises(SchemaError) as caught:
        parse_arrangement(text, Path("x.yaml"))
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (7, "sections[1]")
    assert "14.00 s" in problem.message and "duration is 10 s" in problem.message


def test_cross_field_rules_also_run_without_yaml() -> None:
    data = {
        "title": "t",
        "bpm": 90,
        "key": "A minor",
        "duration": 10,
        "stems": [
            {"name": "a", "prompt": "x", "follow": "b"},
            {"name": "b", "prompt": "y", "follow": "a"},
            {"name": "a", "prompt": "z"},
        ],
    }
    with pytest.raises(ValidationError) as caught:
        Arrangement.model_validate(data)
    text = str(caught.value)
    assert "stems[2].name: duplicate stem name 'a'" in text and "cycle (a -> b -> a)" in text


def test_source_cannot_be_written_in_yaml_but_round_trips() -> None:
    with pytest.raises(SchemaError, match="'source' is not a YAML key"):
        parse_arrangement(HEAD + "source: /tmp/x.yaml\n" + ONE_STEM, Path("x.yaml"))
    song = parse_arrangement(HEAD + ONE_STEM, Path("/tmp/x.yaml"))
    assert Arrangement.model_validate(song.model_dump()).source == Path("/tmp/x.yaml").resolve()


def test_models_are_immutable_and_copy_with_update() -> None:
    song = parse_arrangement(HEAD + ONE_STEM, Path("x.yaml"))
    with pytest.raises(ValidationError):
        song.seed = 3  # type: ignore[misc]
    assert song.model_copy(update={"seed": 3}).seed == 3 and song.seed == 0


def test_all_problems_of_a_file_are_reported_in_line_order() -> None:
    with pytest.raises(SchemaError) as caught:
        load_arrangement(DATA / "invalid_several.yaml")
    err = caught.value
    assert [(p.line, p.field) for p in err.problems] == [
        (2, "bpm"),
        (6, "stems[0].name"),
        (8, "stems[0].panning"),
    ]
    assert isinstance(err, UserInputError) and str(err).count("\n") == 2
    assert "e.g. 'lead-synth'" in err.problems[1].message and "did you mean 'pan'?" in err.problems[2].message


def test_problem_and_field_formatting() -> None:
    assert str(Problem("a.yaml", 3, 7, "stems[2].pan", "too far")) == "a.yaml:3:7: stems[2].pan: too far"
    assert format_field(("stems", 2, "pan")) == "stems[2].pan" and format_field(()) == "(root)"
    assert format_field(("master", "formats", 0)) == "master.formats[0]"


def test_yaml_positions_are_one_based_for_keys_and_values() -> None:
    doc = parse_yaml("a: 1\nlist:\n  - x: 2\n    y:  [3, 4]\n", "f.yaml")
    assert doc.data == {"a": 1, "list": [{"x": 2, "y": [3, 4]}]}
    assert doc.position(("a",)) == (1, 4) and doc.position(("a",), key=True) == (1, 1)
    assert doc.position(("list", 0, "y")) == (4, 9) and doc.position(("list", 0, "y"), key=True) == (4, 5)
    assert doc.position(("list", 0, "y", 1)) == (4, 13) and doc.position(("list", 0, "nope")) == (3, 5)
    assert parse_yaml("", "f.yaml").data is None and parse_yaml("on: yes\n1: x\n", "f").data == {
        "on": True,
        "1": "x",
    }


def test_json_schema_describes_the_yaml_format(full_yaml: Path) -> None:
    schema = arrangement_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) == {"title", "bpm", "key", "duration", "stems"}
    assert "$schema" in schema["properties"] and "source" not in schema["properties"]
    assert schema["additionalProperties"] is False
    assert all(d.get("additionalProperties") is False for d in schema["$defs"].values())
    assert schema["$defs"]["Stem"]["properties"]["name"]["pattern"] == r"^[a-z0-9][a-z0-9_-]{0,39}$"
    assert schema["properties"]["bpm"]["minimum"] == 20 and schema["properties"]["bpm"]["maximum"] == 300
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(parse_yaml(full_yaml.read_text(), "f").data, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"title": "t", "bpm": 90, "key": "A minor", "duration": 10, "stems": [], "x": 1}, schema
        )


# --- facts the schema shares with the code that acts on them -----------------------------------------------------


def test_the_schema_takes_its_facts_from_the_code_that_uses_them() -> None:
    from typing import get_args

    from flows.schema.album import Album
    from flows.schema.models import SeparateSource
    from mixing.targets import DEFAULT_LUFS, DEFAULT_TRUE_PEAK, LUFS_RANGE, TRUE_PEAK_RANGE
    from stems.separation.catalog import DEFAULT_MODEL as DEMUCS_DEFAULT
    from stems.separation.catalog import SOURCES

    assert get_args(SeparateSource) == SOURCES  # a Literal for the JSON Schema, pinned to the catalog
    assert DEFAULT_SEPARATION_MODEL == DEMUCS_DEFAULT
    for schema in (arrangement_json_schema()["$defs"]["MasterSettings"], Album.model_json_schema()):
        lufs, peak = schema["properties"]["lufs"], schema["properties"]["true_peak"]
        assert (lufs["minimum"], lufs["maximum"], lufs["default"]) == (*LUFS_RANGE, DEFAULT_LUFS)
        assert (peak["minimum"], peak["maximum"], peak["default"]) == (*TRUE_PEAK_RANGE, DEFAULT_TRUE_PEAK)


def test_every_true_peak_the_schema_takes_the_master_takes() -> None:
    from mixing.master import Master
    from mixing.targets import TRUE_PEAK_RANGE

    for true_peak in TRUE_PEAK_RANGE:
        song = parse_arrangement(HEAD + ONE_STEM + f"master: {{true_peak: {true_peak}}}\n", Path("s.yaml"))
        assert Master(-20.0, song.master.true_peak).true_peak == true_peak
    below = TRUE_PEAK_RANGE[0] - 0.5
    with pytest.raises(SchemaError, match="true_peak"):
        parse_arrangement(HEAD + ONE_STEM + f"master: {{true_peak: {below}}}\n", Path("s.yaml"))
    with pytest.raises(UserInputError, match="-9 to 0"):
        Master(-20.0, below)


def test_one_slug_rule_for_folders_and_name_suggestions() -> None:
    from flows.schema.slugs import slugify

    assert slugify("Night Drive (take 2)!") == "night-drive-take-2"
    assert slugify("???") == "track" and slugify("???", fallback="stem") == "stem"
    assert len(slugify("x" * 100)) == 60 and len(slugify("x" * 100, 40)) == 40
    with pytest.raises(SchemaError, match="e.g. 'lead-synth'"):
        parse_arrangement(HEAD + "stems:\n  - {name: Lead_Synth, prompt: p}\n", Path("s.yaml"))


def test_every_transcription_override_the_schema_takes_the_transcriber_takes() -> None:
    """One rule per field: at and just past each bound the YAML field and the settings agree (min_note_ms said
    "> 0, <= 5000" in the schema and "0 to 2000" in the settings; release_ratio "< 1" and "<= 0.99")."""
    from flows.schema.models import Transcription
    from stems.transcription.settings import settings_for

    fields = arrangement_json_schema()["$defs"]["Transcription"]["properties"]
    checked = []
    for name, schema in fields.items():
        bounds = schema["anyOf"][0]
        edges = [bounds.get(k) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")]
        for edge in [e for e in edges if e is not None]:
            for value in (edge - 1e-6, float(edge), edge + 1e-6):
                try:
                    Transcription.model_validate({name: value})
                    schema_ok = True
                except ValidationError:
                    schema_ok = False
                try:
                    settings_for("piano", **{name: value})
                    settings_ok = True
                except UserInputError:
                    settings_ok = False
                assert schema_ok == settings_ok, (name, value, schema_ok, settings_ok)
                checked.append(name)
    assert {"min_note_ms", "release_ratio", "onset_threshold", "release_ms"} <= set(checked)
