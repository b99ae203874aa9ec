"""`musicmaker validate`: exit 2 with one `FILE:LINE:COL: field: message` line per problem, never a traceback.

Each bad case marks the line the problem must be reported on with a `#<` comment (YAML ignores comments);
cases that cannot hold a comment (bytes, empty files) give the line explicitly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flows.cli import main
from stems.errors import UserInputError
from tests.support import paths

DATA = paths.DATA / "schema"
HEAD = "title: Test song\nbpm: 120\nkey: A minor\nduration: 30\n"
STEMS = "stems:\n  - name: drums\n    prompt: tight drums\n  - name: bass\n    prompt: warm bass\n"
LINE_RE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<field>\S+): (?P<message>.+)$")


@dataclass(frozen=True)
class Bad:
    id: str
    text: str | bytes
    field: str
    fragment: str  # a piece of the message: what was received or what is allowed
    line: int | None = None  # None: the line that carries the `#<` marker
    col: int | None = None


def _stems(*extra_drum_lines: str) -> str:
    body = "".join(f"    {line}\n" for line in extra_drum_lines)
    return (
        "stems:\n  - name: drums\n    prompt: tight drums\n"
        + body
        + "  - name: bass\n    prompt: warm bass\n"
    )


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh")
)

CASES = [
    # wrong types
    Bad("bpm_text", HEAD.replace("bpm: 120", "bpm: fast  #<") + STEMS, "bpm", "received the text 'fast'"),
    Bad(
        "title_number",
        HEAD.replace("title: Test song", "title: 1999  #<") + STEMS,
        "title",
        "put it in quotes",
    ),
    Bad(
        "title_date", HEAD.replace("title: Test song", "title: 2024-13-45  #<") + STEMS, "title", "2024-13-45"
    ),
    Bad("gain_text", HEAD + _stems("gain_db: loud  #<"), "stems[0].gain_db", "expected a number"),
    Bad("mute_quoted", HEAD + _stems('mute: "yes"  #<'), "stems[0].mute", "true or false"),
    Bad("melody_loop_int", HEAD + "melody_loop: 1  #<\n" + STEMS, "melody_loop", "true or false"),
    Bad("artist_list", HEAD + "artist: [a, b]  #<\n" + STEMS, "artist", "expected text, received a list"),
    Bad("schema_number", "$schema: 5  #<\n" + HEAD + STEMS, "$schema", "expected text"),
    Bad("generation_scalar", HEAD + "generation: 5  #<\n" + STEMS, "generation", "expected a mapping"),
    Bad("sections_mapping", HEAD + "sections:  #<\n  intro: 4\n" + STEMS, "sections", "expected a list"),
    Bad("stems_null", HEAD + "stems:  #<\n", "stems", "expected a list"),
    Bad(
        "clean_maybe", HEAD + _stems("clean: {enabled: maybe}  #<"), "stems[0].clean.enabled", "true or false"
    ),
    Bad(
        "bars_float",
        HEAD + "sections:\n  - {name: a, bars: 2.5}  #<\n" + STEMS,
        "sections[0].bars",
        "whole number",
    ),
    # unknown keys
    Bad("unknown_top", HEAD + "tempo: 120  #<\n" + STEMS, "tempo", "did you mean 'bpm'?", col=1),
    Bad(
        "unknown_stem",
        HEAD + _stems("colour: red  #<"),
        "stems[0].colour",
        "allowed keys here: name, from, source, prompt",
        col=5,
    ),
    Bad(
        "unknown_master",
        HEAD + STEMS + "master:\n  lufs: -14\n  limiter: on  #<\n",
        "master.limiter",
        "allowed",
    ),
    Bad(
        "comma_in_flow",
        HEAD + "sections:\n  - {name: a, bars: 2, prompt: sparse, soft}  #<\n" + STEMS,
        "sections[0].soft",
        "quote that text",
    ),
    Bad(
        "python_name_of_schema",
        HEAD + "json_schema: x.json  #<\n" + STEMS,
        "json_schema",
        "did you mean '$schema'?",
    ),
    Bad("source_key", HEAD + "source: song.yaml  #<\n" + STEMS, "source", "not a YAML key"),
    # missing fields: the line of the mapping that lacks them
    Bad(
        "missing_title",
        "bpm: 120  #<\nkey: A minor\nduration: 30\n" + STEMS,
        "title",
        "add it, e.g. title: Night Drive",
        col=1,
    ),
    Bad(
        "missing_prompt",
        HEAD + "stems:\n  - name: drums  #<\n",
        "stems[0].prompt",
        "'prompt' is missing",
        col=5,
    ),
    Bad(
        "missing_bars",
        HEAD + "sections:\n  - name: a  #<\n    prompt: x\n" + STEMS,
        "sections[0].bars",
        "missing",
    ),
    # out of range / not a choice
    Bad("bpm_high", HEAD.replace("bpm: 120", "bpm: 500  #<") + STEMS, "bpm", "from 20 up to 300", col=6),
    Bad(
        "duration_low",
        HEAD.replace("duration: 30", "duration: 1  #<") + STEMS,
        "duration",
        "from 5 up to 600",
    ),
    Bad("seed_negative", HEAD + "seed: -1  #<\n" + STEMS, "seed", "from 0 up to 4294967295"),
    Bad("pan_far", HEAD + _stems("pan: 1.5  #<"), "stems[0].pan", "from -1 up to 1"),
    Bad("gain_nan", HEAD + _stems("gain_db: .nan  #<"), "stems[0].gain_db", "nan"),
    # YAML 1.1 reads 1e9 (no dot) as text: the fix is a spelling it reads as a number, not "a plain number"
    Bad(
        "exponent_without_dot",
        HEAD + _stems("transcription: {onset_threshold: 1e9}  #<"),
        "stems[0].transcription.onset_threshold",
        "YAML reads 1e9 as text",
    ),
    Bad(
        "exponent_with_dot",  # PyYAML, like YAML 1.1, reads 1.0e9 as text too: it wants the exponent's sign
        HEAD + _stems("transcription: {onset_threshold: 1.0e9}  #<"),
        "stems[0].transcription.onset_threshold",
        "write 1.0e+9 or 1000000000",
    ),
    Bad(
        "exponent_negative", HEAD + _stems("gain_db: -2E-1  #<"), "stems[0].gain_db", "write -2.0E-1 or -0.2"
    ),
    Bad(
        "exponent_whole",
        HEAD + "seed: 1e3  #<\n" + STEMS,
        "seed",
        "reads 1e3 as text, since a number in exponent notation needs a dot and a signed exponent there: write 1000",
    ),
    Bad(
        "temperature_zero",
        HEAD + "generation: {temperature: 0}  #<\n" + STEMS,
        "generation.temperature",
        "greater than 0 up to 10",
    ),
    Bad(
        "stride_30",
        HEAD + "generation:\n  extend_stride: 30  #<\n" + STEMS,
        "generation.extend_stride",
        "less than 30",
    ),
    Bad("top_p_high", HEAD + "generation:\n  top_p: 1.5  #<\n" + STEMS, "generation.top_p", "from 0 up to 1"),
    Bad("lufs_loud", HEAD + STEMS + "master:\n  lufs: -3  #<\n", "master.lufs", "from -40 up to -5"),
    Bad(
        "format_mp4",
        HEAD + STEMS + "master:\n  formats:\n    - wav\n    - mp4  #<\n",
        "master.formats[1]",
        "did you mean 'mp3'?",
    ),
    Bad(
        "formats_repeated",
        HEAD + STEMS + "master: {formats: [wav, wav]}  #<\n",
        "master.formats",
        "more than once",
    ),
    Bad("formats_empty", HEAD + STEMS + "master: {formats: []}  #<\n", "master.formats", "must not be empty"),
    Bad("bit_depth_20", HEAD + STEMS + "master: {bit_depth: 20}  #<\n", "master.bit_depth", "16, 24, float"),
    Bad("sample_rate_22050", HEAD + "sample_rate: 22050  #<\n" + STEMS, "sample_rate", "32000, 44100, 48000"),
    Bad("quantize_1_3", HEAD + STEMS + "midi: {quantize: 1/3}  #<\n", "midi.quantize", "1/16t"),
    Bad("stem_midi_true", HEAD + _stems("midi: true  #<"), "stems[0].midi", "woodwind, false"),
    Bad("stem_midi_number", HEAD + _stems("midi: 0  #<"), "stems[0].midi", "received the number 0"),
    Bad("separate_drum", HEAD + _stems("separate: drum  #<"), "stems[0].separate", "did you mean 'drums'?"),
    Bad("key_h", HEAD.replace("key: A minor", "key: H minor  #<") + STEMS, "key", "'H minor'"),
    Bad("time_sig_5_5", HEAD + "time_signature: 5/5  #<\n" + STEMS, "time_signature", "'5/5'"),
    Bad("bars_zero", HEAD + "sections:\n  - {name: a, bars: 0}  #<\n" + STEMS, "sections[0].bars", "from 1"),
    Bad(
        "section_name_empty",
        HEAD + 'sections:\n  - {name: "", bars: 1}  #<\n' + STEMS,
        "sections[0].name",
        "must not be empty",
    ),
    Bad("title_too_long", HEAD.replace("Test song", "x" * 201 + "  #<") + STEMS, "title", "at most 200"),
    Bad("stems_empty", HEAD + "stems: []  #<\n", "stems", "must not be empty"),
    Bad(
        "stems_too_many",
        HEAD + "stems:  #<\n" + "".join(f"  - {{name: s{i}, prompt: x}}\n" for i in range(33)),
        "stems",
        "at most 32",
    ),
    Bad(
        "name_not_slug",
        HEAD + "stems:\n  - name: Lead Synth  #<\n    prompt: x\n",
        "stems[0].name",
        "'lead-synth'",
    ),
    Bad(
        "prompt_blank",
        HEAD + 'stems:\n  - name: a\n    prompt: "   "  #<\n',
        "stems[0].prompt",
        "prompt is empty",
    ),
    Bad("model_empty", HEAD + 'model: ""  #<\n' + STEMS, "model", "must not be empty"),
    # files
    Bad("melody_missing", HEAD + "melody: themes/none.wav  #<\n" + STEMS, "melody", "file not found"),
    Bad(
        "continuation_missing",
        HEAD + _stems("continuation: take.wav  #<"),
        "stems[0].continuation",
        "file not found",
    ),
    # cross-field rules: the offending item's line
    Bad(
        "duplicate_names",
        HEAD + "stems:\n  - {name: a, prompt: x}\n  - {name: a, prompt: y}  #<\n",
        "stems[1].name",
        "duplicate stem name 'a'",
    ),
    Bad("follow_unknown", HEAD + _stems("follow: nobody  #<"), "stems[0].follow", "allowed: drums, bass"),
    Bad("follow_self", HEAD + _stems("follow: drums  #<"), "stems[0].follow", "follows itself"),
    Bad(
        "follow_cycle",
        HEAD + "stems:\n  - {name: a, prompt: x, follow: b}  #<\n  - {name: b, prompt: y, follow: a}\n",
        "stems[0].follow",
        "cycle (a -> b -> a)",
    ),
    Bad(
        "follow_and_melody",
        HEAD + _stems("melody: theme.wav", "follow: bass  #<"),
        "stems[0].follow",
        "exclusive",
    ),
    Bad(
        "sections_too_long",
        HEAD + "sections:\n  - {name: a, bars: 10}\n  - {name: b, bars: 10}  #<\n" + STEMS,
        "sections[1]",
        "duration is 30 s",
    ),
    # YAML itself
    Bad(
        "duplicate_key",
        HEAD + "bpm: 100  #<\n" + STEMS,
        "bpm",
        "duplicate key 'bpm' (first written on line 2)",
    ),
    Bad("tab_indent", HEAD + "stems:\n  - name: a\n\tprompt: x  #<\n", "(yaml)", "not tabs"),
    Bad("unclosed_flow", HEAD + "stems: [{name: a, prompt: x}\n", "(yaml)", "invalid YAML", line=6),
    Bad(
        "colon_in_value", HEAD + STEMS.replace("tight drums", "drums: tight  #<"), "(yaml)", "must be quoted"
    ),
    Bad(
        "unclosed_quote",
        HEAD.replace("Test song", '"Test song  #<') + STEMS,
        "(yaml)",
        "quoted scalar",
        line=10,
    ),
    Bad("custom_tag", HEAD + "melody: !include other.yaml  #<\n" + STEMS, "melody", "tag '!include'"),
    Bad("python_tag", HEAD + "seed: !!python/object:os.system x  #<\n" + STEMS, "seed", "not supported"),
    Bad("undefined_alias", HEAD + "artist: *nobody  #<\n" + STEMS, "(yaml)", "undefined alias"),
    Bad("recursive_alias", HEAD + "artist: &x [*x]  #<\n" + STEMS, "artist[0]", "refers to itself"),
    Bad("alias_bomb", BOMB, "(yaml)", "more than 50000 values", line=5),
    Bad("deep_nesting", "a: " + "[" * 100 + "]" * 100 + "  #<\n", "(yaml)", "deeper than 32"),
    Bad("two_documents", HEAD + STEMS + "---  #<\ntitle: second\n", "(yaml)", "single document"),
    Bad("control_char", HEAD + "artist: a\x07b  #<\n" + STEMS, "(yaml)", "U+0007", col=10),
    Bad("top_list", "- title: x  #<\n- bpm: 1\n", "(root)", "received a list of 2 items"),
    Bad("top_scalar", "hello world  #<\n", "(root)", "received the text 'hello world'"),
    Bad("empty_file", "", "(root)", "no content", line=1, col=1),
    Bad("only_comments", "# nothing here\n\n", "(root)", "no content", line=1),
    Bad(
        "not_utf8",
        HEAD.encode() + b"artist: caf\xe9\n" + STEMS.encode(),
        "(file)",
        "byte 0xe9",
        line=5,
        col=12,
    ),
    Bad("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "(file)", "binary file", line=3, col=1),
]


def _expected_line(case: Bad) -> int:
    if case.line is not None:
        return case.line
    text = case.text.decode("utf-8", "replace") if isinstance(case.text, bytes) else case.text
    (line,) = [n for n, row in enumerate(text.split("\n"), 1) if row.endswith("#<")]
    return line


def _validate(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, str, str]:
    code = main(["validate", *map(str, paths)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return code, out, err


def _problems(err: str) -> list[re.Match[str]]:
    matches = [LINE_RE.match(row) for row in err.splitlines()]
    assert matches and all(matches), f"every stderr line must be FILE:LINE:COL: field: message, got:\n{err}"
    return [m for m in matches if m is not None]


def test_there_are_at_least_thirty_distinct_bad_inputs() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 30
    assert len({case.text for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_exits_2_with_the_line_of_the_problem(
    case: Bad, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "song.yaml"
    path.write_bytes(case.text if isinstance(case.text, bytes) else case.text.encode())
    if case.id == "follow_and_melody":
        sf.write(tmp_path / "theme.wav", np.zeros(3200, np.float32), 32000)
    code, out, err = _validate(capsys, path)
    assert code == 2 and out == ""
    problems = _problems(err)
    assert all(m["file"] == str(path) for m in problems)
    hits = [m for m in problems if m["field"] == case.field]
    assert hits, f"no problem for field {case.field!r} in:\n{err}"
    assert int(hits[0]["line"]) == _expected_line(case), err
    assert case.col is None or int(hits[0]["col"]) == case.col, err
    assert case.fragment in hits[0]["message"], err


@pytest.mark.parametrize("name", ["valid_minimal.yaml", "valid_anchors.yaml"])
def test_valid_fixtures_exit_0(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _validate(capsys, DATA / name)
    assert (code, out, err) == (0, f"{DATA / name}: ok\n", "")


def test_several_files_report_each_and_exit_2_if_any_is_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, folder = tmp_path / "missing.yaml", tmp_path
    code, out, err = _validate(
        capsys, DATA / "valid_minimal.yaml", DATA / "invalid_several.yaml", missing, folder
    )
    assert code == 2 and out == f"{DATA / 'valid_minimal.yaml'}: ok\n"
    problems = _problems(err)
    assert [m["file"] for m in problems].count(str(DATA / "invalid_several.yaml")) == 3
    assert [(m["line"], m["col"], m["field"]) for m in problems[3:]] == [("1", "1", "(file)")] * 2
    assert "file not found" in problems[3]["message"] and "folder" in problems[4]["message"]


def test_oversized_file_is_refused_before_parsing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * 120_000)  # 1.2 MB: over the 1 MiB limit
    code, _, err = _validate(capsys, big)
    assert code == 2 and ":1:1: (file): file is larger than 1048576 bytes" in err


def test_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked.yaml"
    locked.write_text(HEAD + STEMS)

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)  # chmod 000 does not stop root, which runs CI containers
    code, _, err = _validate(capsys, locked)
    assert (
        code == 2
        and err == f"{locked}:1:1: (file): cannot read the file: Permission denied; check its permissions\n"
    )


# --- inputs that passed validate and then failed in a render (issue 22, point 2) ---------------------------------
# validate, render --dry-run and render refuse each alike: exit 2, FILE:LINE:COL lines, no traceback, and render
# writes nothing before refusing.

SLOW = {
    # a quarter note longer than MIDI's Set Tempo field holds (0xFFFFFF us = 16.78 s): 4/32 at 26 bpm is 18.5 s
    "4_32_at_26": HEAD.replace("bpm: 120", "bpm: 26  #<") + 'time_signature: "4/32"\n' + STEMS,
    "32_32_at_20": HEAD.replace("bpm: 120", "bpm: 20  #<") + 'time_signature: "32/32"\n' + STEMS,
}


def _track_commands(path: Path, out: Path) -> list[list[str]]:
    return [
        ["validate", str(path)],
        ["render", str(path), "--dry-run"],
        ["render", str(path), "-o", str(out)],
    ]


def _refused_alike(
    capsys: pytest.CaptureFixture[str], commands: list[list[str]], out: Path
) -> list[list[re.Match[str]]]:
    """Each command exits 2 with FILE:LINE:COL problems and no traceback; ``out`` stays unwritten."""
    found = []
    for argv in commands:
        code = main(argv)
        stdout, err = capsys.readouterr()
        assert code == 2 and "Traceback" not in err + stdout, (argv, err)
        found.append(_problems(err))
        assert not out.exists(), f"{argv} wrote {sorted(out.rglob('*'))} before refusing"
    assert all([m.group(0) for m in problems] == [m.group(0) for m in found[0]] for problems in found), (
        "validate, --dry-run and render must report the same problems"
    )
    return found


@pytest.mark.parametrize("name", list(SLOW))
def test_a_tempo_midi_cannot_hold_is_refused_up_front(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "song.yaml"
    path.write_text(SLOW[name])
    (problems, *_) = _refused_alike(capsys, _track_commands(path, tmp_path / "out"), tmp_path / "out")
    from stems.transcription.midi import MAX_MICROSECONDS_PER_QUARTER

    (bpm,) = [m for m in problems if m["field"] == "bpm"]
    line = next(n for n, row in enumerate(SLOW[name].split("\n"), 1) if row.endswith("#<"))
    assert (bpm["file"], int(bpm["line"])) == (str(path), line)
    limit = f"{MAX_MICROSECONDS_PER_QUARTER / 1e6:.2f} s"
    assert "quarter note" in bpm["message"] and limit in bpm["message"], bpm["message"]
    assert "at least 28.7 bpm" in bpm["message"] and "time_signature" in bpm["message"], bpm["message"]


def test_the_slowest_tempo_midi_holds_passes_and_writes_a_file(tmp_path: Path) -> None:
    """The limit is the Set Tempo field's, no stricter: the slowest accepted tempo writes a readable file."""
    import mido

    from flows.schema import parse_arrangement
    from stems.transcription.midi import MAX_MICROSECONDS_PER_QUARTER, TempoMap, slowest_bpm, write_midi

    bpm = slowest_bpm(32)
    song = parse_arrangement(SLOW["4_32_at_26"].replace("bpm: 26", f"bpm: {bpm}"), tmp_path / "s.yaml")
    write_midi(tmp_path / "t.mid", [], TempoMap(song.bpm, song.beats_per_bar, song.beat_unit))
    (tempo,) = [m.tempo for m in mido.MidiFile(tmp_path / "t.mid").tracks[0] if m.type == "set_tempo"]
    assert tempo <= MAX_MICROSECONDS_PER_QUARTER and 60e6 / (bpm * 4 / 32) == pytest.approx(tempo, abs=1)
    with pytest.raises(UserInputError, match="quarter note"):
        TempoMap(
            bpm - 0.01, 4, 32
        )  # the writer refuses too, in the same words, should a caller skip the schema


