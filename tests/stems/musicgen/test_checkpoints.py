"""Local checkpoint folders (a fine-tuned MusicGen, a mirror of the hub) through the real loading path.

The debug models are saved with half-precision weights, as the published stereo checkpoints store theirs: the
loader must still read every weight as float32 (only the decoder is halved, on CUDA), so fp32 chroma and
continuation audio go into the text/audio projections and EnCodec without a dtype error.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from stems.audio import Audio
from stems.errors import UserInputError
from stems.musicgen.generator import Generator
from stems.musicgen.models import (
    DIMS,
    GIB,
    architecture,
    decoder_params,
    describe_model,
    is_offline_model,
    model_info,
    vram_gb,
    weights_cached,
    weights_gb,
)
from stems.musicgen.types import SamplingParams, StemRequest

SR = 32_000
FAST = SamplingParams(extend_stride=2.5)
NAMES = ["debug-melody", "debug-stereo"]


def _sine(freq: float, seconds: float, channels: int = 1) -> Audio:
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * freq * t) * np.minimum(1.0, t / 0.05)
    return Audio(np.repeat(x[None], channels, axis=0).astype(np.float32), SR)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    """Each debug model saved in fp16 by ``save_pretrained`` (with its tokenizer), and the fp32 original."""
    import torch

    from stems.musicgen.debug_models import build_debug

    folders = {}
    for name in NAMES:
        model, tokenizer = build_debug(name)
        folder = tmp_path_factory.mktemp(name)
        model.to(torch.float16).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders[name] = (folder, build_debug(name)[0])
    return folders


@pytest.mark.parametrize("name", NAMES)
def test_model_info_reads_the_folder_config(name: str, saved: dict[str, tuple[Path, Any]]) -> None:
    folder, original = saved[name]
    config = json.loads((folder / "config.json").read_text())
    assert config["dtype"] == "float16"
    info = model_info(str(folder))
    stereo, melody = name == "debug-stereo", name == "debug-melody"
    assert (info.name, info.channels, info.takes_melody, info.sample_rate) == (
        str(folder),
        1 + stereo,
        melody,
        SR,
    )
    assert info.kind == ("musicgen-melody" if melody else "musicgen")
    assert info.params_m == round(sum(p.numel() for p in original.parameters()) / 1e6, 1)
    assert weights_cached(str(folder)) and is_offline_model(str(folder))
    line = describe_model(str(folder))
    assert line.startswith(
        f"local checkpoint {folder}: {info.kind}, {'stereo' if stereo else 'mono'}, 32000 Hz"
    )
    assert "stored as float16" in line


@pytest.mark.parametrize("name", NAMES)
def test_memory_figures_use_the_folder_geometry(
    name: str, saved: dict[str, tuple[Path, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import stems.musicgen.load as load

    folder, original = saved[name]
    arch = architecture(str(folder))
    assert arch is not None and arch.channels == original.config.decoder.audio_channels
    assert arch.decoder_m * 1e6 == sum(p.numel() for p in original.decoder.parameters())
    saving = weights_gb(str(folder), half=False) - weights_gb(str(folder), half=True)
    assert saving == pytest.approx(arch.decoder_m * 2e6 / GIB) and saving > 0
    assert vram_gb(str(folder)) == 0.5  # a tiny model: the CUDA context dominates
    load._check_fits(str(folder), "cpu")
    monkeypatch.setattr(load, "free_memory_bytes", lambda device: 0)
    with pytest.raises(UserInputError, match=f"model '{folder}' needs about"):
        load._check_fits(str(folder), "cpu")


def test_decoder_formula_matches_every_published_checkpoint() -> None:
    from stems.musicgen.models import CHECKPOINTS

    for name, (size, channels, melody, _params, decoder_m) in CHECKPOINTS.items():
        count = decoder_params(DIMS[size], 4 * channels, 2048, melody)
        assert round(count / 1e6, 1) == decoder_m, name


def test_a_full_size_folder_has_the_hub_memory_figures(tmp_path: Path) -> None:
    """A mirror of facebook/musicgen-stereo-large (config + a header-only weight file) costs what the hub one does."""
    from stems.musicgen.debug_models import build_config

    build_config(False, 2, False, "large").save_pretrained(tmp_path)
    header = json.dumps({"w": {"dtype": "F16", "shape": [3_457_000_000], "data_offsets": [0, 0]}}).encode()
    (tmp_path / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    (tmp_path / "tokenizer_config.json").write_text("{}")
    hub = "facebook/musicgen-stereo-large"
    assert model_info(str(tmp_path)).params_m == model_info(hub).params_m
    assert (vram_gb(str(tmp_path)), vram_gb(str(tmp_path), 8)) == (vram_gb(hub), vram_gb(hub, 8))
    assert weights_gb(str(tmp_path), half=True) == pytest.approx(weights_gb(hub, half=True), abs=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_fp16_checkpoint_loads_in_float32(name: str, saved: dict[str, tuple[Path, Any]]) -> None:
    import torch

    from stems.musicgen.load import load_model

    folder, original = saved[name]
    loaded = load_model(str(folder), "cpu")
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}
    assert {b.dtype for b in loaded.model.buffers() if b.is_floating_point()} == {torch.float32}
    theirs = dict(original.named_parameters())
    for key, weight in loaded.model.named_parameters():  # the stored fp16 values, widened
        torch.testing.assert_close(weight, theirs[key].half().float(), rtol=0, atol=0, msg=key)
    assert loaded.melody == (name == "debug-melody") and loaded.half is None


def _requests(melody: bool) -> list[StemRequest]:
    rng = np.random.default_rng(0)
    continuation = Audio((0.2 * rng.standard_normal((2, 44_100))).astype(np.float32), 44_100)
    requests = [StemRequest("cont", "bass", 2.0, 2, continuation=continuation)]
    if melody:
        requests += [
            StemRequest("mel", "piano", 2.0, 1, melody=_sine(440.0, 2.0)),
            StemRequest("both", "pad", 2.0, 3, melody=_sine(330.0, 1.5), continuation=continuation),
        ]
    return requests


@pytest.mark.parametrize("name", NAMES)
def test_folder_generates_with_melody_and_continuation(name: str, saved: dict[str, tuple[Path, Any]]) -> None:
    folder, _ = saved[name]
    gen = Generator(str(folder), "cpu", max_window=4.0)
    assert (gen.sample_rate, gen.channels, gen.takes_melody) == (
        SR,
        1 + (name == "debug-stereo"),
        name == "debug-melody",
    )
    requests = _requests(gen.takes_melody)
    stems = gen.generate(requests, FAST)
    assert [s.name for s in stems] == [r.name for r in requests]
    for stem in stems:
        assert stem.audio.samples.shape == (gen.channels, 2 * SR) and stem.audio.samples.dtype == np.float32
        assert np.isfinite(stem.audio.samples).all() and stem.audio.samples.std() > 1e-3


def test_folder_half_precision_decoder_path(
    saved: dict[str, tuple[Path, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CUDA's path on the CPU (bf16 stands in for fp16): only the decoder is halved, the rest stays fp32."""
    import torch

    import stems.musicgen.load as load

    monkeypatch.setattr(load, "half_dtype", lambda device: torch.bfloat16)
    gen = Generator(str(saved["debug-melody"][0]), "cpu", max_window=4.0)
    model = gen._loaded.model
    assert {p.dtype for p in model.decoder.parameters()} == {torch.bfloat16}
    rest = [p for n, p in model.named_parameters() if not n.startswith("decoder.")]
    assert rest and {p.dtype for p in rest} == {torch.float32}
    for stem in gen.generate(_requests(melody=True), FAST):
        assert np.isfinite(stem.audio.samples).all() and stem.audio.samples.std() > 1e-3


