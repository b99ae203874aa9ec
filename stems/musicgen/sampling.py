"""The autoregressive token loop of one window: delay pattern, classifier-free guidance, sampling.

transformers' ``generate()`` batches CFG only and shares one random stream across the batch, so we run
the loop ourselves on the model's own decoder (with its KV cache) and its own delay-pattern helpers
(``build_delay_pattern_mask``), following audiocraft ``LMModel.generate`` / ``_sample_next_token``:

* CFG: ``uncond + (cond - uncond) * cfg_coef`` on the logits (Ho & Salimans 2022), batched as one
  forward pass, or as two separate passes with ``two_step_cfg``.
* sampling: softmax(logits / temperature), then top-p if ``top_p > 0`` else top-k, else greedy argmax.
* every request has its own ``torch.Generator`` so a stem's randomness does not depend on its batch mates.

This loop is the ``eager`` engine, the reference; ``stems.musicgen.fastloop`` is the ``fast`` one (issue 16),
which shares the prefill, conditions, CFG and filters here and must give the same tokens on CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Conditions:
    """Decoder conditioning for a batch: cross-attention states (MusicGen) or a prefix (MusicGen-melody).

    ``uncond`` is the null condition for CFG (None when CFG is off). A mask is ``(B, S)``, 1 = attend, and
    None when no row is padded (decided on the host, so the step loop never inspects a mask; the window loop
    pads every text to one fixed width, so it always gives one). ``pads`` is,
    per row, how many of the prefix's positions are padding (melody models only): those rows' audio
    positions move back by as many, so a row sees exactly the sequence it would see alone.
    """

    cond: torch.Tensor
    cond_mask: torch.Tensor | None
    uncond: torch.Tensor | None
    uncond_mask: torch.Tensor | None
    prefix: bool  # True for MusicGen-melody: states are prepended to the decoder input once
    pads: tuple[int, ...] = ()


@dataclass(frozen=True)
class Sampler:
    use_sampling: bool
    temperature: float
    top_k: int
    top_p: float
    cfg_coef: float
    two_step_cfg: bool


def codebook_delays(num_codebooks: int, channels: int) -> list[int]:
    """Delay of each codebook in the pattern: stereo interleaves L/R codebooks that share a delay."""
    return [c // 2 if channels == 2 else c for c in range(num_codebooks)]


def steps_per_window(new_frames: int, num_codebooks: int, channels: int) -> int:
    """Decoder steps for ``new_frames`` new frames: one per frame plus the largest codebook delay."""
    return new_frames + max(codebook_delays(num_codebooks, channels))


def filter_top_k(probs: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k most likely tokens (ties at the k-th value kept, as audiocraft ``sample_top_k``)."""
    k = min(k, probs.shape[-1])
    kth = torch.topk(probs, k, dim=-1).values[..., -1:]
    kept = probs * (probs >= kth)
    return kept / kept.sum(dim=-1, keepdim=True)


