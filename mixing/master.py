"""Mastering: one gain and a true-peak limiter, iterated until loudness and true peak are both on target.

Gain and limiting interact (more gain, more limiting, less loudness than the gain alone would give), so
the gain is found by a secant search. Each step is cheap because the expensive parts are computed once:
the oversampled interval peaks scale with the gain, and the K-weighted power of the limited signal is
approximated by ``power * gain_curve**2`` (the limiter's gain moves slowly next to the K-weighting
filters' memory). The result is then measured exactly and corrected if the approximation was off.

Every pass goes over the signal a block at a time (issue 22: 20 minutes of stereo took 2 GB, a 2.9-hour
file failed). What the search reuses, the K-weighted power and the interval peaks of each sample, is kept
in arrays for audio already in memory and in temporary files for ``master_file``, whose input is read from
its file and whose output goes to a temporary float WAV and then to the export: memory does not grow with
the file's length. The limiter, the filters and the hop sums carry their state from block to block, so the
result is the one the whole signal at once gives.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixing.blocks import ArraySink, Remixed, Sink, WavSink
from mixing.limiter import DEFAULT_LOOKAHEAD_MS, DEFAULT_RELEASE_MS, LimiterSpans, check_times
from mixing.loudness import (
    BLOCK_MS,
    CHANNEL_WEIGHTS,
    HopEnergies,
    HopSums,
    LoudnessReport,
    gated_loudness,
    measurable,
    measure_blocks,
    power_meter,
    to_db,
)
from mixing.targets import DEFAULT_LUFS, DEFAULT_TRUE_PEAK, target_problem
from mixing.truepeak import interval_peak_blocks
from stems.audio import (
    Audio,
    audio_info,
    check_audio_file,
    check_audio_info,
    check_finite,
    check_sample_rate,
)
from stems.errors import AudioInputError, UserInputError
from stems.progress import Progress
from stems.streaming import BLOCK_FRAMES, ArrayBlocks, BlockSource, FileBlocks, Store

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
    audio: Audio  # for ``master_file``: no samples (they are in its output file), the output's channels
    report: LoudnessReport
    gain_db: float  # the gain applied before the limiter
    iterations: int
    limiter_reduction_db: float = 0.0  # deepest gain reduction of the limiter (positive dB)


@dataclass(frozen=True)
class _Analysis:
    """What the search needs of the input, computed once: K-weighted power and interval peaks per sample."""

    power: Store
    hops: HopEnergies  # of the input as it is
    peaks: Store
    peak_max: float  # the largest interval peak kept
    headroom_db: float  # peaks are complete wherever (gain - ceiling) up to this could push them over

    def close(self) -> None:
        self.power.close()
        self.peaks.close()


@dataclass(frozen=True)
class _Rendered:
    report: LoudnessReport
    gain_db: float
    iterations: int
    reduction_db: float


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
        out = np.empty_like(audio.samples)
        done = self._render(ArrayBlocks(audio), ArraySink(out, audio.sample_rate))
        return MasterResult(
            Audio(out, audio.sample_rate), done.report, done.gain_db, done.iterations, done.reduction_db
        )

    def _render(self, source: BlockSource, sink: Sink) -> _Rendered:
        """Master ``source`` (checked, at most 5 channels) into ``sink``, a block at a time."""
        power, hops = _power(source)
        analysis: _Analysis | None = None
        try:
            ceiling_db = self._true_peak - PEAK_MARGIN_DB
            first_gain_db = self._lufs - _input_loudness(hops)
            analysis = _analyse(source, power, hops, first_gain_db - ceiling_db)
            self._notify(3)
            return self._converge(source, analysis, ceiling_db, sink)
        finally:
            (analysis.close() if analysis is not None else power.close())

    def _converge(self, source: BlockSource, analysis: _Analysis, ceiling_db: float, sink: Sink) -> _Rendered:
        """Search, render and measure until loudness and true peak are both on target (at most 4 times)."""
        bias, steps = 0.0, 0
        for _ in range(4):  # correct the power approximation and any residual true-peak overshoot
            gain_db, n, analysis = self._search(source, analysis, self._lufs + bias, ceiling_db)
            steps += n
            lowest = [1.0]
            written = sink.write(self._rendered(source, analysis, gain_db, ceiling_db, lowest))
            report = measure_blocks(written)
            self._notify(5 + steps)
            peak_over = (report.true_peak_dbtp or -math.inf) - (self._true_peak - PEAK_MARGIN_DB / 2)
            loud_off = (report.integrated_lufs or -math.inf) - self._lufs
            if peak_over <= 0.0 and abs(loud_off) <= TOLERANCE_LU:
                self._notify(PROGRESS_STEPS)
                reduction = max(0.0, -(to_db(lowest[0]) or 0.0))
                return _Rendered(report, gain_db, steps, reduction)
            ceiling_db -= max(peak_over, 0.0) + (0.02 if peak_over > 0.0 else 0.0)
            bias -= loud_off
        raise AudioInputError(
            f"mastering did not converge: reached {report.integrated_lufs:.2f} LUFS and "
            f"{report.true_peak_dbtp:.2f} dBTP for a {self._lufs} LUFS / {self._true_peak} dBTP target; "
            "lower the loudness target or raise the true-peak ceiling"
        )

    def _search(
        self, source: BlockSource, analysis: _Analysis, target: float, ceiling_db: float
    ) -> tuple[float, int, _Analysis]:
        """Secant search for the pre-limiter gain reaching ``target`` (predicted loudness)."""
        gain_db = target - _loudness(analysis.hops)
        prev: tuple[float, float] | None = None
        for step in range(1, MAX_STEPS + 1):
            if gain_db - ceiling_db > analysis.headroom_db:  # peaks were screened for less gain: redo them
                analysis.peaks.close()
                analysis = _analyse(source, analysis.power, analysis.hops, gain_db - ceiling_db)
            level = self._predicted(source, analysis, gain_db, ceiling_db)
            error = target - level
            log.debug("master step %d: gain %.3f dB -> %.3f LUFS (error %.3f)", step, gain_db, level, error)
            if abs(error) <= SEARCH_TOLERANCE_LU or step == MAX_STEPS:
                return gain_db, step, analysis  # not converged at MAX_STEPS: the caller's exact check says so
            slope = 1.0 if prev is None else (level - prev[1]) / (gain_db - prev[0] or 1e-9)
            prev = (gain_db, level)
            gain_db += error / min(max(slope, 0.05), 1.0)
        raise AssertionError("unreachable")

    def _limiter(
        self, source: BlockSource, analysis: _Analysis, gain_db: float, ceiling_db: float
    ) -> LimiterSpans | None:
        """The limiter for ``gain_db`` before it, a span at a time; None when nothing needs limiting."""
        scale, ceiling = 10.0 ** (gain_db / 20.0), 10.0 ** (ceiling_db / 20.0)
        if analysis.peak_max * scale <= ceiling:
            return None
        rate = source.sample_rate
        return LimiterSpans(analysis.peaks, ceiling, rate, self._lookahead_ms, self._release_ms, scale)

    def _predicted(
        self, source: BlockSource, analysis: _Analysis, gain_db: float, ceiling_db: float
    ) -> float:
        """Integrated loudness of the input after ``gain_db`` and the limiter (power approximation)."""
        limiter = self._limiter(source, analysis, gain_db, ceiling_db)
        if limiter is None:
            return _loudness(analysis.hops) + gain_db
        hops, n = HopSums(source.num_samples, source.sample_rate), source.num_samples
        for offset in range(0, n, BLOCK_FRAMES):
            curve = limiter.next(min(BLOCK_FRAMES, n - offset))
            hops.add(analysis.power.read(offset, offset + curve.size), offset, curve)
        return _loudness(hops.result()) + gain_db

    def _rendered(
        self, source: BlockSource, analysis: _Analysis, gain_db: float, ceiling_db: float, lowest: list[float]
    ) -> Iterator[np.ndarray]:
        """The master, a block at a time: the input times the gain and the limiter's curve (``lowest[0]``
        becomes the curve's minimum)."""
        gain = 10.0 ** (gain_db / 20.0)
        limiter = self._limiter(source, analysis, gain_db, ceiling_db)
        for block in source.blocks():
            size = block.shape[1]
            curve = np.ones(size, dtype=np.float32) if limiter is None else limiter.next(size)
            lowest[0] = min(lowest[0], float(curve.min(initial=1.0)))
            yield block * (curve * gain)[None, :]

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


