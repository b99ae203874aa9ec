"""Windowed long-form rendering: plans, per-window text and melody, token hand-over, decoding.

Window k+1's prompt is the last ``max_window - extend_stride`` seconds of window k's TOKENS (no
decode/re-encode between windows), exactly as audiocraft ``BaseGenModel._generate_tokens``; a user
continuation is encoded once with EnCodec and is window 0's prompt (up to a window minus one frame of
it). Tokens of the whole stem are decoded once at the end, starting inside the continuation's codes,
and trimmed to ``round(duration * sample_rate)`` samples.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from stems.audio import Audio, convert_audio
from stems.musicgen.chroma import CHROMA_SAMPLE_RATE, chroma_raw, one_hot_chroma
from stems.musicgen.fastloop import fast_supported, generate_window_fast
from stems.musicgen.load import max_batch
from stems.musicgen.models import TEXT_MAX_TOKENS
from stems.musicgen.plan import MUSICGEN_WINDOW_S, FrameWindow, plan_frames, section_for, window_text
from stems.musicgen.sampling import Conditions, Sampler, generate_window, steps_per_window
from stems.musicgen.types import (
    GeneratedStem,
    Geometry,
    SamplingParams,
    StemRequest,
    WindowRecord,
    WindowTokens,
)
from stems.progress import Progress
from stems.threads import machine_threads, pinned_threads

if TYPE_CHECKING:
    import torch

    from stems.musicgen.load import Loaded

log = logging.getLogger(__name__)


class _Job:
    """One request with everything derived from it before the first window."""

    def __init__(self, req: StemRequest, geo: Geometry, loaded: Loaded, context: int) -> None:
        self.req = req
        self.samples = round(req.duration * geo.sample_rate)
        hop = geo.sample_rate // geo.frame_rate
        self.total = math.ceil(self.samples / hop)
        self.prompt = (
            None
            if req.continuation is None
            else encode_continuation(loaded.model, req.continuation, geo, context)
        )
        self.prompt_frames = 0 if self.prompt is None else int(self.prompt.shape[-1])
        self.melody = None
        self.lead_in: np.ndarray | None = None  # the continuation's prompt frames, as chroma input
        if req.melody is not None:
            self.melody = convert_audio(req.melody, CHROMA_SAMPLE_RATE, 1).samples[0]
            if req.continuation is not None:
                mono = convert_audio(req.continuation, CHROMA_SAMPLE_RATE, 1).samples[0]
                self.lead_in = mono[
                    len(mono) - round(self.prompt_frames / geo.frame_rate * CHROMA_SAMPLE_RATE) :
                ]

    def melody_window(self, start: float) -> np.ndarray:
        """The chroma input of a window from ``start`` s: the melody, and before 0 (frames of the user's
        continuation) the continuation itself, as audiocraft's chroma covers its prompt with the prompt's audio."""
        assert self.melody is not None
        start += self.req.at
        chunk = melody_slice(self.melody, max(start, 0.0), self.req.melody_loop)
        if start >= 0:
            return chunk
        assert self.lead_in is not None, "a window starts before 0 only with a continuation"
        before = self.lead_in[len(self.lead_in) - round(-start * CHROMA_SAMPLE_RATE) :]
        return np.concatenate([before, chunk])[: len(chunk)]


def encode_continuation(model: Any, audio: Audio, geo: Geometry, max_frames: int) -> torch.Tensor:
    """EnCodec codes ``(K, P)`` of the last whole frames of ``audio`` (at most ``max_frames``)."""
    import torch

    hop = geo.sample_rate // geo.frame_rate
    x = convert_audio(audio, geo.sample_rate, geo.channels).samples
    frames = min(x.shape[1] // hop, max_frames)
    assert frames >= 1, "continuation shorter than one codec frame passed validation"
    tail = torch.from_numpy(np.ascontiguousarray(x[:, x.shape[1] - frames * hop :])).to(geo.device)
    codec = model.audio_encoder
    bandwidth = codec.config.target_bandwidths[0]
    with torch.inference_mode():
        per_channel = [
            codec.encode(tail[c : c + 1][None], bandwidth=bandwidth).audio_codes[0, 0]
            for c in range(geo.channels)
        ]
    if geo.channels == 1:
        return per_channel[0]
    return torch.stack(per_channel, dim=1).reshape(-1, frames)  # interleave L/R codebooks: L0 R0 L1 R1 ...


# Decode long stems in 30 s pieces (EnCodec activations at 32 kHz x 64 channels are ~2.5 GB per 300 s
# layer); each piece sees 2 s of codes either side, far beyond the decoder's convolutional receptive
# field, and only its own centre is kept.
DECODE_CHUNK_FRAMES = 1500
DECODE_CONTEXT_FRAMES = 100


def _decode_mono(codec: Any, codes: torch.Tensor) -> torch.Tensor:
    """One channel's codes ``(K, frames)`` -> samples, decoded in overlapping chunks when long."""
    import torch

    frames, hop = codes.shape[-1], int(codec.config.hop_length)
    pieces = []
    for start in range(0, frames, DECODE_CHUNK_FRAMES):
        end = min(start + DECODE_CHUNK_FRAMES, frames)
        lo, hi = max(0, start - DECODE_CONTEXT_FRAMES), min(frames, end + DECODE_CONTEXT_FRAMES)
        audio = codec.decode(codes[None, None, :, lo:hi], [None]).audio_values[0, 0]
        pieces.append(audio[(start - lo) * hop : (end - lo) * hop])
    return torch.cat(pieces)