def filter_top_p(probs: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al. 2020), audiocraft ``sample_top_p``: smallest set with mass >= p."""
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    drop = torch.cumsum(sorted_probs, dim=-1) - sorted_probs > p
    sorted_probs = sorted_probs.masked_fill(drop, 0.0)
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return kept / kept.sum(dim=-1, keepdim=True)


def sample_next(
    logits: torch.Tensor, sampler: Sampler, generators: Sequence[torch.Generator]
) -> torch.Tensor:
    """Next token per (request, codebook) from logits ``(B, K, V)``; row b uses ``generators[b]``."""
    if not sampler.use_sampling or sampler.temperature <= 0:
        return logits.argmax(dim=-1)
    probs = sampling_probs(logits, sampler)
    rows = [torch.multinomial(probs[b], 1, generator=generators[b])[:, 0] for b in range(len(generators))]
    return torch.stack(rows)


def sampling_probs(logits: torch.Tensor, sampler: Sampler) -> torch.Tensor:
    """softmax(logits / temperature), then top-p if ``top_p > 0`` else top-k: what a token is drawn from."""
    probs = torch.softmax(logits.float() / sampler.temperature, dim=-1)
    if sampler.top_p > 0:
        return filter_top_p(probs, sampler.top_p)
    if sampler.top_k > 0:
        return filter_top_k(probs, sampler.top_k)
    return probs


class _RowPositions(torch.nn.Module):
    """transformers' sinusoidal positions, per row: positions past the ``prefix`` move back by the row's
    padded prefix positions (transformers numbers positions per batch, which would put a padded row's
    audio later than it sits when the row is rendered alone)."""

    def __init__(self, table: Any, shift: torch.Tensor, prefix: int) -> None:
        super().__init__()
        self.table, self.shift, self.prefix = table, shift, prefix

    def forward(self, inputs_embeds: torch.Tensor, past_key_values_length: int = 0) -> torch.Tensor:
        seq = inputs_embeds.shape[1]
        if seq + past_key_values_length > self.table.weights.size(0):
            self.table.make_weights(seq + past_key_values_length, self.table.embedding_dim)
        ids = torch.arange(seq, device=self.shift.device) + past_key_values_length
        return self.table.weights[ids[None] - self.shift[:, None] * (ids >= self.prefix)]


def _mask_4d(decoder: Any, mask: torch.Tensor) -> Any:
    """A ``(rows, kv)`` padding mask in the attention implementation's own 4D form, built once: given a 4D
    mask, transformers uses it as is instead of checking a 2D one for padding (a host sync) every step."""
    from transformers.masking_utils import create_bidirectional_mask

    dtype = next(decoder.parameters()).dtype
    probe = torch.empty((mask.shape[0], 1, decoder.config.hidden_size), dtype=dtype, device=mask.device)
    return create_bidirectional_mask(decoder.config, probe, mask, allow_is_bidirectional_skip=False)


class Stream:
    """One KV-cached pass over the delayed sequence for one condition (cond, uncond, or both stacked)."""

    def __init__(
        self, decoder: Any, states: torch.Tensor, mask: torch.Tensor | None, prefix: bool, repeat: int
    ):
        self.decoder, self.states, self.mask, self.prefix, self.repeat = decoder, states, mask, prefix, repeat
        self.cache: Any = None
        self.cross = _mask_4d(decoder, mask) if mask is not None and not prefix else None
        self.steps: Any = None
        self.positions: _RowPositions | None = None

    def pad_prefix(self, pads: Sequence[int], length: int) -> None:
        """Melody prefix with padded rows: mask the padding on the prefill and every step, shift positions."""
        assert self.prefix and self.mask is not None
        mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], length))], dim=1)
        self.steps = _mask_4d(self.decoder, mask)
        shift = torch.tensor(list(pads) * self.repeat, device=self.mask.device)
        table = self.decoder.model.decoder.embed_positions
        self.positions = _RowPositions(table, shift, self.states.shape[1])

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.repeat((self.repeat, 1)) if self.repeat > 1 else ids
        first = self.cache is None
        if self.prefix:  # MusicGen-melody: conditioning is a prefix fed once, then lives in the cache
            seen = 0 if first else self.cache.get_seq_length()
            with self._row_positions():
                out = self.decoder(
                    input_ids=ids,
                    encoder_hidden_states=self.states if first else None,
                    encoder_attention_mask=self.mask if first else None,
                    attention_mask=None
                    if first or self.steps is None
                    else self.steps[..., : seen + ids.shape[1]],
                    past_key_values=self.cache,
                    use_cache=True,
                )
        else:
            out = self.decoder(
                input_ids=ids,
                encoder_hidden_states=self.states,
                encoder_attention_mask=self.cross,
                past_key_values=self.cache,
                use_cache=True,
            )
        self.cache = out.past_key_values
        return out.logits[:, -1, :]

    @contextmanager
    def _row_positions(self) -> Iterator[None]:
        if self.positions is None:
            yield
            return
        inner = self.decoder.model.decoder
        table = inner.embed_positions
        inner.embed_positions = self.positions
        try:
            yield
        finally:
            inner.embed_positions = table


def make_streams(decoder: Any, conditions: Conditions, sampler: Sampler, length: int) -> list[Stream]:
    if conditions.uncond is None or sampler.cfg_coef == 1.0:
        streams = [Stream(decoder, conditions.cond, conditions.cond_mask, conditions.prefix, 1)]
    elif sampler.two_step_cfg:
        streams = [
            Stream(decoder, conditions.cond, conditions.cond_mask, conditions.prefix, 1),
            Stream(decoder, conditions.uncond, conditions.uncond_mask, conditions.prefix, 1),
        ]
    else:
        masks = None
        if conditions.cond_mask is not None and conditions.uncond_mask is not None:
            masks = torch.cat([conditions.cond_mask, conditions.uncond_mask])
        states = torch.cat([conditions.cond, conditions.uncond])
        streams = [Stream(decoder, states, masks, conditions.prefix, 2)]
    for stream in streams:
        if stream.prefix and stream.mask is not None:
            stream.pad_prefix(conditions.pads, length)
    return streams


def guided_logits(streams: list[Stream], ids: torch.Tensor, cfg_coef: float, batch: int) -> torch.Tensor:
    logits = combine_cfg(streams, [s.logits(ids) for s in streams], cfg_coef)
    return logits.reshape(batch, -1, logits.shape[-1])


def combine_cfg(streams: list[Stream], outs: list[torch.Tensor], cfg_coef: float) -> torch.Tensor:
    """Classifier-free guidance over the streams' float32 logits: uncond + (cond - uncond) * cfg_coef, the
    rows of a stream that stacks both split in half (one stream without guidance: its logits)."""
    outs = [o.float() for o in outs]  # fp16 under autocast
    if len(outs) == 1 and streams[0].repeat == 1:
        return outs[0]
    cond, uncond = (outs[0], outs[1]) if len(outs) == 2 else outs[0].chunk(2)
    return uncond + (cond - uncond) * cfg_coef


def delayed_sequence(
    model: Any, prompt: torch.Tensor | None, total: int, batch: int, device: Any
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The window's delayed sequence ``(B * K, length)`` (pattern and prompt filled in), the pattern
    (-1 where a token is to be generated) and the first position to generate."""
    decoder = model.decoder
    num_codebooks = decoder.num_codebooks
    pad = int(model.generation_config.pad_token_id)
    start = torch.full((batch * num_codebooks, 1), pad, dtype=torch.long, device=device)
    ids = start if prompt is None else torch.cat([start, prompt.reshape(batch * num_codebooks, -1)], dim=1)
    length = 1 + total + max(codebook_delays(num_codebooks, decoder.config.audio_channels))
    first_input, pattern = decoder.build_delay_pattern_mask(ids, pad, max_length=length)
    return pattern.clone(), pattern, int(first_input.shape[-1])


