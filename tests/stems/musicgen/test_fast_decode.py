"""The fast decode engine (issue 16) against the eager reference, on the tiny offline debug models.

On CPU the fast step reads the filled part of its static cache, so its tokens must equal the eager
transformers loop's exactly: greedy, and sampled for the same seeds (its noise is what ``multinomial``
draws). Windows of 2 s with a 1.5 s stride, 3 s stems: two windows, the second continuing the first.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, get_args

import numpy as np
import pytest

from stems.audio import Audio
from stems.errors import UserInputError
from stems.musicgen.generator import Generator
from stems.musicgen.types import ENGINES, SamplingParams, StemRequest, WindowTokens

SR = 32_000
WINDOW, STRIDE = 2.0, 1.5
GREEDY = SamplingParams(use_sampling=False, extend_stride=STRIDE)
SAMPLED = SamplingParams(extend_stride=STRIDE)
LONG_PROMPT = "lush legato strings with a slow swell, warm analog tape, wide reverb tail, 72 bpm"


def _sine(freq: float, seconds: float) -> Audio:
    t = np.arange(int(seconds * SR)) / SR
    return Audio(
        (0.3 * np.sin(2 * np.pi * freq * t) * np.minimum(1.0, t / 0.05))[None].astype(np.float32), SR
    )


@pytest.fixture(scope="module")
def generators() -> dict[str, Generator]:
    return {name: Generator(name, max_window=WINDOW) for name in ("debug", "debug-stereo", "debug-melody")}


def _requests(gen: Generator, continuation: bool) -> list[StemRequest]:
    """Two stems whose texts differ in length (padded rows), with melodies on a melody model."""
    melody = gen.takes_melody
    cont = _sine(220.0, 1.0) if continuation else None
    return [
        StemRequest(
            "long", LONG_PROMPT, 3.0, 11, melody=_sine(330.0, 2.0) if melody else None, continuation=cont
        ),
        StemRequest(
            "short", "kick", 3.0, 13, melody=_sine(262.0, 2.0) if melody else None, continuation=cont
        ),
    ]


def _tokens(gen: Generator, reqs: list[StemRequest], params: SamplingParams) -> list[WindowTokens]:
    windows: list[WindowTokens] = []
    gen.generate(reqs, params, on_window=windows.append)
    return windows


def _assert_same_windows(a: list[WindowTokens], b: list[WindowTokens]) -> None:
    assert len(a) == len(b) >= 2
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.prompt, y.prompt)
        np.testing.assert_array_equal(x.tokens, y.tokens)


@pytest.mark.parametrize("name", ["debug", "debug-stereo", "debug-melody"])
@pytest.mark.parametrize("continuation", [False, True])
def test_fast_greedy_tokens_equal_eager(
    generators: dict[str, Generator], name: str, continuation: bool
) -> None:
    gen = generators[name]
    reqs = _requests(gen, continuation)
    eager = _tokens(gen, reqs, replace(GREEDY, engine="eager"))
    _assert_same_windows(_tokens(gen, reqs, replace(GREEDY, engine="fast")), eager)


@pytest.mark.parametrize("name", ["debug", "debug-stereo", "debug-melody"])
@pytest.mark.parametrize(
    "params",
    [SAMPLED, replace(SAMPLED, top_p=0.9, temperature=0.8), replace(SAMPLED, two_step_cfg=True, top_k=20)],
    ids=["top_k", "top_p", "two_step_cfg"],
)
def test_fast_sampled_tokens_equal_eager_for_the_same_seeds(
    generators: dict[str, Generator], name: str, params: SamplingParams
) -> None:
    gen = generators[name]
    reqs = _requests(gen, False)
    eager = _tokens(gen, reqs, replace(params, engine="eager"))
    fast = _tokens(gen, reqs, replace(params, engine="fast"))
    _assert_same_windows(fast, eager)
    reseeded = _tokens(gen, [replace(r, seed=r.seed + 1) for r in reqs], replace(params, engine="fast"))
    assert np.mean([(a.tokens == b.tokens).mean() for a, b in zip(fast, reseeded)]) < 0.5  # the seed matters


@pytest.mark.parametrize("name", ["debug", "debug-melody"])
def test_static_form_agrees_with_the_exact_form(generators: dict[str, Generator], name: str) -> None:
    """The form CUDA graphs replay (whole-window attention under a mask, the position a tensor), run on the
    CPU: it sums the same terms in another order, so greedy tokens agree (all of them here; a rounding flip
    late in a window is allowed). A wrong position or mask would leave ~1/64 agreement."""
    import torch

    from stems.musicgen.sampling import Sampler
    from stems.musicgen.windows import build_conditions

    gen = generators[name]
    chroma = torch.zeros(2, 30, 12)
    chroma[..., 4] = 1.0
    conditions = build_conditions(
        gen._loaded, [LONG_PROMPT, "bass"], chroma if gen.takes_melody else None, True, "cpu"
    )
    sampler = Sampler(False, 1.0, 250, 0.0, 3.0, False)
    prompt = torch.randint(
        0, 64, (2, gen._loaded.model.decoder.num_codebooks, 30), generator=torch.Generator().manual_seed(0)
    )
    out = _both_forms(gen, prompt, conditions, sampler)
    assert (out["exact"] == out["static"]).float().mean() > 0.9


def _both_forms(gen: Generator, prompt: Any, conditions: Any, sampler: Any) -> dict[str, Any]:
    import torch

    from stems.musicgen.fastloop import generate_window_fast

    return {
        form: generate_window_fast(
            gen._loaded.model,
            prompt,
            90,
            conditions,
            sampler,
            [torch.Generator(), torch.Generator()],
            form=form,
        )
        for form in ("exact", "static")
    }


@pytest.mark.parametrize("params", [replace(SAMPLED, top_p=0.9), replace(SAMPLED, two_step_cfg=True)])
def test_fast_steps_never_read_the_device(
    generators: dict[str, Generator], params: SamplingParams, no_host_sync: Any
) -> None:
    gen = generators["debug-melody"]
    reqs = [replace(r, duration=1.5) for r in _requests(gen, False)]
    stems = gen.generate(reqs, replace(params, engine="fast"), no_host_sync)
    assert all(s.audio.num_samples == int(1.5 * SR) for s in stems)


def _dispatches_per_step(gen: Generator, engine: str) -> list[str]:
    """The ATen ops of one steady-state decode step (between two progress callbacks)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Log(TorchDispatchMode):
        ops: list[str] = []

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    marks: list[int] = []
    reqs = [replace(r, duration=0.5) for r in _requests(gen, False)]
    with Log() as log:
        gen.generate(reqs, replace(SAMPLED, engine=engine), lambda *a: marks.append(len(log.ops)))
    return log.ops[marks[10] : marks[12]]  # two stems: two callbacks per step