def decode_codes(model: Any, codes: torch.Tensor, channels: int, samples: int, lead: int = 0) -> np.ndarray:
    """Audio ``(channels, samples)`` from codes ``(K, frames)``; stereo codebooks are L/R interleaved.

    The first ``lead`` frames are context: decoded so the decoder's state has settled where the wanted
    audio starts, then dropped.
    """
    import torch

    with torch.inference_mode():
        audio = [_decode_mono(model.audio_encoder, codes[c::channels]) for c in range(channels)]
    out = torch.stack(audio).float().cpu().numpy()
    skip = lead * int(model.audio_encoder.config.hop_length)
    assert out.shape[1] >= skip + samples, (out.shape, skip, samples)
    return np.ascontiguousarray(out[:, skip : skip + samples])


def melody_slice(mono: np.ndarray, start: float, loop: bool) -> np.ndarray:
    """``MUSICGEN_WINDOW_S`` of melody from ``start`` s; looped (audiocraft) or zero past its end / before 0."""
    n = int(MUSICGEN_WINDOW_S * CHROMA_SAMPLE_RATE)
    idx = np.arange(n) + round(start * CHROMA_SAMPLE_RATE)
    valid = idx >= 0 if loop else (idx >= 0) & (idx < len(mono))
    out = np.zeros(n, dtype=np.float32)
    out[valid] = mono[idx[valid] % len(mono)]
    return out


def _text_states(loaded: Loaded, texts: Sequence[str], device: str) -> tuple[torch.Tensor, list[int]]:
    """T5 states projected to the decoder width, ``(B, TEXT_MAX_TOKENS, D)`` zero past each text's end, and each
    text's length.

    A stem must not depend on what it is batched with (issue 22 point 8). Each text is encoded on its own: T5
    over a padded batch shifts a short text's states in the last bits. And every row is padded to one fixed
    width, the tokenizer's truncation length, not to the batch's longest text: CPU attention over keys padded
    to another width adds the same terms in another order, so the stem's logits moved in the last bits with
    its mates' text lengths and, some steps in, a sampled token flipped (debug-stereo: 127 of 800 tokens).
    """
    import torch

    model = loaded.model
    rows = []
    with torch.inference_mode():
        for text in texts:
            enc = loaded.tokenizer([text], truncation=True, max_length=TEXT_MAX_TOKENS, return_tensors="pt")
            ids = enc["input_ids"].to(device)
            states = model.text_encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            rows.append(model.enc_to_dec_proj(states)[0] if hasattr(model, "enc_to_dec_proj") else states[0])
    padded = rows[0].new_zeros((len(rows), TEXT_MAX_TOKENS, rows[0].shape[-1]))
    for row, states in zip(padded, rows, strict=True):
        row[: len(states)] = states
    return padded, [len(r) for r in rows]


