"""The fast decode step (issue 16): one MusicGen decoder step over a static KV cache, written over the
model's own weights, without transformers' per-step wrappers.

Per window the KV cache is preallocated for the whole window: self-attention keys and values for every
position the window will hold (the prefill's are copied in once), cross-attention keys and values as the
prefill computed them. Each step writes one position in place (no ``torch.cat`` growth) and every mask is
built before the first step, so a step never asks the device anything.

Two forms of the same step:

* ``exact`` (CPU): attention reads the filled part of the cache, a view, so every kernel sees the shapes
  transformers' eager step gives it and the logits are bit-identical (``tests/stems/musicgen/test_fast_decode.py``).
* ``static`` (CUDA graphs): shapes never change; attention reads the whole window under a mask of the
  filled positions and the position is a device tensor, so the step can be captured once and replayed.
  The masked softmax adds zeros in another order: logits agree to float rounding, not bit for bit.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class _Layer:
    norm1: tuple[torch.Tensor, torch.Tensor]
    qkv: torch.Tensor  # q, k and v projections stacked: one matmul (bit-identical to three on CPU BLAS)
    out: torch.Tensor
    cross_norm: tuple[torch.Tensor, torch.Tensor] | None
    cross_q: torch.Tensor | None
    cross_out: torch.Tensor | None
    norm2: tuple[torch.Tensor, torch.Tensor]
    fc1: torch.Tensor
    fc2: torch.Tensor


@dataclass(frozen=True)
class DecoderWeights:
    """The decoder's weights in the layout the fast step reads; built once per model (``weights_of``)."""

    embed: torch.Tensor  # every codebook's embedding table, stacked: (K * (V + 1), D)
    offsets: torch.Tensor  # (K,): where codebook c's table starts in ``embed``
    layers: tuple[_Layer, ...]
    final_norm: tuple[torch.Tensor, torch.Tensor]
    heads: torch.Tensor  # the K LM heads stacked: (K * V, D)
    codebooks: int
    attention_heads: int
    head_dim: int
    eps: float


# Weights are detached: autocast caches its casts of leaf tensors that require grad (the norms' fp16 ->
# fp32), and a cast cached inside a CUDA graph capture is freed when autocast exits while the graph still
# reads it (PyTorch "CUDA Graphs": use autocast with cache_enabled=False, or no cached casts).
def _w(module: Any) -> torch.Tensor:
    weight: torch.Tensor = module.weight.detach()
    return weight