def _folder(root: Path, config: object | None, weights: bool = True, tokenizer: bool = True) -> Path:
    root.mkdir()
    if config is not None:
        (root / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    if weights:
        (root / "model.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    if tokenizer:
        (root / "tokenizer_config.json").write_text("{}")
    return root


@pytest.mark.parametrize(
    "config, weights, tokenizer, fragment",
    [
        (None, True, True, "has no config.json"),
        ({"model_type": "bert"}, True, True, "type 'bert' (config.json `model_type`), not MusicGen"),
        ({"model_type": "t5"}, True, True, "allowed types are 'musicgen' or 'musicgen_melody'"),
        ("{not json", True, True, "is not valid JSON"),
        ({"model_type": "musicgen"}, False, True, "has no weights"),
        ({"model_type": "musicgen_melody"}, True, False, "has no tokenizer"),
        ({"model_type": "musicgen", "decoder": {"hidden_size": "wide"}}, True, True, "cannot be read"),
    ],
)
def test_bad_folders_are_clear_user_errors(
    tmp_path: Path, config: object, weights: bool, tokenizer: bool, fragment: str
) -> None:
    folder = _folder(tmp_path / "ckpt", config, weights, tokenizer)
    with pytest.raises(UserInputError, match=re.escape(fragment)) as err:
        model_info(str(folder))
    assert str(folder) in str(err.value)


def test_missing_folder_and_unknown_names() -> None:
    with pytest.raises(UserInputError, match="model folder './no/such/ckpt' does not exist"):
        model_info("./no/such/ckpt")
    with pytest.raises(
        UserInputError, match="unknown model 'someone/musicgen-x'.*folder of a MusicGen checkpoint"
    ):
        model_info("someone/musicgen-x")


HEAD = "title: Folder song\nbpm: 120\nkey: A minor\nduration: 10\nseparation_model: debug\n"


def test_arrangement_with_a_folder_model_validates(
    saved: dict[str, tuple[Path, Any]], tmp_path: Path
) -> None:
    from flows.schema import parse_arrangement

    melody_folder, stereo_folder = saved["debug-melody"][0], saved["debug-stereo"][0]
    sf.write(tmp_path / "theme.wav", _sine(440.0, 2.0).samples[0], SR)
    text = (
        HEAD + f"model: {melody_folder}\nmelody: theme.wav\nstems:\n  - name: keys\n    prompt: rhodes\n"
        f"  - name: pad\n    prompt: warm pad\n    model: {stereo_folder}\n"
    )
    arrangement = parse_arrangement(text, tmp_path / "song.yaml")
    assert [s.model for s in arrangement.stems] == [None, str(stereo_folder)]
    bad = text.replace("  - name: pad\n", "  - name: pad\n    follow: keys\n")
    with pytest.raises(UserInputError, match="takes no melody"):
        parse_arrangement(bad, tmp_path / "song.yaml")
    empty = _folder(tmp_path / "empty", None)
    with pytest.raises(UserInputError, match="has no config.json"):
        parse_arrangement(text.replace(str(melody_folder), str(empty)), tmp_path / "song.yaml")


def test_validate_and_dry_run_say_what_a_folder_next_to_the_yaml_holds(
    saved: dict[str, tuple[Path, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from flows.cli import main

    shutil.copytree(saved["debug-stereo"][0], tmp_path / "models" / "my-musicgen")
    song = tmp_path / "song.yaml"
    song.write_text(HEAD + "stems:\n  - name: pad\n    prompt: warm pad\n    model: models/my-musicgen\n")
    folder = (tmp_path / "models" / "my-musicgen").resolve()
    found = f"local checkpoint {folder}: musicgen, stereo, 32000 Hz"
    assert main(["validate", str(song)]) == 0  # relative to the YAML file, not to the current folder
    out = capsys.readouterr().out
    assert out.startswith(f"{song}: ok\n  model {found}") and "stored as float16" in out, out
    assert main(["render", str(song), "--dry-run"]) == 0
    assert found in capsys.readouterr().out


def test_cuda_allocator_gets_expandable_segments_unless_the_user_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from stems.musicgen.load import CUDA_ALLOC_CONF, configure_cuda_allocator

    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setenv("PYTORCH_CUDA_ALLOC_CONF", "")
    monkeypatch.delenv("PYTORCH_CUDA_ALLOC_CONF")  # restored (absent) after the test
    assert not configure_cuda_allocator("cpu") and "PYTORCH_CUDA_ALLOC_CONF" not in os.environ
    assert configure_cuda_allocator("cuda:0") and os.environ["PYTORCH_CUDA_ALLOC_CONF"] == CUDA_ALLOC_CONF
    monkeypatch.setenv("PYTORCH_CUDA_ALLOC_CONF", "max_split_size_mb:128")
    assert (
        not configure_cuda_allocator("cuda")
        and os.environ["PYTORCH_CUDA_ALLOC_CONF"] == "max_split_size_mb:128"
    )


def test_a_new_fine_tune_in_the_same_folder_is_a_new_cache_key(
    saved: dict[str, tuple[Path, Any]], tmp_path: Path
) -> None:
    import shutil
    import time

    from stems.musicgen.models import checkpoint_fingerprint

    folder = tmp_path / "tuned"
    shutil.copytree(saved["debug-stereo"][0], folder)
    before = checkpoint_fingerprint(str(folder))
    time.sleep(0.01)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes())  # saved again: same size, new change time
    assert before is not None and checkpoint_fingerprint(str(folder)) != before
    assert (
        checkpoint_fingerprint("facebook/musicgen-small") is None and checkpoint_fingerprint("debug") is None
    )


def test_a_model_written_as_a_path_starts_in_the_yaml_folder(tmp_path: Path) -> None:
    from flows.schema import parse_arrangement

    song = tmp_path / "songs" / "song.yaml"
    song.parent.mkdir()
    with pytest.raises(UserInputError, match=f"model folder '{tmp_path / 'songs' / 'models' / 'nope'}'"):
        parse_arrangement(HEAD + "model: ./models/nope\nstems:\n  - {name: a, prompt: b}\n", song)
    (tmp_path / "songs" / "facebook" / "musicgen-small").mkdir(parents=True)  # a hub name stays the hub's
    found = parse_arrangement(
        HEAD + "model: facebook/musicgen-small\nstems:\n  - {name: a, prompt: b}\n", song
    )
    assert found.model == "facebook/musicgen-small"