def _power(source: BlockSource) -> tuple[Store, HopEnergies]:
    """The K-weighted power of every sample (kept where the source keeps values) and its hop energies."""
    store, meter = source.store(), power_meter(source.channels, source.sample_rate)
    hops, offset = HopSums(source.num_samples, source.sample_rate), 0
    try:
        for block in source.blocks():
            power = meter(block)
            store.append(power)
            hops.add(power, offset)
            offset += power.size
    except BaseException:
        store.close()
        raise
    return store, hops.result()


def _analyse(source: BlockSource, power: Store, hops: HopEnergies, gain_over_ceiling_db: float) -> _Analysis:
    """Interval peaks wherever a gain up to ``HEADROOM_DB`` more than expected could reach the ceiling."""
    headroom_db = gain_over_ceiling_db + HEADROOM_DB
    threshold = 10.0 ** (-headroom_db / 20.0)
    peaks, top = source.store(), 0.0
    try:
        for span in interval_peak_blocks(source.blocks(), source.sample_rate, threshold):
            peaks.append(span)
            top = max(top, float(span.max(initial=0.0)))
    except BaseException:
        peaks.close()
        raise
    return _Analysis(power, hops, peaks, top, headroom_db)


def _loudness(hops: HopEnergies) -> float:
    level = gated_loudness(hops)
    assert level is not None  # the input passed the silence check and the curve is > 0
    return level


