"""Melody from a full mix (``melody_stems``): the schema field, the checks, the separation before the chroma,
the generation cache key, and bench/melody_stems.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flows.pipeline import generation
from flows.pipeline.paths import RenderPaths
from flows.schema import Arrangement, SchemaError, parse_arrangement
from stems.audio import Audio
from stems.musicgen.chroma import melody_chroma
from tests.support.bench_scripts import load_bench

SR = 32_000
MELODY_HZ = 659.26  # E5: pitch class 4
BASS_HZ = 65.41  # C2: pitch class 0
HEAD = "title: T\nbpm: 120\nkey: A minor\nduration: 6\nseparation_model: debug\n"
STEM = "stems:\n  - {name: keys, prompt: soft piano, model: debug-melody}\n"


def _sine(freq: float, seconds: float, amplitude: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.05)
    return (amplitude * fade * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _song(tmp_path: Path, body: str, seconds: float = 6.0) -> Path:
    """A folder with ``m.wav``: a quiet E5 melody over a loud C2 bass (the bass wins the full mix's chroma)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    mix = _sine(MELODY_HZ, seconds, 0.05) + _sine(BASS_HZ, seconds, 0.8)
    sf.write(tmp_path / "m.wav", mix, SR, subtype="FLOAT")
    (tmp_path / "song.yaml").write_text(body)
    return tmp_path / "song.yaml"


def _parse(tmp_path: Path, body: str) -> Arrangement:
    path = _song(tmp_path, body)
    return parse_arrangement(path.read_text(), path)


def _problem(tmp_path: Path, body: str) -> str:
    with pytest.raises(SchemaError) as caught:
        _parse(tmp_path, body)
    (problem,) = caught.value.problems
    return str(problem)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("melody_stems: [vocals, other]\n", ["vocals", "other"]),
        ("melody_stems: false\n", []),
        ("melody_stems: []\n", []),
        ("", None),
    ],
)
def test_schema_accepts_melody_stems(tmp_path: Path, line: str, expected: list[str] | None) -> None:
    song = _parse(tmp_path, HEAD + "melody: m.wav\n" + line + STEM)
    assert song.melody_stems == expected


def test_schema_accepts_a_stems_own_melody_stems(tmp_path: Path) -> None:
    stems = (
        "stems:\n  - {name: keys, prompt: piano, model: debug-melody, melody: m.wav, melody_stems: [other]}\n"
    )
    assert _parse(tmp_path, HEAD + stems).stems[0].melody_stems == ["other"]


@pytest.mark.parametrize(
    ("body", "where", "fragment"),
    [
        (HEAD + "melody: m.wav\nmelody_stems: [vocals, voice]\n" + STEM, "7:24: melody_stems[1]", "'voice'"),
        (HEAD + "melody: m.wav\nmelody_stems: vocals\n" + STEM, "7:15: melody_stems", "write a list"),
        (HEAD + "melody: m.wav\nmelody_stems: true\n" + STEM, "7:15: melody_stems", "received true"),
        (
            HEAD + "melody: m.wav\nmelody_stems: [other, other]\n" + STEM,
            "7:15: melody_stems",
            "more than once",
        ),
        (HEAD + "melody_stems: [vocals]\n" + STEM, "6:15: melody_stems", "has a 'melody' file"),
        (
            HEAD
            + "melody: m.wav\n"
            + STEM
            + "  - {name: b, prompt: bass, model: debug-melody, follow: keys, "
            "melody_stems: [other]}\n",
            "9:78: stems[1].melody_stems",
            "follows 'keys'",
        ),
        (
            HEAD
            + "melody: m.wav\nstems:\n  - {name: keys, prompt: p, model: debug-melody, melody_stems: []}\n",
            "8:64: stems[0].melody_stems",
            "no 'melody' file of its own",
        ),
        # checks (flows.pipeline.checks): the separation model lacks a source, or every source is kept
        (
            HEAD.replace("debug", "htdemucs_ft") + "melody: m.wav\nmelody_stems: [vocals, guitar]\n" + STEM,
            "7:15: melody_stems",
            "no 'guitar' source",
        ),
        (
            HEAD + "melody: m.wav\nmelody_stems: [drums, bass, other, vocals]\n" + STEM,
            "7:15: melody_stems",
            "sums back",
        ),
    ],
)
def test_schema_rejects_melody_stems_at_file_line_col(
    tmp_path: Path, body: str, where: str, fragment: str
) -> None:
    message = _problem(tmp_path, body)
    assert message.startswith(f"{tmp_path / 'song.yaml'}:{where}: "), message
    assert fragment in message


def test_guitar_picks_the_six_source_sibling(tmp_path: Path) -> None:
    song = _parse(tmp_path, HEAD + "melody: m.wav\nmelody_stems: [guitar, vocals]\n" + STEM)
    keep = generation.melody_stems(song, song.stems[0])
    assert (keep, generation.melody_separation_model(song, keep)) == (("vocals", "guitar"), "debug_6s")


def _argmax(audio: Audio) -> int:
    return int(np.bincount(melody_chroma(audio).argmax(axis=1), minlength=12).argmax())