def _padding_mask(lengths: Sequence[int], lead: int, device: str) -> torch.Tensor:
    """``(B, lead + TEXT_MAX_TOKENS)``: ones over ``lead`` positions and each text. Always a mask, even when
    no text is padded: attention with and without a mask need not round alike."""
    import torch

    mask = torch.arange(TEXT_MAX_TOKENS)[None] < torch.tensor(lengths)[:, None]
    return torch.cat([torch.ones((len(lengths), lead), dtype=torch.bool), mask], dim=1).long().to(device)


def _chroma_states(model: Any, chroma: torch.Tensor) -> torch.Tensor:
    """Chroma ``(B, frames, 12)`` projected and repeated/truncated to ``chroma_length`` (transformers)."""
    import torch

    with torch.inference_mode():
        states = model.audio_enc_to_dec_proj(chroma) if hasattr(model, "audio_enc_to_dec_proj") else chroma
    length = model.config.chroma_length
    if states.shape[1] < length:
        states = states.repeat(1, math.ceil(length / states.shape[1]), 1)
    return states[:, :length]


def null_chroma(batch: int, frames: int, device: str) -> torch.Tensor:
    """transformers' unconditional melody: every frame one-hot on pitch class 0."""
    import torch

    null = torch.zeros((batch, frames, 12), device=device)
    null[:, :, 0] = 1.0
    return null


def build_conditions(
    loaded: Loaded, texts: list[str], chroma: torch.Tensor | None, cfg: bool, device: str
) -> Conditions:
    """Text (and chroma) states for the decoder, in the decoder's dtype, with padding masks.

    The null condition is zero states. MusicGen attends to them across a mask of ones: the projections have
    no bias, so zero keys and values give exactly the output of transformers' all-zero mask, without a fully
    masked row (NaN risk on CUDA). MusicGen-melody attends to the prefix, so its null rows mask exactly
    the positions their conditional rows mask: each row then sees what it would see alone.
    """
    import torch

    dtype = loaded.half or torch.float32
    text, lengths = _text_states(loaded, texts, device)
    text = text.to(dtype)
    if not loaded.melody:
        mask = _padding_mask(lengths, 0, device)
        uncond_mask = torch.ones_like(mask) if cfg else None
        return Conditions(text, mask, torch.zeros_like(text) if cfg else None, uncond_mask, False)
    assert chroma is not None
    model = loaded.model
    cond = torch.cat([_chroma_states(model, chroma).to(dtype), text], dim=1)
    mask = _padding_mask(lengths, model.config.chroma_length, device)
    uncond = None
    if cfg:
        null = _chroma_states(model, null_chroma(len(texts), chroma.shape[1], device)).to(dtype)
        uncond = torch.cat([null, torch.zeros_like(text)], dim=1)
    pads = tuple(TEXT_MAX_TOKENS - n for n in lengths)
    return Conditions(cond, mask, uncond, mask if cfg else None, True, pads)


def _window_chroma(jobs: Sequence[_Job], start: float, device: str) -> torch.Tensor:
    import torch

    frames: list[np.ndarray | None] = []
    for job in jobs:
        if job.req.guide is not None:  # a part's chroma, as the extractor would see its audio
            frames.append(job.req.guide.window(job.req.at + start, MUSICGEN_WINDOW_S))
        elif job.melody is None:
            frames.append(None)
        else:
            frames.append(one_hot_chroma(chroma_raw(job.melody_window(start))))
    length = max((len(f) for f in frames if f is not None), default=1)
    null = null_chroma(1, length, "cpu")[0].numpy()
    stacked = np.stack([null if f is None else f for f in frames])
    return torch.from_numpy(stacked).to(device)