def _input_loudness(hops: HopEnergies) -> float:
    level = gated_loudness(hops)
    if level is None:
        raise AudioInputError(
            "the mix is silent (nothing above -70 LUFS), so there is nothing to master; "
            "check that the stems are not all muted and that generation produced audio"
        )
    return level


def master_file(
    in_path: Path, out_path: Path, lufs: float = DEFAULT_LUFS, true_peak: float = DEFAULT_TRUE_PEAK
) -> MasterResult:
    """Master any readable audio file into ``out_path`` (format from its suffix: .wav 24-bit, .flac, .mp3),
    a block at a time: the input is read from its file (a format libsndfile cannot read is first decoded
    to a temporary WAV by ffmpeg) and the master goes through a temporary float WAV to the export, so
    memory does not grow with the file's length. The result's ``audio`` holds no samples."""
    from mixing.export import export_file, format_for_path

    in_path, out_path = Path(in_path), Path(out_path)
    fmt = format_for_path(out_path)
    if out_path.resolve() == in_path.resolve():
        raise UserInputError(f"{out_path}: the output would overwrite the input; choose another -o path")
    master = Master(lufs, true_peak)
    with tempfile.TemporaryDirectory(prefix="musicmaker-master-") as tmp:
        source = _file_source(in_path, Path(tmp) / "decoded.wav")
        mastered = Path(tmp) / "master.wav"
        done = master._render(source, WavSink(mastered, source.sample_rate, source.channels))
        export_file(mastered, out_path, fmt=fmt, bit_depth=24)  # MP3 has no bit depth: it is ignored there
    empty = Audio(np.zeros((source.channels, 0), dtype=np.float32), source.sample_rate)
    return MasterResult(empty, done.report, done.gain_db, done.iterations, done.reduction_db)


def _file_source(path: Path, decoded: Path) -> BlockSource:
    """The file as a checked block source (5.1 folded down); refused before decoding when its header
    cannot be mastered; decoded by ffmpeg into ``decoded`` when libsndfile cannot read it."""
    from mixing.ffmpeg import decode_to_wav

    try:
        info = audio_info(path)
    except AudioInputError:
        check_audio_file(path)  # missing, or not a regular file: said as such
        log.info("%s: libsndfile cannot read it; decoding with ffmpeg", path)
        decode_to_wav(path, decoded)
        info = audio_info(decoded)
    check_audio_info(info)
    _check_shape(info.sample_rate, info.channels, info.frames, str(path))
    source: BlockSource = FileBlocks(info)
    if info.channels != SURROUND_51:
        return source
    log.warning("%s: 5.1 input folded down to stereo (ITU-R BS.775, LFE left out) before mastering", path)
    return Remixed(source, _DOWNMIX_51)
