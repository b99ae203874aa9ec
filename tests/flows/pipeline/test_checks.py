"""One checking pass: what `render` would reject, `validate` and `render --dry-run` reject first, with the same
`FILE:LINE:COL: field: message` lines and before any model loads.

Each case marks the line the problem must be reported on with a `#<` comment, as in test_validate_cli.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flows.cli import main
from flows.orchestration import render as render_module
from flows.schema.album import album_json_schema
from flows.schema.models import AudioFormat
from mixing.formats import FORMATS
from tests.flows.cli.test_validate_cli import LINE_RE
from tests.support import paths

HEAD = "title: Test song\nbpm: 120\nkey: A minor\nduration: 10\nmodel: debug\nseparation_model: debug\n"
STEMS = "stems:\n  - name: keys\n    prompt: rhodes chords\n  - name: bass\n    prompt: warm bass\n"


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    field: str
    fragment: str


def _stem(*lines: str, name: str = "keys") -> str:
    return f"  - name: {name}\n    prompt: a sound\n" + "".join(f"    {line}\n" for line in lines)


CASES = [
    Case(
        "follow_without_melody_model",
        HEAD + "stems:\n" + _stem() + _stem("follow: keys  #<", name="bass"),
        "stems[1].follow",
        "takes no melody",
    ),
    Case(
        "melody_without_melody_model",
        HEAD + "stems:\n" + _stem("melody: theme.wav  #<"),
        "stems[0].melody",
        "takes no melody",
    ),
    Case(
        "flac_float",
        HEAD + STEMS + "master:\n  formats: [wav, flac]\n  bit_depth: float  #<\n",
        "master.bit_depth",
        "flac cannot be written with bit depth 'float'",
    ),
    Case(
        "mp3_bitrate",
        HEAD + STEMS + "master:\n  formats: [mp3]\n  mp3_bitrate: 999k  #<\n",
        "master.mp3_bitrate",
        "'999k' is not valid",
    ),
    Case(
        "mp3_bitrate_between",
        HEAD + STEMS + "master:\n  mp3_bitrate: 33k  #<\n",
        "master.mp3_bitrate",
        "320k",
    ),
    Case(
        "all_muted",
        HEAD + "stems:\n  - name: keys\n    prompt: a\n    mute: true  #<\n"
        "  - name: bass\n    prompt: b\n    mute: true\n",
        "stems[0].mute",
        "every stem is muted",
    ),
    Case(
        "soloed_muted",
        HEAD + "stems:\n" + _stem() + "  - name: bass\n    prompt: b\n    mute: true  #<\n    solo: true\n",
        "stems[1].mute",
        "soloed stem is also muted",
    ),
    Case(
        "title_escape",
        HEAD.replace("title: Test song", 'title: "\\e[31mRed\\e[0m"  #<') + STEMS,
        "title",
        "control character '\\x1b'",
    ),
    Case(
        "title_nul",
        HEAD.replace("title: Test song", 'title: "a\\0b"  #<') + STEMS,
        "title",
        "control character '\\x00'",
    ),
    Case("artist_newline", HEAD + 'artist: "one\\ntwo"  #<\n' + STEMS, "artist", "'\\n'"),
    Case("artist_bidi", HEAD + 'artist: "abc\\u202Edef"  #<\n' + STEMS, "artist", "'\\u202e'"),
    Case(
        "section_name",
        HEAD + 'sections:\n  - {name: "in\\rtro", bars: 2}  #<\n' + STEMS,
        "sections[0].name",
        "'\\r'",
    ),
    Case(
        "prompt_escape",
        HEAD + 'stems:\n  - name: keys\n    prompt: "x\\e]0;pwned\\a"  #<\n',
        "stems[0].prompt",
        "'\\x1b'",
    ),
    Case(
        "unknown_model",
        HEAD.replace("\nmodel: debug", "\nmodel: facebook/musicgen-huge  #<") + STEMS,
        "model",
        "musicgen-huge",
    ),
    Case("unknown_stem_model", HEAD + "stems:\n" + _stem("model: nope  #<"), "stems[0].model", "'nope'"),
    Case(
        "silent_melody",
        HEAD + "melody: silent.wav  #<\n" + "stems:\n" + _stem("model: debug-melody"),
        "melody",
        "silent",
    ),
    Case(
        "short_continuation",
        HEAD + "stems:\n" + _stem("continuation: blip.wav  #<"),
        "stems[0].continuation",
        "at least 0.5 s is needed",
    ),
    Case(
        "filter_range",
        HEAD + "stems:\n" + _stem("clean: {highpass_hz: 9000, lowpass_hz: 100}  #<"),
        "stems[0].clean",
        "9000",
    ),
    Case(
        "separation_model",
        HEAD.replace("separation_model: debug", "separation_model: nodemucs  #<")
        + "stems:\n"
        + _stem("separate: drums"),
        "separation_model",
        "'nodemucs'",
    ),
    Case(
        "source_missing",
        HEAD + "stems:\n" + _stem("separate: guitar  #<", "separation_model: mdx_extra"),
        "stems[0].separate",
        "guitar",
    ),
    Case(
        "transcription_range",
        HEAD + "stems:\n" + _stem("transcription: {min_frequency: 900, max_frequency: 100}  #<"),
        "stems[0].transcription",
        "900",
    ),
]


def _write_audio(folder: Path) -> None:
    rng = np.random.default_rng(0)
    sf.write(folder / "theme.wav", 0.3 * np.sin(np.arange(32000 * 3) * 2 * np.pi * 440 / 32000), 32000)
    sf.write(folder / "silent.wav", np.zeros(32000 * 3, np.float32), 32000)
    sf.write(folder / "blip.wav", 0.3 * rng.standard_normal(800).astype(np.float32), 32000)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return code, out, err


def _marked_line(text: str) -> int:
    (line,) = [n for n, row in enumerate(text.split("\n"), 1) if row.endswith("#<")]
    return line


@pytest.fixture
def no_render(monkeypatch: pytest.MonkeyPatch) -> None:
    """A render that gets past the checks fails the test: no model may load for a bad file."""

    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("the render started although the arrangement is invalid")

    monkeypatch.setattr(render_module, "render_arrangement", refuse)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validate_dry_run_and_render_reject_alike(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_render: None
) -> None:
    _write_audio(tmp_path)
    path = tmp_path / "song.yaml"
    path.write_text(case.text)
    outputs = {
        command[0] + (" --dry-run" if "--dry-run" in command else ""): _run(capsys, *command)
        for command in (
            ["validate", str(path)],
            ["render", str(path), "--dry-run", "-o", str(tmp_path / "out")],
            ["render", str(path), "-o", str(tmp_path / "out")],
        )
    }
    assert {code for code, _, _ in outputs.values()} == {2}, outputs
    (err,) = {err for _, _, err in outputs.values()}  # the same problems, word for word
    matches = [LINE_RE.match(row) for row in err.splitlines()]
    assert all(matches), err
    hits = [m for m in matches if m and m["field"] == case.field]
    assert hits, f"no problem for {case.field!r} in:\n{err}"
    assert hits[0]["file"] == str(path) and int(hits[0]["line"]) == _marked_line(case.text), err
    assert case.fragment in hits[0]["message"], err
    assert not (tmp_path / "out").exists()  # nothing written for a file that cannot render


def test_prompts_keep_line_breaks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "song.yaml"
    path.write_text(HEAD + "stems:\n  - name: keys\n    prompt: |\n      warm rhodes\n      with chorus\n")
    assert _run(capsys, "validate", str(path))[0] == 0


def test_flac_float_is_the_only_impossible_pair_and_mp3_takes_any_depth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert set(FORMATS) == set(AudioFormat.__args__)  # the schema and the exporter know the same formats
    path = tmp_path / "song.yaml"
    path.write_text(HEAD + STEMS + "master:\n  formats: [wav, mp3]\n  bit_depth: float\n  mp3_bitrate: V2\n")
    assert _run(capsys, "validate", str(path))[0] == 0


ALBUM = "title: Test album\ngap: 0\ncrossfade: {crossfade}\ntracks: [one.yaml, two.yaml]\n"


def _album(folder: Path, crossfade: float, two: str = HEAD + STEMS) -> Path:
    (folder / "one.yaml").write_text(
        HEAD.replace("duration: 10", "duration: 30").replace("Test", "First") + STEMS
    )
    (folder / "two.yaml").write_text(two)
    album = folder / "album.yaml"
    album.write_text(ALBUM.format(crossfade=crossfade))
    return album


def test_validate_takes_albums_and_checks_every_track(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    album = _album(tmp_path, 4)
    assert _run(capsys, "validate", str(album)) == (0, f"{album}: ok (album of 2 tracks)\n", "")
    bad = HEAD.replace("title: Test song", 'title: "x\\ty"') + STEMS
    _album(tmp_path, 4, two=bad)
    code, out, err = _run(capsys, "validate", str(album))
    assert code == 2 and out == ""
    assert err.startswith(f"{tmp_path / 'two.yaml'}:1:8: title: contains the control character '\\t'"), err


def test_album_crossfade_longer_than_a_track(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_render: None
) -> None:
    album = _album(tmp_path, 6)  # track two lasts 10 s: it would fade in and out over 12 s
    for argv in (["validate", str(album)], ["album", "render", str(album), "--dry-run"]):
        code, _, err = _run(capsys, *argv)
        assert code == 2 and err.startswith(f"{album}:3:12: crossfade: crossfade 6 s is longer than half"), (
            err
        )


def test_album_schema_takes_plain_track_file_names(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = album_json_schema()
    jsonschema.validate(
        {"title": "A", "tracks": ["intro.yaml", {"path": "song.yaml", "slug": "song"}]}, schema
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"title": "A", "tracks": [3]}, schema)
    committed = json.loads((paths.REPO / "arrangements" / "album.schema.json").read_text())
    assert committed == schema


@pytest.mark.parametrize("seed", ["-1", "4294967296", "99999999999"])
def test_seed_option_takes_the_schemas_range(
    seed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "song.yaml"
    path.write_text(HEAD + STEMS)
    with pytest.raises(SystemExit) as stopped:  # argparse's usage error
        main(["render", str(path), "--seed", seed, "--dry-run"])
    assert stopped.value.code == 2
    assert (
        f"argument --seed: {seed} is out of range; use a whole number from 0 to 4294967295"
        in capsys.readouterr().err
    )
    assert main(["render", str(path), "--seed", "4294967295", "--dry-run", "--quiet"]) == 0
