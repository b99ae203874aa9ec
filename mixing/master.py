"""Mastering: one gain and a true-peak limiter, iterated until loudness and true peak are both on target.

Gain and limiting interact (more gain, more limiting, less loudness than the gain alone would give), so
the gain is found by a secant search. Each step is cheap because the expensive parts are computed once:
the oversampled interval peaks scale with the gain, and the K-weighted power of the limited signal is
approximated by ``power * gain_curve**2`` (the limiter's gain moves slowly next to the K-weighting
filters' memory). The result is then measured exactly and corrected if the approximation was off.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixing.limiter import DEFAULT_LOOKAHEAD_MS, DEFAULT_RELEASE_MS, check_times, limiter_gain
from mixing.loudness import (
    BLOCK_MS,
    CHANNEL_WEIGHTS,
    LoudnessReport,
    gated_loudness,
    hop_energies,
    measurable,
    measure,
    to_db,
    weighted_power,
)
from mixing.targets import DEFAULT_LUFS, DEFAULT_TRUE_PEAK, target_problem
from mixing.truepeak import interval_peaks
from stems.audio import Audio, AudioInfo, audio_info, check_audio_info, check_finite, check_sample_rate
from stems.errors import AudioInputError, UserInputError
from stems.progress import Progress

log = logging.getLogger(__name__)

TOLERANCE_LU = 0.1  # we aim well inside the 0.3 LU the issue allows, so an independent meter agrees
SEARCH_TOLERANCE_LU = 0.02
PEAK_MARGIN_DB = 0.1  # our meter vs ffmpeg's (resample to 48 kHz, then 4x): stay this far under the ceiling
MAX_STEPS = 12
# Progress in tenths: 3 after the analysis, one more per gain search step from 5, 10 when done.
PROGRESS_LABEL = "master"
PROGRESS_STEPS = 10
HEADROOM_DB = (
    6.0  # interval peaks are computed wherever a gain up to this much above the first guess could clip
)
# ITU-R BS.775 stereo downmix of 5.1 (WAV/FLAC order L R C LFE Ls Rs): Lo = L + 0.707 C + 0.707 Ls,
# Ro = R + 0.707 C + 0.707 Rs; the LFE is left out, as BS.1770 leaves it out of loudness.
SURROUND_51 = 6
_DOWNMIX_51 = np.array(
    [
        [1.0, 0.0, math.sqrt(0.5), 0.0, math.sqrt(0.5), 0.0],
        [0.0, 1.0, math.sqrt(0.5), 0.0, 0.0, math.sqrt(0.5)],
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class MasterResult:
    audio: Audio
    report: LoudnessReport
    gain_db: float  # the gain applied before the limiter
    iterations: int
    limiter_reduction_db: float = 0.0  # deepest gain reduction of the limiter (positive dB)


@dataclass(frozen=True)
class _Analysis:
    """What the search needs of the input, computed once."""

    power: np.ndarray
    peaks: np.ndarray
    headroom_db: float  # peaks are complete wherever (gain - ceiling) up to this could push them over


class Master:
    """Bring a mix to a loudness target under a true-peak ceiling (defaults: -14 LUFS, -1 dBTP)."""

    def __init__(
        self,
        lufs: float = DEFAULT_LUFS,
        true_peak: float = DEFAULT_TRUE_PEAK,
        *,
        lookahead_ms: float = DEFAULT_LOOKAHEAD_MS,
        release_ms: float = DEFAULT_RELEASE_MS,
        progress: Progress | None = None,
    ) -> None:
        problem = target_problem(lufs, true_peak)
        if problem:
            raise UserInputError(problem)
        check_times(lookahead_ms, release_ms)
        self._lufs = float(lufs)
        self._true_peak = float(true_peak)
        self._lookahead_ms = lookahead_ms
        self._release_ms = release_ms
        self._progress = progress

    @property
    def lufs(self) -> float:
        return self._lufs

    @property
    def true_peak(self) -> float:
        return self._true_peak

    def master(self, audio: Audio) -> MasterResult:
        """A new, mastered Audio with its loudness report; the input is not modified.

        Mono to 5 channels are mastered as they are (BS.1770 weights L R C Ls Rs); 5.1 (6 channels) is first
        folded down to stereo by ITU-R BS.775 (see ``_DOWNMIX_51``); more channels raise AudioInputError, as
        does audio shorter than one 400 ms BS.1770 gating block.
        """
        audio = _checked_input(audio, "master input")
        power = weighted_power(audio)
        ceiling_db = self._true_peak - PEAK_MARGIN_DB
        first_gain_db = self._lufs - _input_loudness(power, audio.sample_rate)
        analysis = _analyse(audio, power, first_gain_db - ceiling_db)
        self._notify(3)
        bias, steps = 0.0, 0
        for _ in range(4):  # outer: correct the power approximation and any residual true-peak overshoot
            gain_db, curve, n = self._search(audio, analysis, self._lufs + bias, ceiling_db)
            steps += n
            out = Audio(audio.samples * (curve * 10.0 ** (gain_db / 20.0))[None, :], audio.sample_rate)
            report = measure(out)
            self._notify(5 + steps)
            peak_over = (report.true_peak_dbtp or -math.inf) - (self._true_peak - PEAK_MARGIN_DB / 2)
            loud_off = (report.integrated_lufs or -math.inf) - self._lufs
            if peak_over <= 0.0 and abs(loud_off) <= TOLERANCE_LU:
                break
            ceiling_db -= max(peak_over, 0.0) + (0.02 if peak_over > 0.0 else 0.0)
            bias -= loud_off
        else:
            raise AudioInputError(
                f"mastering did not converge: reached {report.integrated_lufs:.2f} LUFS and "
                f"{report.true_peak_dbtp:.2f} dBTP for a {self._lufs} LUFS / {self._true_peak} dBTP target; "
                "lower the loudness target or raise the true-peak ceiling"
            )
        self._notify(PROGRESS_STEPS)
        reduction = max(0.0, -(to_db(float(curve.min())) or 0.0))
        return MasterResult(out, report, gain_db, steps, reduction)

    def _search(
        self, audio: Audio, analysis: _Analysis, target: float, ceiling_db: float
    ) -> tuple[float, np.ndarray, int]:
        """Secant search for the pre-limiter gain reaching ``target`` (predicted loudness)."""
        ceiling = 10.0 ** (ceiling_db / 20.0)
        gain_db = target - _predicted(analysis.power, None, 0.0, audio.sample_rate)
        prev: tuple[float, float] | None = None
        for step in range(1, MAX_STEPS + 1):
            if gain_db - ceiling_db > analysis.headroom_db:  # peaks were screened for less gain: redo them
                analysis = _analyse(audio, analysis.power, gain_db - ceiling_db)
            scale = 10.0 ** (gain_db / 20.0)
            curve = limiter_gain(
                analysis.peaks, ceiling, audio.sample_rate, self._lookahead_ms, self._release_ms, scale
            )
            level = _predicted(analysis.power, curve, gain_db, audio.sample_rate)
            error = target - level
            log.debug("master step %d: gain %.3f dB -> %.3f LUFS (error %.3f)", step, gain_db, level, error)
            if abs(error) <= SEARCH_TOLERANCE_LU:
                return gain_db, curve, step
            if step == MAX_STEPS:
                break
            slope = 1.0 if prev is None else (level - prev[1]) / (gain_db - prev[0] or 1e-9)
            prev = (gain_db, level)
            gain_db += error / min(max(slope, 0.05), 1.0)
        return gain_db, curve, MAX_STEPS  # not converged: the caller's exact check reports it

    def _notify(self, done: int) -> None:
        if self._progress is not None:
            self._progress(PROGRESS_LABEL, min(done, PROGRESS_STEPS), PROGRESS_STEPS)


def _check_shape(sample_rate: int, channels: int, num_samples: int, what: str) -> None:
    """Rate, layout and length a loudness measurement needs, checked from a header or from audio."""
    check_sample_rate(sample_rate, what)
    if channels > len(CHANNEL_WEIGHTS) and channels != SURROUND_51:
        raise AudioInputError(
            f"{what}: has {channels} channels; mastering takes mono to {len(CHANNEL_WEIGHTS)} channels "
            f"(BS.1770 weights L R C Ls Rs) or {SURROUND_51} (5.1, folded down to stereo). Mix it down first, "
            "e.g. `ffmpeg -i in.wav -ac 2 out.wav`"
        )
    if not measurable(num_samples, sample_rate):
        raise AudioInputError(
            f"{what}: too short to measure (BS.1770 needs at least one {BLOCK_MS} ms block): received "
            f"{num_samples} samples at {sample_rate} Hz; give at least {math.ceil(BLOCK_MS * sample_rate / 1000)} "
            "samples of audio"
        )


def _checked_input(audio: Audio, what: str) -> Audio:
    """``audio`` checked for mastering, 5.1 folded down to stereo (ITU-R BS.775)."""
    check_finite(audio, what)
    _check_shape(audio.sample_rate, audio.channels, audio.num_samples, what)
    if audio.channels != SURROUND_51:
        return audio
    log.warning("%s: 5.1 input folded down to stereo (ITU-R BS.775, LFE left out) before mastering", what)
    return Audio(_DOWNMIX_51 @ audio.samples, audio.sample_rate)


def _check_file(path: Path) -> None:
    """Refuse before decoding a file whose header lies or that cannot be mastered (libsndfile's formats only:
    anything else is decoded by ffmpeg in ``load_audio`` and checked as audio)."""
    try:
        info: AudioInfo | None = audio_info(path)
    except AudioInputError:
        info = None  # missing, or not libsndfile's: load_audio reports it or decodes it with ffmpeg
    if info is not None:
        check_audio_info(info)
        _check_shape(info.sample_rate, info.channels, info.frames, str(path))


def _analyse(audio: Audio, power: np.ndarray, gain_over_ceiling_db: float) -> _Analysis:
    """Interval peaks wherever a gain up to ``HEADROOM_DB`` more than expected could reach the ceiling."""
    headroom_db = gain_over_ceiling_db + HEADROOM_DB
    peaks = interval_peaks(audio.samples, audio.sample_rate, 10.0 ** (-headroom_db / 20.0))
    return _Analysis(power, peaks, headroom_db)


def _input_loudness(power: np.ndarray, sample_rate: int) -> float:
    level = gated_loudness(hop_energies(power, sample_rate))
    if level is None:
        raise AudioInputError(
            "the mix is silent (nothing above -70 LUFS), so there is nothing to master; "
            "check that the stems are not all muted and that generation produced audio"
        )
    return level


def _predicted(power: np.ndarray, curve: np.ndarray | None, gain_db: float, sample_rate: int) -> float:
    """Integrated loudness of the input after ``gain_db`` and the limiter curve (power approximation)."""
    level = gated_loudness(hop_energies(power, sample_rate, curve))
    assert level is not None  # the input passed the silence check and the curve is > 0
    return level + gain_db


def master_file(
    in_path: Path, out_path: Path, lufs: float = DEFAULT_LUFS, true_peak: float = DEFAULT_TRUE_PEAK
) -> MasterResult:
    """Master any readable audio file into ``out_path`` (format from its suffix: .wav 24-bit, .flac, .mp3)."""
    from mixing.export import export_audio, format_for_path, load_audio

    in_path, out_path = Path(in_path), Path(out_path)
    fmt = format_for_path(out_path)
    if out_path.resolve() == in_path.resolve():
        raise UserInputError(f"{out_path}: the output would overwrite the input; choose another -o path")
    _check_file(in_path)
    result = Master(lufs, true_peak).master(load_audio(in_path))
    export_audio(result.audio, out_path, fmt=fmt, bit_depth=24 if fmt != "mp3" else 16)
    return result
