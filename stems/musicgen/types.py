"""What a MusicGen render takes and gives: sampling settings, stem requests, generated stems and window records,
and the geometry of a loaded model. Plain values: the window renderer and the ``Generator`` facade both use them,
and neither imports the other for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from stems.audio import Audio
from stems.musicgen.plan import SectionSpan

# Decode engines: ``eager`` runs every step through transformers (the reference), ``fast`` through the static
# KV cache step of ``stems.musicgen.fast`` (token-identical on CPU, CUDA graphs on a GPU; issue 16).
ENGINES = ("eager", "fast")
DEFAULT_ENGINE = "fast"


@dataclass(frozen=True)
class SamplingParams:
    """Sampling as audiocraft's ``set_generation_params``; ``extend_stride`` s of new audio per window."""

    use_sampling: bool = True
    temperature: float = 1.0
    top_k: int = 250
    top_p: float = 0.0
    cfg_coef: float = 3.0
    two_step_cfg: bool = False
    extend_stride: float = 18.0
    engine: str = DEFAULT_ENGINE


class ChromaGuide(Protocol):
    """A melody condition given as chroma rather than audio (a stem's part in the score, ``stems.score``).

    ``window(start, seconds)`` is the one-hot chroma ``(frames, 12)`` float32 the model receives for the window
    from ``start`` s, with the extractor's frames (``stems.musicgen.chroma.chroma_frames(seconds)``).
    """

    def window(self, start: float, seconds: float) -> np.ndarray: ...


@dataclass(frozen=True)
class StemRequest:
    """One stem to generate. ``melody`` (audio) or ``guide`` (chroma) needs a melody model, never both;
    ``continuation`` is audio the stem follows.

    ``at`` is where the request's audio starts on the stem's time line, seconds (a section redo: the stem's audio
    from ``at`` on, its continuation the audio before): ``sections``, ``melody`` and ``guide`` are read at stem
    time, ``at + t``, and its windows are recorded there."""

    name: str
    prompt: str
    duration: float
    seed: int
    context: str = ""
    sections: tuple[SectionSpan, ...] = ()
    melody: Audio | None = None
    melody_loop: bool = True
    continuation: Audio | None = None
    guide: ChromaGuide | None = None
    at: float = 0.0


@dataclass(frozen=True)
class WindowRecord:
    """The span of one window on the stem's time line (seconds; prompt included) and its text condition."""

    index: int
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class GeneratedStem:
    """Raw generated audio at the model's rate and channels, exactly ``round(duration * rate)`` samples."""

    name: str
    audio: Audio
    windows: tuple[WindowRecord, ...]


@dataclass(frozen=True)
class WindowTokens:
    """What one batched window consumed and produced (for tests and debugging): codes ``(B, K, frames)``."""

    index: int
    names: tuple[str, ...]
    prompt: np.ndarray
    tokens: np.ndarray


@dataclass(frozen=True)
class Geometry:
    """What the window renderer needs to know about a loaded model besides its weights."""

    model_name: str
    device: str
    sample_rate: int
    frame_rate: int
    channels: int
    max_window: float
