"""The fast window loop (issue 16): eager prefill, then the static-cache step of ``stems.musicgen.fast``
for every further position, with batched sampling and, on CUDA, the step captured once per window as a
CUDA graph and replayed.

Tokens are those of ``stems.musicgen.sampling.generate_window`` (the eager reference, ``engine: eager``):
the prefill is the same transformers call, the CFG and softmax/filters the same functions on the same
shapes, and a stem's sampling noise comes from its own generator drawn as ``torch.multinomial`` draws it,
ahead of the steps that use it. Nothing inside the step loop reads a tensor's value on the host.

Forms, by device: CPU runs the exact form eagerly. ``torch.compile`` (inductor) of the static step was
measured on the debug model at 0.42-0.51 ms/step against 0.44 for the exact form, after 11 s of compiling
(2 shared cores), and its fused kernels are not bit-identical, so it is not used. CUDA replays a manual
``torch.cuda.CUDAGraph`` capture; ``torch.compile(mode="reduce-overhead")`` is the alternative the issue
names, not yet measured against it (no GPU in the sessions so far: ``bench/gpu_decode.sh``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import torch

from stems.musicgen.fast import StaticKV, StepInputs, position_table, step_logits, weights_of
from stems.musicgen.sampling import (
    Conditions,
    Sampler,
    Stream,
    combine_cfg,
    delayed_sequence,
    guided_logits,
    make_streams,
    sampling_probs,
    undelay,
)

log = logging.getLogger(__name__)

# Pre-drawn noise is (steps, B, K, V) float32: 8 stereo stems of a 30 s window would take 0.8 GB at
# once, so it is drawn in blocks of at most this many bytes, each before the steps that use it.
NOISE_BLOCK_BYTES = 128 * 2**20
GRAPH_WARMUP = 2  # eager runs on a side stream before capture (PyTorch "CUDA Graphs" docs)


def fast_supported(device: str) -> bool:
    """The fast engine runs on CPU (exact form) and CUDA (static form, CUDA graphs); elsewhere eager."""
    return device == "cpu" or device.startswith("cuda")


def sample_batched(logits: torch.Tensor, sampler: Sampler, noise: torch.Tensor | None) -> torch.Tensor:
    """Tokens ``(B, K)`` from logits ``(B, K, V)``: as ``musicgen_sampling.sample_next``, all rows at once,
    with ``argmax(p / q)`` for ``multinomial`` given each row's Exp(1) draws ``noise``."""
    if not sampler.use_sampling or sampler.temperature <= 0:
        return logits.argmax(dim=-1)
    assert noise is not None
    return (sampling_probs(logits, sampler) / noise).argmax(dim=-1)