class _Batch:
    """Requests with equal-length prompts generated together, one batched call per window."""

    def __init__(self, geo: Geometry, loaded: Loaded, jobs: list[_Job], params: SamplingParams) -> None:
        import torch

        self.geo, self.loaded, self.jobs, self.params = geo, loaded, jobs, params
        self.sampler = Sampler(
            params.use_sampling,
            params.temperature,
            params.top_k,
            params.top_p,
            params.cfg_coef,
            params.two_step_cfg,
        )
        self.cfg = params.cfg_coef != 1.0
        fast = params.engine == "fast" and fast_supported(geo.device)
        self.decode_window = generate_window_fast if fast else generate_window
        fr = geo.frame_rate
        # Shorter stems ride along with the longest: their windows share starts with the long plan and
        # AR sampling of their frames does not depend on the extra frames generated after them.
        total = max(j.total for j in jobs)
        self.offset = jobs[0].prompt_frames
        window = round(geo.max_window * fr)
        self.plans = plan_frames(total, round(params.extend_stride * fr), window, self.offset, window - 1)
        k = loaded.model.decoder.num_codebooks
        self.tokens = torch.zeros((len(jobs), k, self.offset + total), dtype=torch.long, device=geo.device)
        for b, job in enumerate(jobs):
            if job.prompt is not None:
                self.tokens[b, :, : self.offset] = job.prompt
        self.generators = [torch.Generator(device=geo.device).manual_seed(int(j.req.seed)) for j in jobs]
        self.steps_total = sum(steps_per_window(p.new, k, geo.channels) for p in self.plans)
        self.steps_done = 0
        self.records: list[list[Any]] = [[] for _ in jobs]

    def texts(self, plan: FrameWindow) -> list[str]:
        fr = self.geo.frame_rate
        new_start, end = plan.new_start / fr, plan.end / fr
        return [
            window_text(
                j.req.prompt,
                j.req.context,
                section_for(j.req.sections, j.req.at + new_start, j.req.at + min(end, j.req.duration)),
            )
            for j in self.jobs
        ]

    def run_window(self, plan: FrameWindow, progress: Progress | None) -> tuple[Any, Any]:
        import torch

        fr = self.geo.frame_rate
        texts = self.texts(plan)
        chroma = _window_chroma(self.jobs, plan.start / fr, self.geo.device) if self.loaded.melody else None
        conditions = build_conditions(self.loaded, texts, chroma, self.cfg, self.geo.device)
        a, b = self.offset + plan.start, self.offset + plan.new_start
        prompt = self.tokens[:, :, a:b].clone() if plan.prompt > 0 else None
        half = self.loaded.half
        autocast = torch.autocast(self.geo.device.split(":")[0], dtype=half) if half is not None else None
        out = self.decode_window(
            self.loaded.model,
            prompt,
            plan.end - plan.start,
            conditions,
            self.sampler,
            self.generators,
            lambda: self._step(progress),
            autocast,
        )
        self.tokens[:, :, b : self.offset + plan.end] = out[:, :, plan.prompt :]
        self._record(plan, texts)
        return prompt, out

    def _step(self, progress: Progress | None) -> None:
        self.steps_done += 1
        if progress is not None:
            for job in self.jobs:
                progress(job.req.name, self.steps_done, self.steps_total)

    def _record(self, plan: FrameWindow, texts: list[str]) -> None:
        fr = self.geo.frame_rate
        for b, job in enumerate(self.jobs):
            if plan.new_start < job.total:  # windows past a shorter stem's end are not part of it
                end = job.req.at + min(plan.end / fr, job.req.duration)
                self.records[b].append(WindowRecord(plan.index, job.req.at + plan.start / fr, end, texts[b]))

    def run(
        self, progress: Progress | None, on_window: Callable[[WindowTokens], None] | None
    ) -> list[GeneratedStem]:
        names = tuple(j.req.name for j in self.jobs)
        stems = []
        self._run_windows(names, progress, on_window)
        # Decode from up to DECODE_CONTEXT_FRAMES into a continuation, so the stem starts where the
        # decoder's rendering of the user's audio would go on: no cold-start edge (a click) at the join.
        lead = min(self.offset, DECODE_CONTEXT_FRAMES)
        for b, job in enumerate(self.jobs):
            codes = self.tokens[b, :, self.offset - lead : self.offset + job.total]
            audio = decode_codes(self.loaded.model, codes, self.geo.channels, job.samples, lead)
            stems.append(
                GeneratedStem(job.req.name, Audio(audio, self.geo.sample_rate), tuple(self.records[b]))
            )
        return stems

    def _run_windows(
        self,
        names: tuple[str, ...],
        progress: Progress | None,
        on_window: Callable[[WindowTokens], None] | None,
    ) -> None:
        for plan in self.plans:
            log.info(
                "window %d/%d of %s: frames %d..%d",
                plan.index + 1,
                len(self.plans),
                names,
                plan.start,
                plan.end,
            )
            prompt, out = self.run_window(plan, progress)
            if on_window is not None:
                empty = np.zeros((len(self.jobs), out.shape[1], 0), dtype=np.int64)
                held = empty if prompt is None else prompt.cpu().numpy()
                on_window(WindowTokens(plan.index, names, held, out.cpu().numpy()))


