"""Audio -> notes: basic-pitch (ONNX) for pitched stems, an onset classifier for drums.

basic-pitch (Bittner et al., "A Lightweight Instrument-Agnostic Model for Polyphonic Note
Transcription and Multipitch Estimation", ICASSP 2022) ships its weights in its wheel; the ONNX
graph is loaded once per process with onnxruntime. Audio goes in as arrays: we resample to the
model's 22050 Hz mono through ``convert_audio`` and replicate ``basic_pitch.inference``'s windowing
(2 s windows, 30 overlapping frames) instead of reading a file, then reuse
``basic_pitch.note_creation`` for note extraction. The per-family settings table lives in
``stems.transcription.settings``.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from stems.audio import Audio, check_finite, convert_audio, read_audio
from stems.errors import ModelUnavailableError
from stems.instruments import resolve_instrument
from stems.licenses import License
from stems.progress import Progress
from stems.transcription.midi import (
    DEFAULT_TEMPO,
    Note,
    NoteTrack,
    PitchBend,
    TempoMap,
    quantize_notes,
    write_midi,
)
from stems.transcription.notes import (
    FFT_HOP,
    MODEL_SAMPLE_RATE,
    notes_from_posteriors,
    quiet_basic_pitch_import,
)
from stems.transcription.settings import (
    INSTRUMENT_FAMILIES,
    TranscriptionSettings,
    is_silent,
    settings_for,
)

__all__ = [
    "INSTRUMENT_FAMILIES",
    "Note",
    "NoteTrack",
    "PitchBend",
    "TempoMap",
    "Transcriber",
    "TranscriptionSettings",
    "get_transcriber",
    "settings_for",
    "transcribe_file",
]

logger = logging.getLogger(__name__)


# 2 s windows of 43844 samples (basic_pitch.constants).
WINDOW_SAMPLES = MODEL_SAMPLE_RATE * 2 - FFT_HOP
# basic_pitch.inference.run_inference: windows overlap by 30 output frames; half is cut from each side.
OVERLAP_FRAMES = 30
OVERLAP_SAMPLES = OVERLAP_FRAMES * FFT_HOP
HOP_SAMPLES = WINDOW_SAMPLES - OVERLAP_SAMPLES
# basic_pitch.constants.ANNOTATIONS_FPS: the whole number of frames per second basic-pitch trims the unwrapped
# output with (the true rate is notes.FRAMES_PER_SECOND, 86.13), kept so the frame count matches basic-pitch's.
ANNOTATIONS_FPS = MODEL_SAMPLE_RATE // FFT_HOP
# Windows per onnxruntime call: batching amortises the per-call overhead; 16 windows ~ 26 s of audio.
BATCH_WINDOWS = 16
_ONNX_INPUT = "serving_default_input_2:0"
_ONNX_OUTPUTS = {
    "note": "StatefulPartitionedCall:1",
    "onset": "StatefulPartitionedCall:2",
    "contour": "StatefulPartitionedCall:0",
}
# The pitched model: basic-pitch's ICASSP 2022 weights, shipped in its wheel under its Apache-2.0 licence
# (spotify/basic-pitch LICENSE). Drums need no weights: our own onset classifier (stems.transcription.drums).
MODEL_NAME = "basic-pitch"
MODEL_LICENSE = "Apache-2.0"


def model_license() -> License:
    """The licence of the transcription model's weights."""
    return License(MODEL_LICENSE, "basic-pitch's LICENSE")


def default_model_path() -> Path:
    """The ONNX file of the ICASSP 2022 model inside the basic-pitch wheel."""
    with quiet_basic_pitch_import():
        import basic_pitch

    return Path(basic_pitch.__file__).parent / "saved_models" / "icassp_2022" / "nmp.onnx"


