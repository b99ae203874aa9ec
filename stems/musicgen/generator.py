"""MusicGen stem generation: the ``Generator`` facade and input validation (request types: ``stems.musicgen.types``).

One ``Generator`` per (model, device) loads the model once (``get_generator`` caches it per process).
``generate`` renders every request: long stems in windows that continue from the previous window's
tokens (audiocraft's extension), melody chroma per window, a section-aware text per window, and
requests sharing the model batched in one call per window. See ``stems.musicgen.windows``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import numpy as np

from stems.audio import Audio, check_finite
from stems.errors import AudioInputError, UserInputError
from stems.musicgen.models import model_info
from stems.musicgen.plan import MUSICGEN_WINDOW_S, check_stride
from stems.musicgen.types import ENGINES, GeneratedStem, Geometry, SamplingParams, StemRequest, WindowTokens
from stems.progress import Progress

MIN_DURATION = 0.5  # seconds; below this the codebook delay pattern does not fit in one window
MIN_MELODY_SECONDS = 1.0  # two chroma hops of 4096 samples at 32 kHz, with margin
MIN_CONTINUATION_SECONDS = 0.5  # 25 EnCodec frames of context
# -60 dBFS RMS: quieter than dither on 16-bit audio; such a melody or prompt carries no pitch or timbre.
SILENCE_RMS = 1e-3


def validate_params(params: SamplingParams, max_window: float = MUSICGEN_WINDOW_S) -> None:
    """Sampling values the user can get wrong, checked before any model work."""
    check_stride(params.extend_stride, max_window)
    checks = [
        (math.isfinite(params.temperature) and params.temperature >= 0, "temperature", ">= 0 (0 = greedy)"),
        (params.top_k >= 0, "top_k", ">= 0 (0 disables top-k)"),
        (0.0 <= params.top_p <= 1.0, "top_p", "between 0 and 1 (0 disables nucleus sampling)"),
        (math.isfinite(params.cfg_coef) and params.cfg_coef >= 0, "cfg_coef", ">= 0 (1 disables guidance)"),
        (params.engine in ENGINES, "engine", " or ".join(ENGINES)),
    ]
    for ok, field, allowed in checks:
        if not ok:
            raise UserInputError(
                f"generation.{field} = {getattr(params, field)!r} is not allowed; use {allowed}"
            )


def _rms(audio: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(audio.samples, dtype=np.float64)))) if audio.num_samples else 0.0


def _check_audio(audio: Audio, what: str, min_seconds: float) -> None:
    if audio.num_samples == 0:
        raise AudioInputError(f"{what}: audio is empty; give a file with at least {min_seconds:g} s of sound")
    check_finite(audio, what)
    if audio.duration < min_seconds:
        raise AudioInputError(
            f"{what}: audio is {audio.duration:.2f} s long; at least {min_seconds:g} s is needed. Use a longer file"
        )
    if _rms(audio) < SILENCE_RMS:
        raise AudioInputError(
            f"{what}: audio is silent (RMS {20 * math.log10(max(_rms(audio), 1e-12)):.0f} dBFS, below -60 dBFS); "
            "check the file or its gain"
        )


def _check_request(req: StemRequest, takes_melody: bool, model: str) -> None:
    where = f"stem {req.name!r}"
    if not req.prompt.strip():
        raise UserInputError(f"{where}: prompt is empty; describe the stem, e.g. `prompt: tight funk drums`")
    if not (math.isfinite(req.duration) and req.duration >= MIN_DURATION):
        raise UserInputError(
            f"{where}: duration {req.duration!r} s is not allowed; use at least {MIN_DURATION} s"
        )
    if req.melody is not None:
        if not takes_melody:
            raise UserInputError(
                f"{where}: has a melody but model {model!r} does not take one; use a melody model "
                "(facebook/musicgen-melody, facebook/musicgen-stereo-melody, debug-melody) or drop the melody"
            )
        check_melody(req.melody, where, req.duration, req.melody_loop)
    if req.guide is not None and (req.melody is not None or not takes_melody):
        raise UserInputError(
            f"{where}: a chroma guide needs a melody model and no melody audio (model {model!r}); "
            "the pipeline guides only melody models' stems without a melody of their own"
        )
    if req.continuation is not None:
        check_continuation(req.continuation, where)


def check_melody(melody: Audio, where: str, duration: float, loop: bool) -> None:
    """A melody must be sound, long enough for chroma, and cover the stem unless it loops."""
    _check_audio(melody, f"{where} melody", MIN_MELODY_SECONDS)
    if not loop and melody.duration + 1e-9 < duration:
        raise AudioInputError(
            f"{where}: melody is {melody.duration:.2f} s but the stem is {duration:g} s and "
            "melody_loop is false; give a longer melody or set melody_loop: true to repeat it"
        )


def check_continuation(continuation: Audio, where: str) -> None:
    _check_audio(continuation, f"{where} continuation", MIN_CONTINUATION_SECONDS)


def validate_requests(
    model: str, requests: Sequence[StemRequest], params: SamplingParams | None = None
) -> None:
    """Every user-fixable problem in ``requests``, raised as UserInputError without loading the model."""
    info = model_info(model)
    names = [r.name for r in requests]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserInputError(f"stem names must be unique; repeated: {', '.join(duplicates)}")
    for req in requests:
        if not req.name.strip():
            raise UserInputError("a stem has an empty name; give every stem a `name:`")
        _check_request(req, info.takes_melody, model)
    if params is not None:
        validate_params(params)


class Generator:
    """MusicGen loaded once; ``generate`` renders stems of any length. Heavy imports happen on load."""

    def __init__(self, model: str, device: str | None = None, *, max_window: float | None = None) -> None:
        from stems.musicgen.load import load_model, resolve_device

        self._info = model_info(model)
        self._device = resolve_device(device)
        self._loaded = load_model(model, self._device)
        self._max_window = MUSICGEN_WINDOW_S if max_window is None else float(max_window)
        if not (0 < self._max_window <= MUSICGEN_WINDOW_S):
            raise UserInputError(f"max_window must be in (0, {MUSICGEN_WINDOW_S:g}] s, got {max_window!r}")
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return self._info.name

    @property
    def device(self) -> str:
        return self._device

    @property
    def sample_rate(self) -> int:
        return int(self._loaded.model.config.audio_encoder.sampling_rate)

    @property
    def channels(self) -> int:
        return int(self._loaded.model.config.decoder.audio_channels)

    @property
    def frame_rate(self) -> int:
        return int(self._loaded.model.config.audio_encoder.frame_rate)

    @property
    def max_window(self) -> float:
        return self._max_window

    @property
    def geometry(self) -> Geometry:
        return Geometry(
            self.model_name, self.device, self.sample_rate, self.frame_rate, self.channels, self.max_window
        )

    @property
    def takes_melody(self) -> bool:
        return self._loaded.melody

    def generate(
        self,
        requests: Sequence[StemRequest],
        params: SamplingParams,
        progress: Progress | None = None,
        on_window: Callable[[WindowTokens], None] | None = None,
    ) -> list[GeneratedStem]:
        """Render ``requests`` (same order out), batched: one call per window for all requests whose
        continuation prompts have the same length (shorter stems ride along with the longest one)."""
        from stems.musicgen.windows import render

        validate_requests(self.model_name, requests)
        validate_params(params, self._max_window)
        with self._lock:  # one model, one render at a time: the KV caches are per call but memory is not
            return render(self.geometry, self._loaded, list(requests), params, progress, on_window)


_CACHE: dict[tuple[str, str | None], Generator] = {}
_CACHE_LOCK = threading.Lock()


def get_generator(model: str, device: str | None = None) -> Generator:
    """The process-wide Generator for (model, device), loaded on first use."""
    key = (model, device)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = Generator(model, device)
        return _CACHE[key]