def _norm(module: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return module.weight.detach(), module.bias.detach()


def _layer(layer: Any) -> _Layer:
    attn = layer.self_attn
    cross = getattr(layer, "encoder_attn", None)  # MusicGen-melody has no cross-attention
    return _Layer(
        _norm(layer.self_attn_layer_norm),
        torch.cat([_w(attn.q_proj), _w(attn.k_proj), _w(attn.v_proj)]),
        _w(attn.out_proj),
        None if cross is None else _norm(layer.encoder_attn_layer_norm),
        None if cross is None else _w(cross.q_proj),
        None if cross is None else _w(cross.out_proj),
        _norm(layer.final_layer_norm),
        _w(layer.fc1),
        _w(layer.fc2),
    )


def _check_supported(decoder: Any) -> None:
    cfg = decoder.config
    assert cfg.activation_function == "gelu" and not cfg.scale_embedding, (
        "fast step assumes MusicGen's config"
    )
    assert decoder.model.decoder.layers[0].self_attn.q_proj.bias is None, "MusicGen projections have no bias"


def build_weights(decoder: Any) -> DecoderWeights:
    """Views and stacks of ``decoder``'s (MusicgenForCausalLM / MusicgenMelodyForCausalLM) weights."""
    _check_supported(decoder)
    inner = decoder.model.decoder
    tables = [_w(e) for e in inner.embed_tokens]
    sizes = torch.tensor([0] + [t.shape[0] for t in tables[:-1]], device=tables[0].device)
    with torch.no_grad():
        return DecoderWeights(
            torch.cat(tables),
            torch.cumsum(sizes, 0),
            tuple(_layer(layer) for layer in inner.layers),
            _norm(inner.layer_norm),
            torch.cat([_w(h) for h in decoder.lm_heads]),
            len(decoder.lm_heads),
            inner.layers[0].self_attn.num_heads,
            inner.layers[0].self_attn.head_dim,
            float(inner.layer_norm.eps),
        )


# One stacked copy per decoder, dropped with it: stacking stereo-large's weights copies ~1 GB.
_WEIGHTS: weakref.WeakKeyDictionary[Any, DecoderWeights] = weakref.WeakKeyDictionary()


def weights_of(decoder: Any) -> DecoderWeights:
    if decoder not in _WEIGHTS:
        _WEIGHTS[decoder] = build_weights(decoder)
    return _WEIGHTS[decoder]


class StaticKV:
    """One condition stream's KV cache for a window: self-attention preallocated to ``capacity`` positions
    with the prefill's copied in, cross-attention (MusicGen) as the prefill computed it.

    A layer's self-attention keys and values share one buffer ``(2, rows, heads, capacity, head_dim)`` so
    a step writes both with one copy.
    """

    def __init__(self, cache: Any, capacity: int) -> None:
        self_cache = cache.self_attention_cache.layers
        first = self_cache[0].keys
        self.filled = int(first.shape[2])
        assert capacity >= self.filled, (capacity, self.filled)
        shape = (2, first.shape[0], first.shape[1], capacity, first.shape[3])
        # Zeros, not empty: the static form attends over every position under a mask, and a masked weight of
        # 0 times leftover memory that happens to hold inf or NaN is NaN (seen as run-to-run token changes).
        self.self_kv = [first.new_zeros(shape) for _ in self_cache]
        for layer, kv in zip(self_cache, self.self_kv, strict=True):
            kv[0, :, :, : self.filled].copy_(layer.keys)
            kv[1, :, :, : self.filled].copy_(layer.values)
        cross = cache.cross_attention_cache.layers
        has_cross = len(cross) > 0 and getattr(cross[0], "keys", None) is not None
        self.cross_keys = [c.keys for c in cross] if has_cross else None
        self.cross_values = [c.values for c in cross] if has_cross else None
        self.capacity = capacity


@dataclass
class StepInputs:
    """What one stream's step needs beyond the token ids; masks are built once per window.

    ``self_mask`` is the melody prefix's padding mask ``(rows, 1, 1, capacity)`` (None: no row padded),
    ``cross_mask`` the text padding mask (None: no row padded), ``shift`` each row's padded prefix
    positions (melody), ``valid`` (static form) a ``(capacity,)`` range to compare the position with.
    """

    kv: StaticKV
    table: torch.Tensor  # sinusoidal positions (max_positions, D)
    self_mask: torch.Tensor | None
    cross_mask: torch.Tensor | None
    shift: torch.Tensor | None
    valid: torch.Tensor | None = None


def _positions(inp: StepInputs, at: int | torch.Tensor) -> torch.Tensor:
    """Position embeddings of cache index ``at``: ``(1, D)`` or, with row shifts, ``(rows, 1, D)``."""
    if inp.shift is None:
        if isinstance(at, int):
            return inp.table[at : at + 1]  # (1, D): broadcast over rows as transformers' is
        return F.embedding(at.reshape(1, 1), inp.table)
    return F.embedding((at - inp.shift)[:, None], inp.table)


def _attend_self(inp: StepInputs, layer: int, qkv: torch.Tensor, at: int | torch.Tensor) -> torch.Tensor:
    """Write this position's keys and values ``qkv[1:]`` into the cache and attend ``qkv[0]`` over it."""
    cache, scale = inp.kv.self_kv[layer], qkv.shape[-1] ** -0.5
    if isinstance(at, int):  # exact form: write in place, read the filled view
        cache[:, :, :, at : at + 1].copy_(qkv[1:])
        seen = cache[:, :, :, : at + 1]
        mask = None if inp.self_mask is None else inp.self_mask[..., : at + 1]
        return F.scaled_dot_product_attention(qkv[0], seen[0], seen[1], attn_mask=mask, scale=scale)
    cache.index_copy_(3, at.reshape(1), qkv[1:])
    assert inp.valid is not None
    mask = (inp.valid <= at)[None, None, None]
    if inp.self_mask is not None:
        mask = mask & inp.self_mask
    return F.scaled_dot_product_attention(qkv[0], cache[0], cache[1], attn_mask=mask, scale=scale)


def _heads(x: torch.Tensor, rows: int, head_dim: int) -> torch.Tensor:
    return x.view(rows, 1, -1, head_dim).transpose(1, 2)


def _merge(x: torch.Tensor, rows: int) -> torch.Tensor:
    return x.transpose(1, 2).reshape(rows, 1, -1)


def _layer_step(
    w: DecoderWeights, i: int, h: torch.Tensor, inp: StepInputs, at: int | torch.Tensor
) -> torch.Tensor:
    lw, rows, hd = w.layers[i], h.shape[0], w.head_dim
    x = F.layer_norm(h, (h.shape[-1],), *lw.norm1, w.eps)
    # (rows, 1, 3D) -> (3, rows, heads, 1, head_dim): q, k, v in transformers' (B, heads, T, head_dim) form
    qkv = F.linear(x, lw.qkv).view(rows, 1, 3, w.attention_heads, hd).permute(2, 0, 3, 1, 4)
    a = _attend_self(inp, i, qkv, at)
    h = h + F.linear(_merge(a, rows), lw.out)
    if inp.kv.cross_keys is not None and inp.kv.cross_values is not None:
        assert lw.cross_norm is not None and lw.cross_q is not None and lw.cross_out is not None
        x = F.layer_norm(h, (h.shape[-1],), *lw.cross_norm, w.eps)
        a = F.scaled_dot_product_attention(
            _heads(F.linear(x, lw.cross_q), rows, hd),
            inp.kv.cross_keys[i],
            inp.kv.cross_values[i],
            attn_mask=inp.cross_mask,
            scale=hd**-0.5,
        )
        h = h + F.linear(_merge(a, rows), lw.cross_out)
    x = F.layer_norm(h, (h.shape[-1],), *lw.norm2, w.eps)
    return h + F.linear(F.gelu(F.linear(x, lw.fc1)), lw.fc2)


def step_logits(
    w: DecoderWeights, ids: torch.Tensor, inp: StepInputs, at: int | torch.Tensor
) -> torch.Tensor:
    """Logits ``(rows, K, V)`` for the tokens ``ids`` ``(rows, K)`` written at cache index ``at``.

    ``at`` is an int in the exact form, a 0-d device tensor in the static form (see the module docstring).
    The operations and their order are transformers' (``MusicgenDecoder.forward``, ``MusicgenDecoderLayer``):
    the codebook embeddings summed in codebook order, positions added, pre-norm layers, final norm, heads.
    """
    rows = ids.shape[0]
    h = F.embedding(ids + w.offsets, w.embed).sum(dim=1, keepdim=True)
    h = h + _positions(inp, at)
    for i in range(len(w.layers)):
        h = _layer_step(w, i, h, inp, at)
    h = F.layer_norm(h, (h.shape[-1],), *w.final_norm, w.eps)
    return F.linear(h, w.heads).view(rows, w.codebooks, -1)


def position_table(decoder: Any, length: int) -> torch.Tensor:
    """The decoder's sinusoidal table, grown as transformers grows it when ``length`` exceeds it."""
    table = decoder.model.decoder.embed_positions
    if length > table.weights.size(0):
        table.make_weights(length, table.embedding_dim)
    weights: torch.Tensor = table.weights
    return weights
