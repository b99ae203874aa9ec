"""Models built in-process from a config: tiny ``debug`` models and full-size ``random:NAME`` models.

Both go through the same transformers classes as the real checkpoints
(``MusicgenForConditionalGeneration`` / ``MusicgenMelodyForConditionalGeneration``), so everything after
loading is the real code path (audiocraft ``builders.get_debug_lm_model`` is the model for this).
The debug codec keeps the real EnCodec 32 kHz geometry (upsampling ratios 8*5*4*4 = 640 samples per
frame -> 50 Hz) so durations, frame counts and window arithmetic match the real models exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stems.musicgen.models import DIMS, RANDOM_PREFIX, SAMPLE_RATE, checkpoint_dims

DEBUG_SEED = 1234
# EnCodec 32 kHz: hop 640 = 8*5*4*4 (Defossez et al. 2022, "High Fidelity Neural Audio Compression").
UPSAMPLING_RATIOS = [8, 5, 4, 4]
DEBUG_CODEBOOK_SIZE = 64
REAL_CODEBOOK_SIZE = 2048
# 4 codebooks * 50 Hz * log2(codebook size) bits -> the only bandwidth the codec offers (kbps).
DEBUG_BANDWIDTH = 4 * 50 * 6 / 1000
REAL_BANDWIDTH = 2.2
# Weight std of the debug decoder (transformers' default is 0.02): at 0.02 a 32-wide random decoder all
# but ignores its conditioning (greedy tokens with and without CFG differed in 0.25 % of positions);
# at 0.2 text, melody and CFG visibly steer it (68 % / 93 % of positions change), so tests can see them.
DEBUG_INIT_STD = 0.2
T5_BASE: dict[str, Any] = {
    "d_model": 768,
    "d_kv": 64,
    "d_ff": 3072,
    "num_layers": 12,
    "num_heads": 12,
    "vocab_size": 32128,
}


def _t5_config(debug: bool) -> Any:
    from transformers import T5Config

    if debug:
        # ByT5's byte vocabulary (256 bytes + 3 specials + 125 sentinels) so the tokenizer needs no files;
        # narrower than the decoder so the enc_to_dec_proj path runs, as with T5-base (768) in the real models.
        return T5Config(
            vocab_size=384, d_model=24, d_kv=6, d_ff=48, num_layers=2, num_heads=4, dropout_rate=0.0
        )
    return T5Config(**T5_BASE, dropout_rate=0.0, feed_forward_proj="relu")


def _encodec_config(debug: bool) -> Any:
    from transformers import EncodecConfig

    common: dict[str, Any] = {
        "sampling_rate": SAMPLE_RATE,
        "audio_channels": 1,
        "upsampling_ratios": UPSAMPLING_RATIOS,
        "normalize": False,
        "chunk_length_s": None,
        "overlap": None,
        "use_causal_conv": False,
        "use_conv_shortcut": False,
        "compress": 2,
        "num_residual_layers": 1,
        "pad_mode": "reflect",
    }
    if debug:
        return EncodecConfig(
            **common,
            num_filters=4,
            hidden_size=16,
            codebook_size=DEBUG_CODEBOOK_SIZE,
            codebook_dim=16,
            num_lstm_layers=1,
            target_bandwidths=[DEBUG_BANDWIDTH],
        )
    return EncodecConfig(
        **common,
        num_filters=64,
        hidden_size=128,
        codebook_size=REAL_CODEBOOK_SIZE,
        codebook_dim=128,
        num_lstm_layers=2,
        target_bandwidths=[REAL_BANDWIDTH],
    )


def _decoder_kwargs(debug: bool, channels: int, size: str = "small") -> dict[str, Any]:
    vocab = DEBUG_CODEBOOK_SIZE if debug else REAL_CODEBOOK_SIZE
    common = {
        "vocab_size": vocab,
        "pad_token_id": vocab,
        "bos_token_id": vocab,
        "num_codebooks": 4 * channels,
        "audio_channels": channels,
        "max_position_embeddings": 2048,
        "dropout": 0.0,
        "activation_function": "gelu",
    }
    if debug:
        return dict(
            common,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            ffn_dim=64,
            initializer_factor=DEBUG_INIT_STD,
        )
    dims = DIMS[size]
    return dict(
        common,
        hidden_size=dims.hidden_size,
        num_hidden_layers=dims.num_hidden_layers,
        num_attention_heads=dims.num_attention_heads,
        ffn_dim=dims.ffn_dim,
    )


def build_config(debug: bool, channels: int, melody: bool, size: str = "small") -> Any:
    """A full MusicgenConfig / MusicgenMelodyConfig from parts (no network)."""
    from transformers import (
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenMelodyConfig,
        MusicgenMelodyDecoderConfig,
    )

    text, codec = _t5_config(debug), _encodec_config(debug)
    kwargs = _decoder_kwargs(debug, channels, size)
    config: Any
    if melody:
        decoder = MusicgenMelodyDecoderConfig(**kwargs)
        # 235 chroma frames = 30 s at 32 kHz with hop 4096 (audiocraft ChromaStemConditioner).
        config = MusicgenMelodyConfig(
            text_encoder=text, audio_encoder=codec, decoder=decoder, num_chroma=12, chroma_length=235
        )
    else:
        config = MusicgenConfig(
            text_encoder=text, audio_encoder=codec, decoder=MusicgenDecoderConfig(**kwargs)
        )
    if debug:
        config.initializer_factor = DEBUG_INIT_STD  # the melody model's chroma/text projections
    config.decoder_start_token_id = kwargs["bos_token_id"]
    config.pad_token_id = kwargs["pad_token_id"]
    return config


def model_class(melody: bool) -> Any:
    from transformers import MusicgenForConditionalGeneration, MusicgenMelodyForConditionalGeneration

    return MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration


def _calibration_audio(gen: Any, examples: int = 16, seconds: float = 1.0) -> Any:
    """Seeded noise at several gains and sines at several pitches, ``(examples, 1, samples)``."""
    import torch

    n = int(seconds * SAMPLE_RATE)
    t = torch.arange(n) / SAMPLE_RATE
    gains = 0.05 + 0.45 * torch.rand((examples, 1, 1), generator=gen)
    freqs = 100 * 2 ** (4.3 * torch.rand((examples, 1, 1), generator=gen))
    noise = torch.randn((examples, 1, n), generator=gen)
    sines = torch.sin(2 * torch.pi * freqs * t)
    is_noise = torch.arange(examples).reshape(-1, 1, 1) % 2 == 0
    return gains * torch.where(is_noise, noise, sines)


def _standardise_encoder(codec: Any, audio: Any) -> None:
    """Rescale the encoder's last conv so its outputs have zero mean and unit std per channel.

    A random encoder's output is almost a constant bias (std over time ~0.01), so codes seeded from it
    would all decode alike; standardised latents spread the codebooks and so the decoded audio.
    """
    out = codec.encoder(audio)
    mean, std = out.mean(dim=(0, 2)), out.std(dim=(0, 2)).clamp_min(1e-8)
    conv = codec.encoder.layers[-1].conv
    conv.bias.copy_((conv.bias - mean) / std)
    if hasattr(conv, "parametrizations"):  # weight norm: weight = g * v / |v|, scale the gain g
        conv.parametrizations.weight.original0.div_(std.reshape(-1, 1, 1))
    else:
        conv.weight.div_(std.reshape(-1, 1, 1))


def randomise_codebooks(model: Any, seed: int) -> None:
    """Random-init EnCodec codebooks are all zeros (every code decodes alike): seed them from data.

    Like EnCodec's k-means initialisation (Defossez et al. 2022, sec. 3.2), each residual codebook is
    filled with encoder outputs (residuals of the previous codebooks) of seeded calibration audio, plus
    a little jitter, so different audio encodes to different codes and different codes decode differently.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    codec = model.audio_encoder
    audio = _calibration_audio(gen)
    _standardise_encoder(codec, audio)
    residual = codec.encoder(audio).transpose(1, 2).reshape(-1, codec.config.codebook_dim)
    for layer in codec.quantizer.layers:
        book = layer.codebook
        picks = torch.randint(0, residual.shape[0], (book.embed.shape[0],), generator=gen)
        jitter = torch.randn(book.embed.shape, generator=gen) * residual.std() * 0.1
        values = (residual[picks] + jitter).to(book.embed.dtype)
        book.embed.copy_(values)
        book.embed_avg.copy_(values)
        residual = residual - book.embed[book.quantize(residual)]