def test_injected_separation_makes_the_chroma_follow_the_melody(tmp_path: Path) -> None:
    """Full mix: the loud C2 bass wins the argmax. With an oracle split (drops the bass), E5 wins."""
    calls: list[tuple[tuple[str, ...], str]] = []

    def oracle(audio: Audio, keep: tuple[str, ...], model: str) -> Audio:
        calls.append((keep, model))
        return Audio(audio.samples - _sine(BASS_HZ, 6.0, 0.8)[None], audio.sample_rate)

    paths = RenderPaths(tmp_path / "out", "t")
    full = _parse(tmp_path, HEAD + "melody: m.wav\nmelody_stems: []\n" + STEM)
    split = _parse(tmp_path, HEAD + "melody: m.wav\nmelody_stems: [vocals, other]\n" + STEM)
    full_audio = generation.melody_audio(full, full.stems[0], paths, True, split=oracle)
    split_audio = generation.melody_audio(split, split.stems[0], paths, True, split=oracle)
    assert full_audio is not None and split_audio is not None
    assert calls == [(("other", "vocals"), "debug")]  # [] never separates
    assert (_argmax(full_audio), _argmax(split_audio)) == (0, 4)
    # a preflight (no paths) reads the file but never separates it
    assert (
        generation.melody_audio(split, split.stems[0], None, True, split=oracle) is not None
        and len(calls) == 1
    )


def test_debug_models_use_the_file_as_it_is_by_default_and_followers_never_separate(tmp_path: Path) -> None:
    song = _parse(
        tmp_path,
        HEAD + "melody: m.wav\n" + STEM + "  - {name: b, prompt: b, model: debug-melody, follow: keys}\n",
    )
    assert generation.melody_stems(song, song.stems[0]) == ()
    real = song.model_copy(
        update={"stems": [song.stems[0].model_copy(update={"model": "facebook/musicgen-melody"})]}
    )
    assert generation.melody_stems(real, real.stems[0]) == ("other", "vocals")  # audiocraft's vocals + other
    assert generation.melody_stems(song, song.stems[1]) == ()


@pytest.mark.slow
def test_debug_demucs_path_runs_and_changes_the_chroma(tmp_path: Path) -> None:
    """Separation with the tiny random Demucs: same length and rate, different audio and chroma."""
    song = _parse(tmp_path, HEAD + "melody: m.wav\nmelody_stems: [vocals, other]\n" + STEM)
    paths = RenderPaths(tmp_path / "out", "t")
    raw = generation.melody_audio(song, song.stems[0], None, True)
    separated = generation.melody_audio(song, song.stems[0], paths, True)
    assert raw is not None and separated is not None
    assert (separated.sample_rate, separated.samples.shape) == (raw.sample_rate, raw.samples.shape)
    assert np.isfinite(separated.samples).all() and not np.allclose(separated.samples, raw.samples, atol=1e-3)
    assert not np.array_equal(melody_chroma(separated), melody_chroma(raw))


@pytest.mark.slow
def test_separate_sum_is_the_sum_of_the_kept_sources() -> None:
    from stems.separation.separator import get_separator

    rng = np.random.default_rng(0)
    audio = Audio((0.1 * rng.standard_normal((2, 44100))).astype(np.float32), 44100)
    separator = get_separator("debug")
    vocals, other = (separator.separate(audio, s).kept.samples for s in ("vocals", "other"))
    summed = separator.separate_sum(audio, ("vocals", "other"))
    assert summed.samples.shape == audio.samples.shape
    np.testing.assert_allclose(summed.samples, vocals + other, atol=1e-5)


def test_generation_key_changes_with_melody_stems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "flows.pipeline.cache.code_version", lambda stage: "fixed"
    )  # others may edit the stage's code
    paths = RenderPaths(tmp_path / "out", "t")
    model = "facebook/musicgen-melody"

    def key(line: str) -> str:
        song = _parse(tmp_path, HEAD + "melody: m.wav\n" + line + STEM.replace("debug-melody", model))
        return generation.generation_key(song, song.stems[0], model, paths, True)

    default, both, reordered, none, other = (
        key(line)
        for line in (
            "",
            "melody_stems: [vocals, other]\n",
            "melody_stems: [other, vocals]\n",
            "melody_stems: []\n",
            "melody_stems: [other]\n",
        )
    )
    assert default == both == reordered  # null is vocals + other; the order of a sum is no choice
    assert len({both, none, other}) == 3


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth renders the mixtures")
def test_bench_quick_run_reports_every_condition(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench("melody_stems")
    bench.main(["--quick", "--seeds", "0", "--rhythm-gains-db", "0"])
    result = json.loads(capsys.readouterr().out)
    assert set(result["accuracy"]) == set(bench.CONDITIONS)
    assert {"accuracy_by_rhythm_gain_db", "oracle_beats_full_mix", "part_rms_db", "seconds"} <= set(result)
    accuracy = result["accuracy"]
    assert all(0.0 <= value <= 1.0 for value in accuracy.values())
    assert accuracy["melody_only"] > 0.8 > accuracy["full_mix"]  # seed 0: a square lead over the band


@pytest.mark.parametrize(("line", "expected"), [("", {"htdemucs"}), ("melody_stems: []\n", set())])
def test_a_render_needs_the_weights_of_the_melody_separation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, expected: set[str]
) -> None:
    from flows.pipeline import preflight

    needed: dict[str, set[str]] = {}
    monkeypatch.setattr(
        preflight, "check_weights", lambda gen, sep: needed.update(generation=gen, separation=sep)
    )
    head = HEAD.replace("separation_model: debug\n", "melody: m.wav\n" + line)
    preflight.check(
        _parse(tmp_path, head + "stems:\n  - {name: keys, prompt: piano, model: facebook/musicgen-melody}\n")
    )
    assert needed == {"generation": {"facebook/musicgen-melody"}, "separation": expected}