def generate_window(
    model: Any,
    prompt: torch.Tensor | None,
    total: int,
    conditions: Conditions,
    sampler: Sampler,
    generators: Sequence[torch.Generator],
    on_step: Callable[[], None] | None = None,
    autocast: Any = None,
) -> torch.Tensor:
    """Codes ``(B, K, total)`` whose first ``P`` frames are ``prompt`` ``(B, K, P)`` (None: P = 0)."""
    decoder = model.decoder
    num_codebooks, batch = decoder.num_codebooks, len(generators)
    seq, pattern, begin = delayed_sequence(model, prompt, total, batch, conditions.cond.device)
    length = seq.shape[-1]
    streams = make_streams(decoder, conditions, sampler, length)
    with torch.inference_mode(), autocast or _nullcontext():
        for pos in range(begin, length):
            window = seq[:, :pos] if pos == begin else seq[:, pos - 1 : pos]
            logits = guided_logits(streams, window, sampler.cfg_coef, batch)
            nxt = sample_next(logits, sampler, generators).reshape(-1)
            seq[:, pos] = torch.where(pattern[:, pos] == -1, nxt, pattern[:, pos])
            if on_step is not None:
                on_step()
    return undelay(seq, batch, num_codebooks, total, decoder.config.audio_channels)


def undelay(seq: torch.Tensor, batch: int, num_codebooks: int, total: int, channels: int) -> torch.Tensor:
    """Undo the delay pattern: codebook c's frame t sits at position ``t + 1 + delay(c)``."""
    seq = seq.reshape(batch, num_codebooks, -1)
    rows = [seq[:, c, 1 + d : 1 + d + total] for c, d in enumerate(codebook_delays(num_codebooks, channels))]
    codes = torch.stack(rows, dim=1)
    assert codes.shape[-1] == total and bool((codes >= 0).all()), "delay pattern left holes"
    return codes


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
