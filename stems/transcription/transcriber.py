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

from stems.audio import Audio, AudioInfo, check_finite
from stems.errors import ModelUnavailableError
from stems.instruments import resolve_instrument
from stems.licenses import License
from stems.progress import Progress
from stems.streaming import (
    MAX_TRANSCRIPTION_S,
    Signal,
    as_signal,
    check_duration,
    checked_info,
    file_blocks,
    mono_signal,
)
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


def window_count(num_samples: int) -> int:
    """How many windows :func:`window_audio` makes of ``num_samples`` samples."""
    return -(-(OVERLAP_SAMPLES // 2 + num_samples) // HOP_SAMPLES)


def signal_windows(signal: Signal, first: int, count: int) -> np.ndarray:
    """Windows ``first`` to ``first + count`` of :func:`window_audio` of the signal, read from it: one
    ONNX batch at a time, so a long stem's windows (1.2 times its samples) are never all in memory."""
    out = np.empty((count, WINDOW_SAMPLES, 1), dtype=np.float32)
    for k in range(count):
        start = (first + k) * HOP_SAMPLES - OVERLAP_SAMPLES // 2
        out[k, :, 0] = signal.segment(start, start + WINDOW_SAMPLES)
    return out


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
        signal = as_signal(audio, MODEL_SAMPLE_RATE)
        return self._posteriors(signal, progress, "basic-pitch", onnx_batches(window_count(signal.length)))

    def _posteriors(
        self, signal: Signal, progress: Progress | None, label: str, total: int
    ) -> dict[str, np.ndarray]:
        """Each batch's windows are read from ``signal`` and its output unwrapped into place (what
        :func:`unwrap` does to all of them at once), so only the posteriors grow with the stem's length."""
        session = self._load()
        names = list(_ONNX_OUTPUTS.values())
        count, half = window_count(signal.length), OVERLAP_FRAMES // 2
        n_frames = int(np.floor(signal.length * (ANNOTATIONS_FPS / MODEL_SAMPLE_RATE)))
        out: dict[str, np.ndarray] = {}
        at = 0
        for done, b in enumerate(range(0, count, BATCH_WINDOWS), start=1):
            results = session.run(
                names, {_ONNX_INPUT: signal_windows(signal, b, min(BATCH_WINDOWS, count - b))}
            )
            for key, value in zip(_ONNX_OUTPUTS, results):
                kept = value[:, half:-half, :].reshape(-1, value.shape[2])
                if key not in out:
                    out[key] = np.empty(
                        (min(n_frames, count * (value.shape[1] - 2 * half)), value.shape[2]), value.dtype
                    )
                piece = kept[: max(out[key].shape[0] - at, 0)]
                out[key][at : at + piece.shape[0]] = piece
            at += kept.shape[0]
            self._report(progress, label, done, total)
        return out

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
            return _silent(name, named.name, settings, began)
        steps, notes, bends = self._notes(audio, settings, progress, name)
        if quantize:
            notes = quantize_notes(notes, quantize, tempo, is_drum=settings.is_drum)
        self._report(progress, name, steps, steps)
        return _track(name, named.name, settings, notes, bends, (), began)

    def transcribe_signal(
        self,
        signal: Signal,
        instrument: str | int,
        name: str,
        settings: TranscriptionSettings,
        tempo: TempoMap = DEFAULT_TEMPO,
        quantize: str | None = None,
    ) -> NoteTrack:
        """:meth:`transcribe` of a stem given as its mono signal at the model's rate (in memory or a temporary
        file, read a batch of windows or a chunk of frames at a time), already checked to be finite and not
        silent."""
        began = time.perf_counter()
        assert signal.sample_rate == MODEL_SAMPLE_RATE
        steps, notes, bends = self._notes(signal, settings, None, name)
        if quantize:
            notes = quantize_notes(notes, quantize, tempo, is_drum=settings.is_drum)
        return _track(name, resolve_instrument(instrument).name, settings, notes, bends, (), began)

    def _notes(
        self, source: Audio | Signal, settings: TranscriptionSettings, progress: Progress | None, name: str
    ) -> tuple[int, tuple[Note, ...], tuple[PitchBend, ...]]:
        """(progress steps, notes, pitch bends) of a stem: drums by their onsets, the rest by basic-pitch."""
        if settings.is_drum:
            from stems.transcription.drums import transcribe_drums

            return 1, transcribe_drums(source, settings), ()
        signal = as_signal(source, MODEL_SAMPLE_RATE) if isinstance(source, Audio) else source
        steps = onnx_batches(window_count(signal.length)) + 1  # the model's batches, then the note tracking
        notes, bends = notes_from_posteriors(self._posteriors(signal, progress, name, steps), settings)
        return steps, notes, bends


def _silent(name: str, instrument: str, settings: TranscriptionSettings, began: float) -> NoteTrack:
    message = f"stem {name!r} is silent (peak below -80 dBFS): wrote an empty MIDI track"
    logger.warning(message)
    return _track(name, instrument, settings, (), (), (message,), began)


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
    tempo = tempo if tempo is not None else DEFAULT_TEMPO
    info = checked_info(audio_path)  # a lying header is refused before anything is decoded
    check_duration(info, MAX_TRANSCRIPTION_S, "transcription")
    if _file_is_silent(info):
        track = _silent(audio_path.stem, resolve_instrument(instrument).name, settings, time.perf_counter())
    else:  # streamed: the mono signal at the model's rate in a temporary file, read a part at a time
        with mono_signal(info.path, MODEL_SAMPLE_RATE) as signal:
            track = get_transcriber().transcribe_signal(
                signal, instrument, audio_path.stem, settings, tempo=tempo, quantize=quantize
            )
    write_midi(Path(out_path), [track], tempo)
    return track


def _file_is_silent(info: AudioInfo) -> bool:
    """:func:`is_silent` of the file, read a block at a time (every block is checked to be finite too)."""
    return all(is_silent(Audio(block, info.sample_rate)) for block in file_blocks(info.path))