class SamplingNoise:
    """Each stem's Exp(1) draws for the window, in blocks drawn ahead of their steps."""

    def __init__(
        self, steps: int, shape: tuple[int, int, int], generators: Sequence[torch.Generator]
    ) -> None:
        self.steps, self.shape, self.generators = steps, shape, generators
        per_step = shape[0] * shape[1] * shape[2] * 4
        self.block = max(1, min(steps, NOISE_BLOCK_BYTES // per_step))
        self.start, self.drawn = 0, torch.empty(0)

    def __getitem__(self, step: int) -> torch.Tensor:
        if not self.start <= step < self.start + len(self.drawn):
            self.start = step
            self.drawn = self._draw(min(self.block, self.steps - step))
        return self.drawn[step - self.start]

    def _draw(self, steps: int) -> torch.Tensor:
        """``(steps, B, K, V)``: stem b's block in one call on its generator. The CPU generator fills a
        tensor element by element in order, so this is what ``steps`` multinomial calls would draw (tested);
        CUDA's Philox counters split work differently: deterministic per stem, not the eager draws."""
        noise = torch.empty((self.shape[0], steps, *self.shape[1:]), device=self.generators[0].device)
        for b, gen in enumerate(self.generators):
            noise[b].exponential_(1, generator=gen)
        return noise.transpose(0, 1)


class _Step:
    """Every stream's decode step, CFG and sampling for one position, over static caches."""

    def __init__(
        self, decoder: Any, streams: list[Stream], sampler: Sampler, batch: int, steps: int, static: bool
    ) -> None:
        self.weights = weights_of(decoder)
        self.streams, self.sampler, self.batch = streams, sampler, batch
        self.inputs = [self._inputs(decoder, s, steps, static) for s in streams]
        self.first = self.inputs[0].kv.filled  # cache index of the first decoded token

    @staticmethod
    def _inputs(decoder: Any, stream: Stream, steps: int, static: bool) -> StepInputs:
        kv = StaticKV(stream.cache, stream.cache.get_seq_length() + steps)
        stream.cache = None  # the prefill's copy is read no more; ``kv`` keeps its cross-attention
        device = kv.self_kv[0].device
        self_mask = None if stream.steps is None else stream.steps[..., : kv.capacity]
        return StepInputs(
            kv,
            position_table(decoder, kv.capacity),
            self_mask,
            stream.cross,
            None if stream.positions is None else stream.positions.shift,
            torch.arange(kv.capacity, device=device) if static else None,
        )

    def __call__(self, ids: torch.Tensor, at: int | torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """Next tokens ``(B, K)`` for the tokens ``ids`` ``(B, K)`` at cache offset ``at`` (from ``first``)."""
        outs = []
        for stream, inp in zip(self.streams, self.inputs, strict=True):
            rows = ids.repeat((stream.repeat, 1)) if stream.repeat > 1 else ids
            where = at + self.first if isinstance(at, int) else at
            outs.append(step_logits(self.weights, rows, inp, where))
        return sample_batched(combine_cfg(self.streams, outs, self.sampler.cfg_coef), self.sampler, noise)


class _Graphed:
    """``_Step`` in static form, captured once as a CUDA graph; inputs and output live in fixed buffers."""

    def __init__(self, step: _Step, ids: torch.Tensor, noise: torch.Tensor | None) -> None:
        self.step = step
        self.ids = ids.clone()
        self.at = torch.full((), step.first, dtype=torch.long, device=ids.device)
        self.noise = None if noise is None else noise.clone()
        side = torch.cuda.Stream(device=ids.device)
        side.wait_stream(torch.cuda.current_stream(ids.device))
        with torch.cuda.stream(side):  # warm-up writes the first position, which the first replay rewrites
            for _ in range(GRAPH_WARMUP):
                self._run()
        torch.cuda.current_stream(ids.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = self._run()

    def _run(self) -> torch.Tensor:
        return self.step(self.ids, self.at, self.noise)

    def __call__(self, ids: torch.Tensor, at: int, noise: torch.Tensor | None) -> torch.Tensor:
        self.ids.copy_(ids)
        self.at.fill_(self.step.first + at)
        if self.noise is not None and noise is not None:
            self.noise.copy_(noise)
        self.graph.replay()
        return self.out


class _Static:
    """The static form without capture (CPU): what the CUDA graph replays, for tests of its arithmetic."""

    def __init__(self, step: _Step, device: Any) -> None:
        self.step = step
        self.at = torch.zeros((), dtype=torch.long, device=device)

    def __call__(self, ids: torch.Tensor, at: int, noise: torch.Tensor | None) -> torch.Tensor:
        self.at.fill_(self.step.first + at)
        return self.step(ids, self.at, noise)


def step_form(device: str) -> str:
    """``exact`` on CPU, ``graph`` on CUDA (see ``stems.musicgen.fast``)."""
    return "graph" if device.startswith("cuda") else "exact"


def _runner(
    step: _Step, form: str, ids: torch.Tensor, noise: torch.Tensor | None
) -> Callable[[torch.Tensor, int, torch.Tensor | None], torch.Tensor]:
    if form == "graph":
        try:
            return _Graphed(step, ids, noise)
        except RuntimeError as exc:  # an op this GPU/driver cannot capture: the same step, not replayed
            log.warning("CUDA graph capture failed (%s); running the static step without replay", exc)
            return _Static(step, ids.device)
    if form == "static":
        return _Static(step, ids.device)
    return step


def generate_window_fast(
    model: Any,
    prompt: torch.Tensor | None,
    total: int,
    conditions: Conditions,
    sampler: Sampler,
    generators: Sequence[torch.Generator],
    on_step: Callable[[], None] | None = None,
    autocast: Any = None,
    form: str | None = None,
) -> torch.Tensor:
    """``musicgen_sampling.generate_window`` on the fast step; ``form`` is exact, static or graph
    (default: ``step_form`` of the device)."""
    decoder = model.decoder
    k, batch = decoder.num_codebooks, len(generators)
    device = conditions.cond.device
    seq, pattern, begin = delayed_sequence(model, prompt, total, batch, device)
    length = seq.shape[-1]
    streams = make_streams(decoder, conditions, sampler, length)
    form = form or step_form(str(device))
    sampled = sampler.use_sampling and sampler.temperature > 0
    noise = (
        SamplingNoise(length - begin, (batch, k, decoder.config.vocab_size), generators) if sampled else None
    )
    with torch.inference_mode(), autocast or nullcontext():
        logits = guided_logits(streams, seq[:, :begin], sampler.cfg_coef, batch)  # eager prefill
        nxt = sample_batched(logits, sampler, None if noise is None else noise[0])
        _commit(seq, pattern, begin, nxt, on_step)
        if begin + 1 < length:
            step = _Step(decoder, streams, sampler, batch, length - 1 - begin, form in ("static", "graph"))
            run = _runner(step, form, seq[:, begin].reshape(batch, k), None if noise is None else noise[1])
            for pos in range(begin + 1, length):
                ids = seq[:, pos - 1].reshape(batch, k)
                nxt = run(ids, pos - 1 - begin, None if noise is None else noise[pos - begin])
                _commit(seq, pattern, pos, nxt, on_step)
    return undelay(seq, batch, k, total, decoder.config.audio_channels)


def _commit(
    seq: torch.Tensor, pattern: torch.Tensor, pos: int, nxt: torch.Tensor, on_step: Callable[[], None] | None
) -> None:
    """Write the sampled tokens where the delay pattern leaves a hole (as the eager loop does)."""
    seq[:, pos] = torch.where(pattern[:, pos] == -1, nxt.reshape(-1), pattern[:, pos])
    if on_step is not None:
        on_step()
