"""MusicGen generation through the tiny offline debug models (same code path as the real checkpoints).

Most tests use 4 s windows with a 2.5 s stride so several windows run in well under a second; one slow
test uses the real 30 s window and 18 s stride.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stems.audio import Audio
from stems.errors import AudioInputError, ModelUnavailableError, UserInputError
from stems.musicgen.generator import Generator, get_generator, validate_requests
from stems.musicgen.models import TEXT_MAX_TOKENS, known_models, model_info, weights_cached
from stems.musicgen.plan import SectionSpan, plan_windows, section_for, window_text
from stems.musicgen.sampling import filter_top_k, filter_top_p
from stems.musicgen.types import GeneratedStem, SamplingParams, StemRequest, WindowTokens
from stems.musicgen.windows import encode_continuation, generation_threads, melody_slice
from stems.threads import pinned_threads

SR = 32_000
FAST = SamplingParams(extend_stride=2.5)
WINDOW = 4.0
FRAMES_WINDOW, FRAMES_STRIDE = 200, 125  # 4 s and 2.5 s at 50 Hz


def _sine(freq: float, seconds: float, channels: int = 1, sr: int = SR) -> Audio:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * freq * t) * np.minimum(1.0, t / 0.05)
    return Audio(np.repeat(x[None], channels, axis=0).astype(np.float32), sr)


@pytest.fixture(scope="module")
def mono() -> Generator:
    return Generator("debug", max_window=WINDOW)


@pytest.fixture(scope="module")
def stereo() -> Generator:
    return Generator("debug-stereo", max_window=WINDOW)


@pytest.fixture(scope="module")
def melodic() -> Generator:
    return Generator("debug-melody", max_window=WINDOW)


def _run(
    gen: Generator, reqs: list[StemRequest], params: SamplingParams = FAST
) -> tuple[list[GeneratedStem], list[WindowTokens]]:
    windows: list[WindowTokens] = []
    return gen.generate(reqs, params, on_window=windows.append), windows


def test_facade_exposes_model_geometry(mono: Generator, stereo: Generator, melodic: Generator) -> None:
    assert (mono.sample_rate, mono.channels, mono.frame_rate, mono.max_window) == (32_000, 1, 50, 4.0)
    assert (stereo.channels, stereo.takes_melody, melodic.takes_melody) == (2, False, True)
    assert get_generator("debug") is get_generator("debug")
    assert get_generator("debug").max_window == 30.0


@pytest.mark.parametrize("duration", [0.5, 3.33, 9.87])
def test_exact_length_mono_and_stereo(mono: Generator, stereo: Generator, duration: float) -> None:
    for gen, channels in ((mono, 1), (stereo, 2)):
        (stem,), _ = _run(gen, [StemRequest("s", "bass", duration, 3)])
        assert stem.audio.samples.shape == (channels, round(duration * SR))
        assert stem.audio.sample_rate == SR and stem.audio.samples.dtype == np.float32
        assert np.isfinite(stem.audio.samples).all() and stem.audio.samples.std() > 1e-3


def test_stereo_channels_are_generated_separately(stereo: Generator) -> None:
    (stem,), _ = _run(stereo, [StemRequest("s", "pads", 2.0, 1)])
    left, right = stem.audio.samples
    assert np.abs(left - right).max() > 1e-3


def test_next_window_continues_from_previous_tokens(mono: Generator) -> None:
    (stem,), windows = _run(mono, [StemRequest("s", "drums", 9.87, 5)])
    plans = plan_windows(9.87, 2.5, WINDOW)
    assert len(windows) == len(plans) == 4 and len(stem.windows) == 4
    overlap = FRAMES_WINDOW - FRAMES_STRIDE
    assert windows[0].prompt.shape[-1] == 0
    for prev, cur in itertools.pairwise(windows):
        assert cur.prompt.shape[-1] == overlap
        np.testing.assert_array_equal(cur.prompt, prev.tokens[:, :, -overlap:])
        np.testing.assert_array_equal(
            cur.tokens[:, :, :overlap], cur.prompt
        )  # the prompt is kept, not resampled
    assert windows[-1].tokens.shape[-1] == 494 - 3 * FRAMES_STRIDE  # ceil(9.87 * 50) = 494 frames in all
    got = [x for w in stem.windows for x in (w.start, w.end)]
    assert got == pytest.approx([x for p in plans for x in (p.start, p.end)], abs=1e-9)


def test_same_seed_is_bit_identical_and_seed_matters(mono: Generator) -> None:
    req = StemRequest("s", "funk guitar", 6.0, 11)
    (a,), _ = _run(mono, [req])
    (b,), _ = _run(mono, [req])
    (c,), _ = _run(mono, [StemRequest("s", "funk guitar", 6.0, 12)])
    np.testing.assert_array_equal(a.audio.samples, b.audio.samples)
    assert np.abs(a.audio.samples - c.audio.samples).max() > 1e-3


def test_greedy_ignores_the_seed_and_cfg_changes_the_result(mono: Generator) -> None:
    greedy = SamplingParams(use_sampling=False, extend_stride=2.5)
    _, w1 = _run(mono, [StemRequest("s", "organ", 2.0, 1)], greedy)
    _, w2 = _run(mono, [StemRequest("s", "organ", 2.0, 2)], greedy)
    np.testing.assert_array_equal(w1[0].tokens, w2[0].tokens)
    _, w3 = _run(
        mono,
        [StemRequest("s", "organ", 2.0, 1)],
        SamplingParams(use_sampling=False, cfg_coef=1.0, extend_stride=2.5),
    )
    assert (w1[0].tokens != w3[0].tokens).mean() > 0.1


def test_two_step_cfg_equals_batched_cfg_when_greedy(mono: Generator) -> None:
    batched = SamplingParams(use_sampling=False, cfg_coef=3.0, extend_stride=2.5)
    two_step = SamplingParams(use_sampling=False, cfg_coef=3.0, two_step_cfg=True, extend_stride=2.5)
    _, a = _run(mono, [StemRequest("s", "choir", 3.0, 1)], batched)
    _, b = _run(mono, [StemRequest("s", "choir", 3.0, 1)], two_step)
    # Same maths in two passes; float summation order may differ, so allow a rare near-tie flip.
    assert (a[0].tokens == b[0].tokens).mean() > 0.98


def test_sections_and_context_give_per_window_text(mono: Generator) -> None:
    sections = (SectionSpan("intro", 0.0, 4.0, "sparse"), SectionSpan("drop", 4.0, 9.0, "huge"))
    req = StemRequest("s", "synth bass", 9.0, 1, context="128 bpm, F minor", sections=sections)
    (stem,), _ = _run(mono, [req])
    plans = plan_windows(9.0, 2.5, WINDOW)
    expected = [
        window_text(req.prompt, req.context, section_for(sections, p.new_start, p.end)) for p in plans
    ]
    assert [w.text for w in stem.windows] == expected
    assert expected[0] == "synth bass, 128 bpm, F minor, sparse" and expected[-1].endswith("huge")


def test_batched_requests_keep_their_own_prompt_seed_and_order(mono: Generator) -> None:
    reqs = [
        StemRequest("a", "kick drum", 5.0, 1),
        StemRequest("b", "string pad", 5.0, 2),
        StemRequest("c", "kick drum", 3.0, 1),
    ]
    stems, windows = _run(mono, reqs)
    assert [s.name for s in stems] == ["a", "b", "c"]
    assert windows[0].names == ("a", "b", "c")  # one batched call per window, shorter stems included
    assert [len(x.windows) for x in stems] == [len(plan_windows(5.0, 2.5, WINDOW)), 2, 1]
    assert stems[0].windows[0].text == "kick drum" and stems[1].windows[0].text == "string pad"
    assert np.abs(stems[0].audio.samples - stems[1].audio.samples).max() > 1e-3
    assert stems[2].audio.num_samples == 3 * SR


def test_a_shorter_stem_in_a_batch_matches_its_solo_render(mono: Generator) -> None:
    greedy = SamplingParams(use_sampling=False, extend_stride=2.5)
    _, solo = _run(mono, [StemRequest("c", "kick drum", 6.2, 1)], greedy)
    both, batched = _run(
        mono, [StemRequest("long", "string pad", 11.0, 2), StemRequest("c", "kick drum", 6.2, 1)], greedy
    )
    assert both[1].audio.num_samples == round(6.2 * SR) and len(both[1].windows) == len(solo)
    for s, b in zip(solo, batched):
        n = s.tokens.shape[-1]
        assert (b.tokens[1, :, :n] == s.tokens[0]).mean() > 0.98  # batch numerics may flip a rare near-tie


def test_chunked_decoding_equals_one_piece(mono: Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    import stems.musicgen.windows as windows

    model = mono._loaded.model
    codes = torch.randint(0, 64, (4, 450), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        whole = model.audio_encoder.decode(codes[None, None], [None]).audio_values[0, 0].numpy()
    monkeypatch.setattr(windows, "DECODE_CHUNK_FRAMES", 100)
    monkeypatch.setattr(windows, "DECODE_CONTEXT_FRAMES", 25)
    chunked = windows.decode_codes(model, codes, 1, 450 * 640 - 7)
    assert chunked.shape == (1, 450 * 640 - 7)
    np.testing.assert_allclose(chunked[0], whole[: 450 * 640 - 7], rtol=0, atol=1e-5)


def test_batch_is_split_when_memory_is_short(mono: Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    import stems.musicgen.load as load

    per_item = load.kv_bytes_per_item(mono._loaded.model, FRAMES_WINDOW, TEXT_MAX_TOKENS, True, False)
    monkeypatch.setattr(load, "free_memory_bytes", lambda device: int(per_item * 1.5 / load.MEMORY_HEADROOM))
    stems, windows = _run(mono, [StemRequest("a", "x", 2.0, 1), StemRequest("b", "y", 2.0, 2)])
    assert [w.names for w in windows] == [("a",), ("b",)]
    assert [s.audio.num_samples for s in stems] == [2 * SR, 2 * SR]
    monkeypatch.setattr(load, "free_memory_bytes", lambda device: 1000)
    with pytest.raises(UserInputError, match="GiB of working memory"):
        _run(mono, [StemRequest("a", "x", 2.0, 1)])


def test_progress_reports_every_frame(mono: Generator) -> None:
    calls: list[tuple[str, int, int]] = []
    mono.generate([StemRequest("p", "bells", 6.0, 1)], FAST, progress=lambda *a: calls.append(a))
    plans = plan_windows(6.0, 2.5, WINDOW)
    total = sum(
        round((p.end - p.new_start) * 50) + 3 for p in plans
    )  # new frames + 3 delay steps (4 codebooks)
    assert calls[-1] == ("p", total, total)
    assert [c[1] for c in calls] == list(range(1, total + 1))


def test_melody_changes_the_result_and_loops(melodic: Generator) -> None:
    greedy = SamplingParams(use_sampling=False, extend_stride=2.5)
    a_note, e_note = _sine(440.0, 2.0), _sine(330.0, 2.0)
    _, wa = _run(melodic, [StemRequest("m", "piano", 3.0, 1, melody=a_note)], greedy)
    _, we = _run(melodic, [StemRequest("m", "piano", 3.0, 1, melody=e_note)], greedy)
    assert (wa[0].tokens != we[0].tokens).mean() > 0.1
    mono = np.arange(10, dtype=np.float32)
    looped = melody_slice(mono, 12 / SR, loop=True)
    np.testing.assert_array_equal(looped[:10], [2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
    once = melody_slice(mono, -3 / SR, loop=False)
    np.testing.assert_array_equal(once[:14], [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0])


def test_melody_and_continuation_in_the_same_window(melodic: Generator) -> None:
    rng = np.random.default_rng(0)
    cont = Audio(
        (0.2 * rng.standard_normal((2, 44_100))).astype(np.float32), 44_100
    )  # 1 s stereo at 44.1 kHz
    melody = _sine(523.25, 1.5)
    before = (cont.samples.copy(), melody.samples.copy())
    req = StemRequest("m", "piano", 5.0, 4, melody=melody, continuation=cont)
    (stem,), windows = _run(melodic, [req])
    expected_prompt = encode_continuation(melodic._loaded.model, cont, melodic, 75).cpu().numpy()
    assert windows[0].prompt.shape == (1, 4, 50)
    np.testing.assert_array_equal(windows[0].prompt[0], expected_prompt)
    np.testing.assert_array_equal(windows[0].tokens[:, :, :50], windows[0].prompt)
    assert stem.windows[0].start == pytest.approx(-1.0) and stem.windows[0].end == pytest.approx(3.0)
    assert stem.audio.num_samples == 5 * SR
    np.testing.assert_array_equal(cont.samples, before[0])  # caller's arrays untouched
    np.testing.assert_array_equal(melody.samples, before[1])


def test_stereo_continuation_interleaves_left_and_right(stereo: Generator) -> None:
    left = _sine(220.0, 1.0).samples[0]
    right = (0.3 * np.random.default_rng(2).standard_normal(SR)).astype(np.float32)
    codes = (
        encode_continuation(stereo._loaded.model, Audio(np.stack([left, right]), SR), stereo, 75)
        .cpu()
        .numpy()
    )
    only_left = (
        encode_continuation(stereo._loaded.model, Audio(np.stack([left, left]), SR), stereo, 75).cpu().numpy()
    )
    assert codes.shape == (8, 50)
    np.testing.assert_array_equal(codes[0::2], only_left[0::2])
    assert (codes[1::2] != only_left[1::2]).any()


@pytest.mark.parametrize(
    "req, error, message",
    [
        (StemRequest("s", "  ", 5.0, 1), UserInputError, "prompt is empty"),
        (StemRequest("s", "x", 0.0, 1), UserInputError, "duration"),
        (StemRequest("s", "x", 5.0, 1, melody=_sine(440, 2.0)), UserInputError, "does not take one"),
        (
            StemRequest("s", "x", 5.0, 1, continuation=Audio(np.zeros((1, SR), np.float32), SR)),
            AudioInputError,
            "silent",
        ),
        (StemRequest("s", "x", 5.0, 1, continuation=_sine(440, 0.1)), AudioInputError, "at least 0.5 s"),
        (
            StemRequest("s", "x", 5.0, 1, continuation=Audio(np.full((1, SR), np.nan, np.float32), SR)),
            AudioInputError,
            "NaN",
        ),
        (
            StemRequest("s", "x", 5.0, 1, continuation=Audio(np.zeros((1, 0), np.float32), SR)),
            AudioInputError,
            "empty",
        ),
    ],
)
def test_bad_requests_fail_before_loading(req: StemRequest, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        validate_requests("debug", [req])


def test_bad_melody_and_model_names(monkeypatch: pytest.MonkeyPatch) -> None:
    short = StemRequest("s", "x", 5.0, 1, melody=_sine(440, 2.0), melody_loop=False)
    with pytest.raises(AudioInputError, match="melody_loop is false"):
        validate_requests("debug-melody", [short])
    validate_requests("debug-melody", [StemRequest("s", "x", 5.0, 1, melody=_sine(440, 2.0))])
    with pytest.raises(UserInputError, match="unknown model 'musicgen-huge'.*facebook/musicgen-stereo-large"):
        validate_requests("musicgen-huge", [])
    with pytest.raises(UserInputError, match="unique"):
        validate_requests("debug", [StemRequest("a", "x", 1, 1), StemRequest("a", "y", 1, 1)])
    with pytest.raises(UserInputError, match="top_p"):
        validate_requests("debug", [], SamplingParams(top_p=1.5))


def test_missing_weights_fail_fast_offline(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert not weights_cached("facebook/musicgen-small") and weights_cached("debug")
    with pytest.raises(ModelUnavailableError, match=r"facebook/musicgen-small.*huggingface-cli download"):
        Generator("facebook/musicgen-small")
    assert str(tmp_path) in str(
        pytest.raises(ModelUnavailableError, Generator, "facebook/musicgen-melody").value
    )


def test_known_models_cover_every_checkpoint() -> None:
    names = {m.name for m in known_models()}
    assert len(names) == 13 and {"debug", "debug-stereo", "debug-melody"} <= names
    stereo_melody = model_info("facebook/musicgen-stereo-melody-large")
    assert (stereo_melody.channels, stereo_melody.takes_melody, stereo_melody.sample_rate) == (
        2,
        True,
        32_000,
    )
    assert (
        model_info("random:facebook/musicgen-small").params_m
        == model_info("facebook/musicgen-small").params_m
    )


@pytest.mark.parametrize(
    "name, hidden, layers, codebooks, channels",
    [("facebook/musicgen-small", 1024, 24, 4, 1), ("facebook/musicgen-stereo-melody-large", 2048, 48, 8, 2)],
)
def test_random_init_configs_have_the_published_geometry(
    name: str, hidden: int, layers: int, codebooks: int, channels: int
) -> None:
    from stems.musicgen.debug_models import build_config
    from stems.musicgen.models import checkpoint_dims

    dims, ch, melody = checkpoint_dims(name)
    size = {1024: "small", 1536: "medium", 2048: "large"}[dims.hidden_size]
    config = build_config(False, ch, melody, size)
    dec, codec = config.decoder, config.audio_encoder
    assert (dec.hidden_size, dec.num_hidden_layers, dec.num_codebooks, dec.audio_channels) == (
        hidden,
        layers,
        codebooks,
        channels,
    )
    assert (dec.ffn_dim, dec.vocab_size, config.text_encoder.d_model) == (4 * hidden, 2048, 768)
    assert (codec.sampling_rate, codec.hop_length, codec.frame_rate, codec.num_quantizers) == (
        32_000,
        640,
        50,
        4,
    )
    assert hasattr(config, "chroma_length") == melody


def test_top_k_and_top_p_filters() -> None:
    import torch

    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    np.testing.assert_allclose(filter_top_k(probs, 2).numpy(), [[0.625, 0.375, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(filter_top_p(probs, 0.7).numpy(), [[0.625, 0.375, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(
        filter_top_p(probs, 0.85).numpy(), [[0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0]], atol=1e-6
    )
    np.testing.assert_allclose(filter_top_k(probs, 250).numpy(), probs.numpy(), atol=1e-6)


@pytest.mark.parametrize("fixture", ["mono", "stereo", "melodic"])
@pytest.mark.parametrize("cfg", [1.0, 3.0])
def test_one_window_equals_transformers_generate(
    fixture: str, cfg: float, request: pytest.FixtureRequest
) -> None:
    """Our token loop (delay pattern, CFG, KV cache) reproduces transformers' own greedy ``generate``."""
    import torch

    from stems.musicgen.chroma import chroma_raw, one_hot_chroma

    gen: Generator = request.getfixturevalue(fixture)
    melody = _sine(392.0, 1.5) if gen.takes_melody else None
    params = SamplingParams(use_sampling=False, cfg_coef=cfg, extend_stride=2.5)
    (stem,) = gen.generate([StemRequest("s", "warm bass", 2.0, 1, melody=melody)], params)
    inputs = dict(gen._loaded.tokenizer(["warm bass"], return_tensors="pt"))
    if melody is not None:
        chroma = one_hot_chroma(chroma_raw(melody_slice(melody.samples[0], 0.0, loop=True)))
        inputs["input_features"] = torch.from_numpy(chroma)[None]
    # 100 frames + the largest codebook delay (3: four codebooks per channel, stereo pairs share delays)
    with torch.no_grad(), pinned_threads(generation_threads(gen._loaded.model, "cpu")):
        theirs = gen._loaded.model.generate(
            **inputs, do_sample=False, guidance_scale=cfg if cfg > 1 else None, max_new_tokens=100 + 3
        )
    np.testing.assert_allclose(stem.audio.samples, theirs[0].numpy()[:, : 2 * SR], rtol=0, atol=1e-5)


