"""Demucs separation through the tiny offline debug models (same loader and apply path as real ones)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stems.audio import Audio
from stems.errors import AudioInputError, ModelUnavailableError, UserInputError
from stems.separation import models as demucs_models
from stems.separation.debug_model import (
    build_debug_model,
    debug_package,
    ensure_debug_model,
    load_debug_model,
)
from stems.separation.separator import (
    SOURCES,
    Separated,
    Separator,
    check_separation_model,
    get_separator,
    model_for,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demucs")


@pytest.fixture(scope="module")
def separator(model_dir: Path) -> Separator:
    return Separator("debug", model_dir=model_dir)


def noise(rate: int, channels: int, seconds: float = 1.5, extra: int = 7, seed: int = 0) -> Audio:
    """Band-limited-ish test mix: noise plus a bass sine, odd length on purpose."""
    n = int(seconds * rate) + extra
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    x = 0.1 * rng.standard_normal((channels, n)) + 0.3 * np.sin(2 * np.pi * 55 * t)
    return Audio(x.astype(np.float32), rate)


def test_debug_model_loads_through_demucs_get_model(model_dir: Path) -> None:
    from demucs.htdemucs import HTDemucs
    from demucs.pretrained import get_model

    folder = ensure_debug_model("debug", model_dir)
    files = list(folder.glob("debug-*.th"))
    assert len(files) == 1 and len(files[0].stem.split("-")[1]) == 8  # demucs' checksum naming
    model = get_model("debug", repo=folder)
    assert isinstance(model, HTDemucs)
    assert list(model.sources) == ["drums", "bass", "other", "vocals"]
    assert model.samplerate == 44100 and model.audio_channels == 2
    # Seeded: the loaded weights are exactly the freshly built ones.
    fresh = build_debug_model("debug").state_dict()
    for key, value in model.state_dict().items():
        assert np.array_equal(value.numpy(), fresh[key].numpy()), key
    assert set(debug_package("debug")) == {"klass", "args", "kwargs", "state", "training_args"}


def test_debug_6s_has_six_sources(model_dir: Path) -> None:
    model = load_debug_model("debug_6s", model_dir)
    assert tuple(model.sources) == SOURCES


def test_properties(separator: Separator) -> None:
    assert separator.sample_rate == 44100
    assert separator.channels == 2
    assert separator.sources == ("drums", "bass", "other", "vocals")
    assert separator.model_name == "debug"


@pytest.mark.slow
@pytest.mark.parametrize("rate", [32000, 44100])
@pytest.mark.parametrize("channels", [1, 2])
def test_separate_keeps_input_rate_shape_and_length(separator: Separator, rate: int, channels: int) -> None:
    audio = noise(rate, channels)
    before = audio.samples.copy()
    result = separator.separate(audio, "bass")
    assert isinstance(result, Separated)
    for part in (result.kept, result.residual):
        assert part.samples.shape == audio.samples.shape
        assert part.sample_rate == rate
        assert part.samples.dtype == np.float32
        assert np.isfinite(part.samples).all()
    # The residual is exactly what was removed: kept + residual rebuilds the input.
    np.testing.assert_allclose(result.kept.samples + result.residual.samples, audio.samples, atol=1e-6)
    assert np.abs(result.kept.samples).max() > 1e-4  # something was kept (not a silent stub)
    assert np.abs(result.residual.samples).max() > 1e-4
    np.testing.assert_array_equal(audio.samples, before)  # caller's array untouched
    assert result.seconds > 0.0


@pytest.mark.slow
def test_separate_many_matches_separate_and_keeps_order(separator: Separator) -> None:
    a, b, c = noise(32000, 2, seed=1), noise(32000, 2, seed=2), noise(48000, 1, seconds=0.5, seed=3)
    many = separator.separate_many([(a, "drums"), (b, "vocals"), (c, "bass")])
    assert [m.kept.samples.shape for m in many] == [a.samples.shape, b.samples.shape, c.samples.shape]
    assert [m.kept.sample_rate for m in many] == [32000, 32000, 48000]  # any input rate comes back as is
    single = separator.separate(b, "vocals")
    # Same seed for the random shift and one model run per stem: the batch result is the one-by-one result.
    np.testing.assert_array_equal(many[1].kept.samples, single.kept.samples)
    assert not np.allclose(many[0].kept.samples, many[1].kept.samples, atol=1e-3)


@pytest.mark.slow
def test_a_stem_separates_bit_identically_alone_and_beside_any_mates(separator: Separator) -> None:
    """Issue 22 point 4: `--only keys --force` changed stems/bass.wav by 4e-8, because Demucs over a batch
    rounds a row differently from the row alone (before: up to 4e-7 apart)."""
    a, b, c = (noise(32000, 2, seconds=1.0, seed=s) for s in (1, 2, 3))
    alone = separator.separate(b, "bass")
    for batch, row in (([(a, "other"), (b, "bass")], 1), ([(b, "bass"), (c, "drums"), (a, "vocals")], 0)):
        got = separator.separate_many(batch)[row]
        np.testing.assert_array_equal(got.kept.samples, alone.kept.samples)
        np.testing.assert_array_equal(got.residual.samples, alone.residual.samples)


@pytest.mark.slow
def test_separation_does_not_depend_on_the_callers_thread_count(separator: Separator) -> None:
    """Demucs' kernels split work by the thread count and round differently with 1 and 2 threads (up to 2e-7);
    a run pins its own count, so a count another thread or library left behind changes nothing."""
    import torch

    audio = noise(32000, 2, seconds=1.0, seed=4)
    first = separator.separate(audio, "bass").kept.samples
    before = torch.get_num_threads()
    try:
        for count in (1, before + 1):
            torch.set_num_threads(count)
            np.testing.assert_array_equal(separator.separate(audio, "bass").kept.samples, first)
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_seed_makes_shifts_repeatable(separator: Separator) -> None:
    audio = noise(44100, 2, seconds=0.5)
    first = separator.separate(audio, "other").kept.samples
    second = separator.separate(audio, "other").kept.samples
    np.testing.assert_array_equal(first, second)


@pytest.mark.slow
def test_progress_reports_to_completion(separator: Separator) -> None:
    calls: list[tuple[str, int, int]] = []
    separator.separate(noise(44100, 2, seconds=9.0), "drums", progress=lambda *a: calls.append(a))
    assert calls[-1][1] == calls[-1][2] >= 2  # 9 s spans two 7.8 s segments
    done = [c[1] for c in calls]
    assert done == sorted(done) and all(c[0] == "separate drums" for c in calls)


def test_silence_returns_silence(separator: Separator) -> None:
    audio = Audio(np.zeros((2, 32000), np.float32), 32000)
    result = separator.separate(audio, "vocals")
    assert np.abs(result.kept.samples).max() == 0.0 and np.abs(result.residual.samples).max() == 0.0
    assert result.kept.samples.shape == (2, 32000)


@pytest.mark.slow
@pytest.mark.parametrize("length", [0, 1])
def test_tiny_inputs(separator: Separator, length: int) -> None:
    audio = Audio(np.full((1, length), 0.25, np.float32), 32000)
    result = separator.separate(audio, "bass")
    assert result.kept.samples.shape == (1, length) and np.isfinite(result.kept.samples).all()
    np.testing.assert_allclose(result.kept.samples + result.residual.samples, audio.samples, atol=1e-6)


def test_nan_error_names_the_stem(separator: Separator) -> None:
    x = noise(32000, 2).samples.copy()
    x[0, 100] = np.inf
    with pytest.raises(AudioInputError, match="lead-vox"):
        separator.separate(Audio(x, 32000), "vocals", name="lead-vox")
    with pytest.raises(AudioInputError, match="keys"):
        separator.separate_many(
            [(noise(32000, 1), "other"), (Audio(x, 32000), "other")], names=["bass", "keys"]
        )


def test_more_than_two_channels_is_a_user_error(separator: Separator) -> None:
    with pytest.raises(AudioInputError, match="3 channels"):
        separator.separate(Audio(np.zeros((3, 100), np.float32), 44100), "bass")


def test_missing_source_in_model_is_a_user_error(separator: Separator) -> None:
    with pytest.raises(UserInputError, match="guitar"):
        separator.separate(noise(44100, 2), "guitar")


def test_model_for() -> None:
    assert model_for("drums", None) == "htdemucs"
    assert model_for("guitar", None) == "htdemucs_6s"
    assert model_for("piano", "htdemucs") == "htdemucs_6s"
    assert model_for("guitar", "debug") == "debug_6s"
    assert model_for("bass", "debug") == "debug"
    assert model_for("vocals", "htdemucs_ft") == "htdemucs_ft"
    with pytest.raises(UserInputError, match="banjo"):
        model_for("banjo", None)
    with pytest.raises(UserInputError, match="mdx_extra"):
        model_for("guitar", "mdx_extra")
    with pytest.raises(UserInputError, match="htdemucs_9s"):
        model_for("drums", "htdemucs_9s")


@pytest.mark.slow
def test_guitar_goes_through_the_six_source_model(model_dir: Path) -> None:
    six = get_separator(model_for("guitar", "debug"), model_dir=model_dir)
    assert six.model_name == "debug_6s" and "guitar" in six.sources
    audio = noise(32000, 2, seconds=0.5)
    result = six.separate(audio, "guitar")
    np.testing.assert_allclose(result.kept.samples + result.residual.samples, audio.samples, atol=1e-6)


def test_check_separation_model() -> None:
    for name in ("htdemucs", "htdemucs_ft", "htdemucs_6s", "mdx_extra", "debug", "debug_6s"):
        check_separation_model(name)
    with pytest.raises(UserInputError, match="allowed: htdemucs"):
        check_separation_model("spleeter")


def test_get_separator_caches(model_dir: Path) -> None:
    first = get_separator("debug", model_dir=model_dir)
    assert get_separator("debug", model_dir=model_dir) is first
    other = get_separator("debug", model_dir=model_dir, shifts=0)
    assert other is not first
    assert other._model is first._model  # one model load per process, shared between option sets


@pytest.mark.parametrize(
    "options, text",
    [({"overlap": 1.0}, "overlap"), ({"shifts": -1}, "shifts"), ({"segment": 60.0}, "segment")],
)
def test_bad_options(model_dir: Path, options: dict, text: str) -> None:
    with pytest.raises(UserInputError, match=text):
        Separator("debug", model_dir=model_dir, **options)


@pytest.mark.slow
def test_segment_option_is_used(model_dir: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    short = Separator("debug", model_dir=model_dir, segment=2.0, shifts=0)
    short.separate(noise(44100, 2, seconds=4.0), "bass", progress=lambda *a: calls.append(a))
    assert calls[-1][2] == 3  # 4 s in 2 s segments with 25% overlap: offsets 0, 1.5, 3 s


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No network, an empty HuggingFace cache and a torch hub folder under tmp_path."""
    import torch

    monkeypatch.setattr(demucs_models, "network_reachable", lambda timeout=0.0: False)
    monkeypatch.setattr(demucs_models, "hf_cache_has", lambda name: False)
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))
    demucs_models._load_cached.cache_clear()
    yield tmp_path / "checkpoints"
    torch.hub.set_dir(old)
    demucs_models._load_cached.cache_clear()


def test_real_model_without_weights_fails_fast(offline: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as info:
        Separator("htdemucs_6s")
    assert time.perf_counter() - start < 5.0
    message = str(info.value)
    assert "htdemucs_6s" in message and str(offline) in message and "5c90dfd2-34c22ccb.th" in message
    assert "debug" in message  # says how to fix it


@pytest.mark.slow
def test_real_name_loads_from_torch_hub_cache_without_network(offline: Path) -> None:
    """A checkpoint in the torch hub folder is found and loaded through demucs' own repo classes."""
    import torch
    from demucs.apply import BagOfModels

    offline.mkdir(parents=True)
    torch.save(debug_package("debug"), offline / "955717e8-8726e21a.th")  # htdemucs' single checkpoint
    separator = Separator("htdemucs")
    assert isinstance(separator._model, BagOfModels) and separator.sources == (
        "drums",
        "bass",
        "other",
        "vocals",
    )
    result = separator.separate(noise(44100, 2, seconds=0.5), "vocals")
    assert result.kept.samples.shape == (2, 22057)