def window_audio(mono: np.ndarray) -> np.ndarray:
    """basic_pitch.inference.get_audio_input on an array: half an overlap of zeros in front, then
    windows of ``WINDOW_SAMPLES`` every ``HOP_SAMPLES``, the last one zero-padded; (n, WINDOW, 1)."""
    padded = np.concatenate([np.zeros(OVERLAP_SAMPLES // 2, dtype=np.float32), mono.astype(np.float32)])
    starts = range(0, padded.shape[0], HOP_SAMPLES)
    out = np.zeros((len(starts), WINDOW_SAMPLES, 1), dtype=np.float32)
    for k, i in enumerate(starts):
        chunk = padded[i : i + WINDOW_SAMPLES]
        out[k, : chunk.shape[0], 0] = chunk
    return out


def onnx_batches(windows: int) -> int:
    """How many ONNX calls a stem of ``windows`` windows takes (:data:`BATCH_WINDOWS` windows a call)."""
    return -(-windows // BATCH_WINDOWS)


def _model_input(audio: Audio) -> tuple[int, np.ndarray]:
    """The model's mono samples count and their windows."""
    mono = convert_audio(audio, MODEL_SAMPLE_RATE, 1).samples[0]
    return mono.shape[0], window_audio(mono)


def unwrap(output: np.ndarray, num_samples: int) -> np.ndarray:
    """basic_pitch.inference.unwrap_output: drop half the overlap from each side of every window,
    concatenate, trim to the input's frame count."""
    half = OVERLAP_FRAMES // 2
    kept = output[:, half:-half, :]
    frames = kept.reshape(-1, kept.shape[2])
    n_frames = int(np.floor(num_samples * (ANNOTATIONS_FPS / MODEL_SAMPLE_RATE)))
    return frames[:n_frames]


class Transcriber:
    """Facade over basic-pitch's ONNX model plus the drum onset classifier.

    The model is loaded on first use and kept; one instance per process (:func:`get_transcriber`).
    """

    def __init__(self, model_path: Path | None = None, progress: Progress | None = None) -> None:
        self._model_path = Path(model_path) if model_path is not None else None
        self._session: Any = None
        self._lock = threading.Lock()
        self._progress = progress

    @property
    def sample_rate(self) -> int:
        return MODEL_SAMPLE_RATE

    @property
    def channels(self) -> int:
        return 1

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                path = self._model_path or default_model_path()
                if not path.is_file():
                    raise ModelUnavailableError(
                        f"basic-pitch ONNX model not found at {path}; basic-pitch ships it in its wheel: "
                        "reinstall basic-pitch (pip install --no-deps basic-pitch) or pass an existing .onnx path"
                    )
                options = ort.SessionOptions()
                options.log_severity_level = 3  # errors only: the graph's shape-inference notes are noise
                self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                logger.info("loaded basic-pitch ONNX model from %s", path)
        return self._session

    def posteriors(self, audio: Audio, progress: Progress | None = None) -> dict[str, np.ndarray]:
        """Model output for the whole stem: ``note``/``onset`` (frames, 88), ``contour`` (frames, 264).
        Reports ``("basic-pitch", batches done, batches)`` after each ONNX batch."""
        num_samples, windows = _model_input(audio)
        return self._posteriors(num_samples, windows, progress, "basic-pitch", onnx_batches(windows.shape[0]))

    def _posteriors(
        self, num_samples: int, windows: np.ndarray, progress: Progress | None, label: str, total: int
    ) -> dict[str, np.ndarray]:
        session = self._load()
        parts: dict[str, list[np.ndarray]] = {k: [] for k in _ONNX_OUTPUTS}
        names = list(_ONNX_OUTPUTS.values())
        for done, b in enumerate(range(0, windows.shape[0], BATCH_WINDOWS), start=1):
            results = session.run(names, {_ONNX_INPUT: windows[b : b + BATCH_WINDOWS]})
            for key, value in zip(_ONNX_OUTPUTS, results):
                parts[key].append(value)
            self._report(progress, label, done, total)
        return {k: unwrap(np.concatenate(v), num_samples) for k, v in parts.items()}

    def _report(self, progress: Progress | None, label: str, done: int, total: int) -> None:
        """Call the per-call callback, else the instance's."""
        callback = progress if progress is not None else self._progress
        if callback is not None:
            callback(label, done, total)

    def transcribe(
        self,
        audio: Audio,
        instrument: str | int,
        name: str,
        settings: TranscriptionSettings | None = None,
        tempo: TempoMap | None = None,
        quantize: str | None = None,
        progress: Progress | None = None,
    ) -> NoteTrack:
        """Notes of one stem. ``instrument`` is a family, a GM name or a GM program number 1-128
        (:func:`stems.instruments.resolve_instrument`); its name is the track's ``instrument``. Drums go
        to :mod:`stems.transcription.drums`; silence gives an empty track and a warning in ``NoteTrack.warnings``;
        NaN/inf raise ``AudioInputError`` naming the stem."""
        began = time.perf_counter()
        named = resolve_instrument(instrument)
        settings = settings if settings is not None else settings_for(named)
        check_finite(audio, f"stem {name!r}")
        tempo = tempo if tempo is not None else DEFAULT_TEMPO
        if is_silent(audio):
            message = f"stem {name!r} is silent (peak below -80 dBFS): wrote an empty MIDI track"
            logger.warning(message)
            return _track(name, named.name, settings, (), (), (message,), began)
        if settings.is_drum:
            from stems.transcription.drums import transcribe_drums

            notes = transcribe_drums(audio, settings)
            bends: tuple[PitchBend, ...] = ()
            steps = 1
        else:
            num_samples, windows = _model_input(audio)
            steps = onnx_batches(windows.shape[0]) + 1  # the model's batches, then the note tracking
            posteriors = self._posteriors(num_samples, windows, progress, name, steps)
            notes, bends = notes_from_posteriors(posteriors, settings)
        if quantize:
            notes = quantize_notes(notes, quantize, tempo, is_drum=settings.is_drum)
        self._report(progress, name, steps, steps)
        return _track(name, named.name, settings, notes, bends, (), began)


def _track(
    name: str,
    instrument: str,
    settings: TranscriptionSettings,
    notes: tuple[Note, ...],
    bends: tuple[PitchBend, ...],
    warnings: tuple[str, ...],
    began: float,
) -> NoteTrack:
    return NoteTrack(
        name=name,
        instrument=instrument,
        program=settings.program,
        is_drum=settings.is_drum,
        notes=notes,
        warnings=warnings,
        pitch_bends=bends,
        seconds=time.perf_counter() - began,
    )


_shared: Transcriber | None = None
_shared_lock = threading.Lock()


def get_transcriber() -> Transcriber:
    """The process-wide Transcriber (the ONNX session is loaded once and reused)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Transcriber()
        return _shared


def transcribe_file(
    audio_path: Path,
    instrument: str | int,
    out_path: Path,
    tempo: TempoMap | None = None,
    quantize: str | None = None,
    settings: TranscriptionSettings | None = None,
) -> NoteTrack:
    """Transcribe any audio file soundfile can read and write a one-track MIDI file atomically; the track
    carries the GM program of ``instrument`` (a family, a GM name or a GM program number 1-128)."""
    audio_path = Path(audio_path)
    settings = settings if settings is not None else settings_for(instrument)
    audio = read_audio(audio_path)
    tempo = tempo if tempo is not None else DEFAULT_TEMPO
    track = get_transcriber().transcribe(
        audio, instrument, audio_path.stem, settings=settings, tempo=tempo, quantize=quantize
    )
    write_midi(Path(out_path), [track], tempo)
    return track