def test_an_album_default_tempo_midi_cannot_hold_is_refused_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text('title: A\nkey: A minor\nduration: 30\ntime_signature: "4/32"\n' + STEMS)
    album = tmp_path / "album.yaml"
    album.write_text("title: Al\ndefaults:\n  bpm: 26\ntracks: [a.yaml]\n")
    (problems, *_) = _refused_alike(capsys, _album_commands(album, tmp_path / "out"), tmp_path / "out")
    assert [(m["file"], m["line"], m["field"]) for m in problems] == [(str(album), "3", "bpm")]


def _album_commands(album: Path, out: Path) -> list[list[str]]:
    return [
        ["validate", str(album)],
        ["album", "render", str(album), "--dry-run"],
        ["album", "render", str(album), "-o", str(out)],
        ["album", "schedule", str(album), "--cron", "0 3 * * *", "-o", str(out)],
    ]


@pytest.mark.parametrize(
    ("content", "received"),
    [
        ("hello\n", "the text 'hello'"),
        ("- a\n- b\n", "a list of 2 items"),
        ("# only a comment\n", "no content"),
    ],
)
def test_an_album_track_file_that_is_not_a_mapping_is_a_problem_in_that_file(
    content: str,
    received: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # `album schedule` must refuse before it
    (tmp_path / "s.yaml").write_text(content)
    (tmp_path / "ok.yaml").write_text(HEAD + "model: debug\n" + STEMS)
    album = tmp_path / "album.yaml"
    album.write_text("title: Al\ntracks: [s.yaml, ok.yaml]\n")
    for problems in _refused_alike(capsys, _album_commands(album, tmp_path / "out"), tmp_path / "out"):
        assert [(m["file"], m["line"], m["col"], m["field"]) for m in problems] == [
            (str(tmp_path / "s.yaml"), "1", "1", "(root)")
        ]
        assert received in problems[0]["message"] and "title" in problems[0]["message"]


def test_min_note_ms_has_one_rule_in_validate_the_settings_and_the_json_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.schema import arrangement_json_schema
    from stems.transcription.settings import SETTING_RANGES

    low, high = SETTING_RANGES["min_note_ms"].low, SETTING_RANGES["min_note_ms"].high
    path = tmp_path / "song.yaml"
    for value, ok in ((low, True), (high, True), (high + 1, False), (low - 1, False)):
        path.write_text(HEAD + "model: debug\n" + _stems(f"transcription: {{min_note_ms: {value:g}}}  #<"))
        code, _, err = _validate(capsys, path)
        assert (code == 0) == ok, (value, err)
        if not ok:
            (problem,) = _problems(err)
            assert problem["field"] == "stems[0].transcription.min_note_ms", err
            assert f"from {low:g} up to {high:g}" in problem["message"], err
    field = arrangement_json_schema()["$defs"]["Transcription"]["properties"]["min_note_ms"]["anyOf"][0]
    assert (field["minimum"], field["maximum"]) == (low, high)
