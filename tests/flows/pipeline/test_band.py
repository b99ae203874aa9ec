"""Band mode: one take of the whole band, split once by Demucs into the stems that say ``from: band``.

Schema cases mark the line their problem must be reported on with `#<` (as tests/flows/cli/test_validate_cli.py does).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flows.cli import main
from flows.pipeline import band, generation
from flows.schema import SchemaError, parse_arrangement
from tests.conftest import REPO
from tests.support import paths

BAND_DEMO = REPO / "arrangements" / "band-demo.yaml"
HEAD = "title: Band song\nbpm: 120\nkey: A minor\nduration: 6\nmodel: debug\nseparation_model: debug\n"
GOOD = HEAD + (
    "band: {}\n"
    "stems:\n"
    "  - {name: drums, from: band, source: drums, prompt: tight funk drums}\n"
    "  - {name: bass, from: band, source: bass}\n"
    "  - {name: lead, prompt: synth lead, model: debug-melody, follow: band}\n"
)
LINE_RE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<field>\S+): (?P<message>.+)$")


def _parse(text: str, tmp_path: Path) -> object:
    return parse_arrangement(text, tmp_path / "song.yaml")


# --- schema -----------------------------------------------------------------------------------------------


def test_band_stems_parse_and_compose_the_band_prompt(tmp_path: Path) -> None:
    song = parse_arrangement(GOOD, tmp_path / "song.yaml")
    drums, bass, lead = song.stems
    assert (drums.from_band, drums.source, bass.from_band, bass.prompt, lead.from_band) == (
        True,
        "drums",
        True,
        None,
        False,
    )
    assert generation.band_prompt(song) == "full band: tight funk drums, bass"
    assert song.stem_model(drums) == "debug" and band.band_separation_model(song) == "debug"
    # `from` round-trips through the manifest's dump, by alias and by Python name
    dumped = song.model_dump(mode="json")
    assert dumped["stems"][0]["from"] == "band"
    assert type(song).model_validate(song.model_dump(by_alias=False)).stems[0].from_band


def test_explicit_band_prompt_and_models(tmp_path: Path) -> None:
    text = GOOD.replace("band: {}", "band: {prompt: funk trio, model: debug-stereo, separation_model: debug}")
    text = text.replace(", prompt: tight funk drums", "")
    song = parse_arrangement(text, tmp_path / "song.yaml")
    assert generation.band_prompt(song) == "funk trio"
    assert (
        song.stem_model(song.stems[0]) == "debug-stereo"
        and generation.band_take(song).model == "debug-stereo"
    )


def test_guitar_or_piano_splits_the_take_with_the_six_source_model(tmp_path: Path) -> None:
    song = parse_arrangement(GOOD.replace("source: bass", "source: guitar"), tmp_path / "song.yaml")
    assert band.band_sources(song) == ("drums", "guitar")
    assert band.band_separation_model(song) == "debug_6s"


@dataclass(frozen=True)
class Bad:
    id: str
    text: str
    field: str
    fragment: str


def _band_stems(*lines: str, band_block: str = "band: {}\n") -> str:
    body = "".join(f"    {line}\n" for line in lines)
    return (
        HEAD
        + band_block
        + "stems:\n  - name: drums\n    from: band\n    source: drums\n"
        + body
        + ("  - name: lead\n    prompt: synth lead\n")
    )


CASES = [
    Bad(
        "no_band_block",
        HEAD + "stems:\n  - {name: drums, from: band, source: drums}  #<\n",
        "stems[0].from",
        "no 'band:' block",
    ),
    Bad(
        "source_missing",
        HEAD + "band: {}\nstems:\n  - name: drums  #<\n    from: band\n",
        "stems[0].source",
        "required with 'from: band'",
    ),
    Bad(
        "from_not_band",
        HEAD + "stems:\n  - name: drums\n    from: bnd  #<\n    prompt: x\n",
        "stems[0].from",
        "'band'",
    ),
    Bad("separate", _band_stems("separate: drums  #<"), "stems[0].separate", "does not apply"),
    Bad("model", _band_stems("model: debug  #<"), "stems[0].model", "band: has model"),
    Bad("follow", _band_stems("follow: lead  #<"), "stems[0].follow", "does not apply"),
    Bad("continuation", _band_stems("melody_stems: []  #<"), "stems[0].melody_stems", "does not apply"),
    Bad(
        "separation_model",
        _band_stems("separation_model: debug  #<"),
        "stems[0].separation_model",
        "does not apply",
    ),
    Bad(
        "source_without_from",
        HEAD + "stems:\n  - name: lead\n    prompt: x\n    source: bass  #<\n",
        "stems[0].source",
        "add from: band",
    ),
    Bad(
        "band_without_band_stems",
        HEAD + "band: {}  #<\nstems:\n  - {name: lead, prompt: x}\n",
        "band",
        "no stem says 'from: band'",
    ),
    Bad(
        "stem_named_band",
        _band_stems(band_block="band: {}\n").replace("name: lead", "name: band  #<"),
        "stems[1].name",
        "names the band take",
    ),
    Bad(
        "prompt_unused",
        _band_stems("prompt: fat drums  #<", band_block="band: {prompt: a trio}\n"),
        "stems[0].prompt",
        "band.prompt is set",
    ),
    Bad(
        "follow_band_stem",
        _band_stems().replace("prompt: synth lead\n", "prompt: synth lead\n    follow: drums  #<\n"),
        "stems[1].follow",
        "follow: band",
    ),
    Bad(
        "follow_band_without_block",
        HEAD + "stems:\n  - {name: lead, prompt: x, follow: band}  #<\n",
        "stems[0].follow",
        "with a 'band:' block",
    ),
    Bad(
        "prompt_missing",
        HEAD + "stems:\n  - name: lead  #<\n    gain_db: 1\n",
        "stems[0].prompt",
        "'prompt' is missing",
    ),
    Bad(
        "split_model_lacks_source",
        _band_stems(band_block="band: {separation_model: htdemucs_ft}\n").replace(
            "source: drums", "source: guitar  #<"
        ),
        "stems[0].source",
        "has no 'guitar' source",
    ),
    Bad(
        "unknown_band_model",
        _band_stems(band_block="band:\n  model: nonsense/model  #<\n"),
        "band.model",
        "nonsense/model",
    ),
    Bad(
        "python_name",
        _band_stems().replace("from: band", "from_: band  #<"),
        "stems[0].from_",
        "did you mean 'from'",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_band_mistakes_are_reported_at_their_line(
    case: Bad, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "song.yaml"
    path.write_text(case.text)
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    expected = next(i for i, line in enumerate(case.text.splitlines(), 1) if "#<" in line)
    found = [m for m in map(LINE_RE.match, lines) if m and m["field"] == case.field]
    assert found, lines
    assert (found[0]["file"], int(found[0]["line"])) == (str(path), expected), lines
    assert case.fragment in found[0]["message"], lines


def test_every_forbidden_field_is_reported_at_its_own_line(tmp_path: Path) -> None:
    text = _band_stems("model: debug", "separate: drums")
    with pytest.raises(SchemaError) as err:
        _parse(text, tmp_path)
    where = {
        field: text.splitlines().index(f"    {field}: {value}") + 1
        for field, value in (("model", "debug"), ("separate", "drums"))
    }
    lines = {p.field: p.line for p in err.value.problems}
    assert lines == {"stems[0].model": where["model"], "stems[0].separate": where["separate"]}


def test_json_schema_tells_editors_the_two_kinds_of_stem() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = json.loads((REPO / "arrangements" / "arrangement.schema.json").read_text())
    song = yaml.safe_load(BAND_DEMO.read_text())
    jsonschema.validate(song, schema)
    drums = song["stems"][0]
    for bad in (
        {**drums, "separate": "drums"},
        {k: v for k, v in drums.items() if k != "source"},
        {"name": "lead"},
        {"name": "lead", "prompt": "x", "source": "bass"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**song, "stems": [bad]}, schema)


# --- plan ---------------------------------------------------------------------------------------------------


def test_generation_levels_put_the_take_before_its_followers(tmp_path: Path) -> None:
    song = parse_arrangement(GOOD, tmp_path / "song.yaml")
    assert generation.generation_levels(song, list(song.stems)) == [
        {"debug": ["band"]},
        {"debug-melody": ["lead"]},
    ]
    (drums,) = [s for s in song.stems if s.name == "drums"]
    assert generation.generation_levels(song, [drums]) == [{"debug": ["band"]}]
    lead_only = [s for s in song.stems if s.name == "lead"]
    assert generation.generation_levels(song, generation.selected_stems(song, ["lead"])) == [
        {"debug": ["band"]},
        {"debug-melody": ["lead"]},
    ]
    assert generation.generation_levels(song, lead_only)[0] == {"debug": ["band"]}


def test_only_a_band_stem_redoes_the_take_and_all_it_feeds(tmp_path: Path) -> None:
    song = parse_arrangement(GOOD, tmp_path / "song.yaml")
    assert generation.redone_stems(song, ["bass"]) == ["band", "drums", "bass", "lead"]
    assert generation.redone_stems(song, ["lead"]) == ["lead"]


def test_dry_run_lists_the_band_take_and_its_stems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "song.yaml"
    path.write_text(GOOD)
    assert main(["render", str(path), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["band"] == {
        "prompt": "full band: tight funk drums, bass",
        "model": "debug",
        "separation_model": "debug",
        "stems": {"drums": "drums", "bass": "bass"},
    }
    assert [b["stems"] for b in plan["batches"]] == [["band"], ["lead"]]
    assert {n: (s["from"], s["source"]) for n, s in plan["stems"].items()} == {
        "drums": ("band", "drums"),
        "bass": ("band", "bass"),
        "lead": (None, None),
    }
    assert main(["render", str(path), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "stem drums: from the band take (source drums)" in text and "split by debug into drums" in text


def test_separate_sources_is_one_run_equal_to_separating_each(tmp_path: Path) -> None:
    from stems.audio import Audio
    from stems.separation.separator import get_separator

    rng = np.random.default_rng(3)
    audio = Audio((0.1 * rng.standard_normal((2, 44100))).astype(np.float32), 44100)
    separator = get_separator("debug")
    split = separator.separate_sources(audio, ("drums", "bass"))
    assert list(split) == ["drums", "bass"]
    for source, kept in split.items():
        assert kept.samples.shape == audio.samples.shape and kept.sample_rate == audio.sample_rate
        np.testing.assert_allclose(kept.samples, separator.separate(audio, source).kept.samples, atol=1e-6)
    assert not np.allclose(split["drums"].samples, split["bass"].samples)


# --- render -------------------------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def band_render(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """arrangements/band-demo.yaml (two band stems, one generated stem following the take) rendered once."""
    src = tmp_path_factory.mktemp("band-src") / "band-demo.yaml"
    src.write_text(BAND_DEMO.read_text())
    out = tmp_path_factory.mktemp("band-out")
    assert main(["render", str(src), "-o", str(out), "--quiet"]) == 0
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return src, folder, json.loads((folder / "manifest.json").read_text())


@pytest.mark.slow
def test_band_render_layout_and_lengths(band_render: tuple[Path, Path, dict]) -> None:
    _, folder, manifest = band_render
    for rel in (
        "raw/band.wav",
        "raw/drums.wav",
        "raw/bass.wav",
        "raw/lead.wav",
        "stems/drums.wav",
        "stems/bass.wav",
        "stems/lead.wav",
        "midi/drums.mid",
        "midi/bass.mid",
        "mix.wav",
    ):
        assert (folder / rel).is_file(), rel
    duration = manifest["arrangement"]["duration"]
    for name in ("drums", "bass", "lead"):
        info = sf.info(str(folder / "stems" / f"{name}.wav"))
        assert info.frames == round(duration * info.samplerate), name
    drums, _ = sf.read(str(folder / "raw" / "drums.wav"))
    bass, _ = sf.read(str(folder / "raw" / "bass.wav"))
    take, _ = sf.read(str(folder / "raw" / "band.wav"))
    assert drums.shape == bass.shape and len(drums) == len(take)  # one clock: sources of one take
    assert not np.allclose(drums, bass)


@pytest.mark.slow
def test_band_take_generated_once_and_recorded(band_render: tuple[Path, Path, dict]) -> None:
    _, folder, manifest = band_render
    stages = sorted(p.name for p in (folder / ".musicmaker" / "stages").glob("generate.*.json"))
    assert stages == ["generate.band.json", "generate.lead.json"]  # no generation of drums or bass
    assert manifest["band"]["stems"] == {"drums": "drums", "bass": "bass"}
    assert manifest["band"]["take"] == "raw/band.wav"
    assert manifest["band"]["prompt"] == "full band: tight funk drums, warm electric bass"
    assert (
        manifest["band"]["generation"]["batch"] == ["band"] and not manifest["band"]["generation"]["reused"]
    )
    assert manifest["band"]["separation"]["sources"] == ["drums", "bass"]
    for name in ("drums", "bass"):
        assert manifest["stems"][name]["generation"]["from"] == "band"
        assert manifest["stems"][name]["refine"]["separation"]["source"] == name
    assert manifest["stems"]["lead"]["generation"]["melody"] == "follow:band"
    assert manifest["arrangement"]["stems"][0]["from"] == "band"


@pytest.mark.slow
def test_band_stem_gain_edit_reuses_the_take_and_its_split(band_render: tuple[Path, Path, dict]) -> None:
    src, folder, _ = band_render
    take, split = _digest(folder / "raw" / "band.wav"), _digest(folder / "raw" / "bass.wav")
    src.write_text(
        src.read_text().replace(
            "source: bass, prompt: warm electric bass, midi: bass}",
            "source: bass, prompt: warm electric bass, midi: bass, gain_db: -6}",
        )
    )
    assert main(["render", str(src), "-o", str(folder.parent), "--force", "--quiet"]) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["arrangement"]["stems"][1]["gain_db"] == -6
    assert manifest["reused"]["generate"] == ["band", "lead"]
    assert (
        set(manifest["reused"]["separate"]) == {"drums", "bass"} and manifest["band"]["separation"]["reused"]
    )
    assert not manifest["reused"]["mix_and_master"]
    assert (_digest(folder / "raw" / "band.wav"), _digest(folder / "raw" / "bass.wav")) == (take, split)


def test_dumped_arrangements_pass_their_json_schema() -> None:
    """Prefect checks a deployment's parameters (the arrangement dumped with every field, nulls included)
    against the flow's schema: the stem kinds' if/then/else must take null for absent."""
    jsonschema = pytest.importorskip("jsonschema")
    from flows.schema import arrangement_json_schema, load_arrangement

    for name in ("demo.yaml", "band-demo.yaml"):
        arrangement = load_arrangement(paths.REPO / "arrangements" / name)
        jsonschema.validate(
            arrangement.model_dump(mode="json", exclude={"source"}), arrangement_json_schema()
        )