def _set_generation_tokens(model: Any) -> None:
    pad = model.config.decoder.pad_token_id
    model.generation_config.pad_token_id = pad
    model.generation_config.decoder_start_token_id = pad
    model.generation_config.bos_token_id = pad


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' config warning that pad/bos id == vocab size: that is MusicGen's design
    (the special token sits just past the codebook entries) and the real checkpoints carry it too."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def build_debug(name: str) -> tuple[Any, Any]:
    """The tiny offline model and its byte-level tokenizer, identical for every call (fixed seed)."""
    from transformers import ByT5Tokenizer

    channels = 2 if name == "debug-stereo" else 1
    melody = name == "debug-melody"
    with quiet_transformers():
        config = build_config(True, channels, melody)
    return _seeded_model(config, melody), ByT5Tokenizer()


def build_random(name: str) -> tuple[Any, Any]:
    """``random:facebook/...``: the published architecture with random weights (speed tests, no download).

    The tokenizer is byte-level (T5-base's SentencePiece vocabulary is a download); ids stay below
    T5-base's 32128 so the embedding lookup is valid.
    """
    from transformers import ByT5Tokenizer

    base = name[len(RANDOM_PREFIX) :]
    dims, channels, melody = checkpoint_dims(base)
    size = next(k for k, v in DIMS.items() if v == dims)
    with quiet_transformers():
        config = build_config(False, channels, melody, size)
    return _seeded_model(config, melody), ByT5Tokenizer()


def _seeded_model(config: Any, melody: bool) -> Any:
    """The model of ``config`` with seeded random weights and codebooks that give distinct audio."""
    import torch

    with quiet_transformers(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(DEBUG_SEED)
        model = model_class(melody)(config)
    with torch.no_grad():
        randomise_codebooks(model, DEBUG_SEED)
    _set_generation_tokens(model)
    return model.eval()