TINY_HIDDEN = 256


def generation_threads(model: Any, device: str) -> int:
    """The intra-op threads a render runs on, pinned (``stems.threads``): one for tiny (debug) decoders on CPU,
    else the machine's count, never what the calling thread happens to hold.

    Tiny decoders' matmuls are far too small to split: on the shared 2-core CI machine a 20 s debug stem took
    58 s with 2 threads and 3.6 s with 1 (thread hand-offs under load dominate each ~4 ms step).
    """
    if device == "cpu" and model.config.decoder.hidden_size <= TINY_HIDDEN:
        return 1
    return machine_threads()


def _batch_limit(geo: Geometry, loaded: Loaded, params: SamplingParams) -> int:
    """Text is padded to TEXT_MAX_TOKENS: melody models hold it (and the chroma) in the self-attention cache,
    the others in the cross-attention cache, as many keys and values per position."""
    prefix = TEXT_MAX_TOKENS + (loaded.model.config.chroma_length if loaded.melody else 0)
    frames = round(geo.max_window * geo.frame_rate)
    return max_batch(loaded.model, geo.device, frames, prefix, params.cfg_coef != 1.0, geo.model_name)


def render(
    geo: Geometry,
    loaded: Loaded,
    requests: list[StemRequest],
    params: SamplingParams,
    progress: Progress | None,
    on_window: Callable[[WindowTokens], None] | None,
) -> list[GeneratedStem]:
    """Group requests by continuation length, split groups to fit memory, render each batch, on the pinned
    thread count of ``generation_threads`` (encoding, every window and decoding alike).

    A continuation gives the first window up to all of it but one frame as context (audiocraft
    ``generate_continuation``); later windows keep ``max_window - extend_stride`` s as usual.
    """
    with pinned_threads(generation_threads(loaded.model, geo.device)):
        return _render_batches(geo, loaded, requests, params, progress, on_window)


def _render_batches(
    geo: Geometry,
    loaded: Loaded,
    requests: list[StemRequest],
    params: SamplingParams,
    progress: Progress | None,
    on_window: Callable[[WindowTokens], None] | None,
) -> list[GeneratedStem]:
    context = round(geo.max_window * geo.frame_rate) - 1
    limit = _batch_limit(geo, loaded, params)
    groups: dict[int, list[_Job]] = {}
    for req in requests:
        job = _Job(req, geo, loaded, context)
        groups.setdefault(job.prompt_frames, []).append(job)
    done: dict[str, GeneratedStem] = {}
    for jobs in groups.values():
        for i in range(0, len(jobs), limit):
            for stem in _Batch(geo, loaded, jobs[i : i + limit], params).run(progress, on_window):
                done[stem.name] = stem
    return [done[r.name] for r in requests]