def test_fast_step_dispatches_fewer_ops_and_never_grows_the_cache(generators: dict[str, Generator]) -> None:
    gen = generators["debug"]
    eager, fast = (_dispatches_per_step(gen, e) for e in ("eager", "fast"))
    assert not any("cat" in op for op in fast)  # the eager step grows its DynamicCache with torch.cat
    assert any("cat" in op for op in eager)
    assert not any("_local_scalar_dense" in op for op in fast)  # multinomial's check, transformers' masks
    assert len(fast) < 0.8 * len(eager)


def test_sampling_noise_is_what_multinomial_draws() -> None:
    import torch

    from stems.musicgen.fastloop import SamplingNoise, sample_batched
    from stems.musicgen.sampling import Sampler, sample_next

    logits = torch.randn((3, 4, 64), generator=torch.Generator().manual_seed(1)) * 3
    sampler = Sampler(True, 1.0, 10, 0.0, 3.0, False)
    eager_gens = [torch.Generator().manual_seed(s) for s in (5, 6, 7)]
    noise = SamplingNoise(4, (3, 4, 64), [torch.Generator().manual_seed(s) for s in (5, 6, 7)])
    for step in range(4):
        assert torch.equal(
            sample_next(logits, sampler, eager_gens), sample_batched(logits, sampler, noise[step])
        )


def test_engine_option_is_checked_and_matches_the_schema() -> None:
    from flows.schema.models import DecodeEngine, Generation
    from stems.musicgen.fastloop import fast_supported
    from stems.musicgen.generator import validate_params

    assert get_args(DecodeEngine) == ENGINES and Generation().engine == SamplingParams().engine == "fast"
    with pytest.raises(UserInputError, match="engine"):
        validate_params(replace(SAMPLED, engine="graph"))
    assert fast_supported("cpu") and fast_supported("cuda:0") and not fast_supported("mps")


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_replay_agrees_with_eager_on_the_gpu() -> None:
    gen = Generator("debug", "cuda", max_window=WINDOW)
    reqs = _requests(gen, False)
    eager = _tokens(gen, reqs, replace(GREEDY, engine="eager"))
    fast = _tokens(gen, reqs, replace(GREEDY, engine="fast"))
    assert np.mean([(a.tokens == b.tokens).mean() for a, b in zip(fast, eager, strict=True)]) > 0.9