@pytest.mark.slow
def test_real_window_geometry_40_s() -> None:
    gen = get_generator("debug")
    windows: list[WindowTokens] = []
    (stem,) = gen.generate([StemRequest("s", "drums", 40.0, 1)], SamplingParams(), on_window=windows.append)
    assert stem.audio.samples.shape == (1, 40 * SR)
    assert [w.tokens.shape[-1] for w in windows] == [1500, 1100]  # [0, 30) then [18, 40)
    np.testing.assert_array_equal(windows[1].prompt, windows[0].tokens[:, :, 900:])


@pytest.mark.parametrize("name", ["debug-stereo", "debug-melody"])
def test_half_precision_decoder_path(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA's path (fp16 decoder weights under autocast, fp32 text encoder and codec) run on the CPU with bf16:
    the same code with the CPU's autocast, so mixed dtypes between conditions and decoder are exercised here."""
    import torch

    import stems.musicgen.load as load

    monkeypatch.setattr(load, "half_dtype", lambda device: torch.bfloat16)
    gen = Generator(name, "cpu", max_window=WINDOW)
    model = gen._loaded.model
    assert {p.dtype for p in model.decoder.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in model.audio_encoder.parameters()} == {torch.float32}
    melody = _sine(440.0, 3.0) if gen.takes_melody else None
    requests = [StemRequest("a", "warm pad", 6.0, 1, melody=melody), StemRequest("b", "bass", 6.0, 2)]
    stems, windows = _run(gen, requests)
    assert [w.names for w in windows] == [("a", "b")] * len(plan_windows(6.0, 2.5, WINDOW))
    for stem in stems:
        assert stem.audio.samples.shape == (gen.channels, 6 * SR) and stem.audio.samples.dtype == np.float32
        assert np.isfinite(stem.audio.samples).all() and stem.audio.samples.std() > 1e-3
    again, _ = _run(gen, requests)
    assert all(np.array_equal(x.audio.samples, y.audio.samples) for x, y in zip(stems, again, strict=True))
