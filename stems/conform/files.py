"""File-level entry points for the command line: ``musicmaker analyze`` and ``musicmaker conform``."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from stems.audio import Audio, AudioInfo, copy_file_atomic
from stems.conform.analysis import ANALYSIS_RATE, analyze_signal
from stems.conform.apply import Placement, decide, left_as_is, placement, retune_only, verdict
from stems.conform.chords import BeatChord
from stems.conform.keys import parse_key
from stems.conform.records import Analysis, ConformResult, Grid
from stems.conform.warp import require_rubberband, stretch_file
from stems.instruments import DRUM_FAMILY, resolve_instrument
from stems.streaming import (
    MAX_ANALYSIS_S,
    FileSignal,
    check_duration,
    checked_info,
    file_blocks,
    mono_signal,
    placed,
    write_float_wav,
)

# What ``musicmaker conform -o`` writes for each suffix (``mixing.export``'s formats): a float WAV keeps the
# stretcher's output exactly, FLAC holds at most 24 bits, and MP3 has no bit depth (the exporter ignores it).
OUTPUT_BIT_DEPTH: dict[str, int | str] = {"wav": "float", "flac": 24, "mp3": 24}


def _family(instrument: str | None) -> str | None:
    """The family of ``--instrument`` (a family or a GM name or number); a UserInputError for an unknown one."""
    return None if instrument is None else resolve_instrument(instrument).family


def analyze_file(
    path: Path, *, bpm_hint: float | None = None, beats_per_bar: int = 4, instrument: str | None = None
) -> Analysis:
    """Analyse the audio at ``path`` read in blocks: only its mono signal at the analysis rate is kept, in a
    temporary file, and every feature is computed a chunk at a time (memory does not grow with length)."""
    family = _family(instrument)
    info = checked_info(path)
    check_duration(info, MAX_ANALYSIS_S, "analysis")
    with mono_signal(path, ANALYSIS_RATE) as signal:
        return analyze_signal(
            signal, info.duration, bpm_hint=bpm_hint, beats_per_bar=beats_per_bar, family=family
        )


def chords_file(
    path: Path, beats: Sequence[float], tuning_cents: float | None = None
) -> tuple[BeatChord, ...]:
    """The chord of every beat of ``beats`` in the audio at ``path`` (``stems.conform.chords``), from its mono
    signal at the analysis rate in a temporary file, read a slice at a time: memory does not grow with length."""
    from stems.conform.chords import recognize_mono

    with mono_signal(path, ANALYSIS_RATE) as signal:
        return recognize_mono(_Slices(signal), beats, tuning_cents)


class _Slices:
    """A :class:`~stems.streaming.FileSignal` as the sliceable samples ``recognize_mono`` reads."""

    def __init__(self, signal: FileSignal) -> None:
        self._signal = signal

    def __len__(self) -> int:
        return self._signal.length

    def __getitem__(self, index: slice) -> np.ndarray:
        start, stop, step = index.indices(self._signal.length)
        assert step == 1, "chord recognition reads contiguous slices"
        return self._signal.segment(start, max(start, stop))


def conform_file(
    path: Path,
    out: Path,
    *,
    bpm: float,
    beats_per_bar: int = 4,
    key: str | None = None,
    instrument: str | None = None,
    keep_lead_in: bool = False,
    export: Callable[[Path, Path], object] | None = None,
) -> ConformResult:
    """Conform the audio at ``path`` to ``bpm``, retuned toward ``key`` when one is given (never a drum
    ``instrument``), and write it to ``out`` when something was done.

    The output's bar lines are at ``k x bar`` from 0 s, as a DAW's grid: the first downbeat goes to the first
    bar line that leaves room for the beats tracked before it (a pickup, kept as the beats before that line);
    a lead-in shorter than a beat is cut. ``keep_lead_in``: bar 1 goes right after the input's lead-in at the
    new tempo instead, on no grid from 0 s (``records.Grid`` says the modes).

    The file is streamed (issue 22): it is analysed through its mono signal in a temporary file, Rubber Band
    warps a float WAV copy file to file, the output is placed on the grid a block at a time and analysed the
    same way, so memory does not grow with the file's length. The conformed float WAV (input rate and
    channels) goes to ``out`` through ``export(float_wav, out)`` (default: copied as it is). The result's
    ``audio`` holds no samples: they are in ``out``.
    """
    if key is not None:
        parse_key(key)  # a typo in --key is the user's to fix before any work
    family = _family(instrument)
    require_rubberband()
    info = checked_info(path)
    check_duration(info, MAX_ANALYSIS_S, "conforming")
    grid = Grid(
        bpm, beats_per_bar, None, key, origin=None if keep_lead_in else 0.0, keep_pickup=not keep_lead_in
    )
    before = _analysis(path, grid, family)
    pitched = family != DRUM_FAMILY
    decision = decide(before, info.duration, grid, tempo=True, key=key is not None, pitched=pitched)
    empty = Audio(np.zeros((info.channels, 0), dtype=np.float32), info.sample_rate)
    if decision.as_is is not None:
        return left_as_is(empty, grid, before, decision.as_is)
    with tempfile.TemporaryDirectory(prefix="musicmaker-conform-") as tmp:
        done = Path(tmp, "conformed.wav")
        where = placement(info.duration, info.sample_rate, grid, decision.tmap)
        _render(info, where, decision.plan.cents, done)
        result = verdict(empty, grid, before, _analysis(done, grid, family), decision)
        if isinstance(result, str):
            retune = retune_only(decision, result)
            if retune is None:
                return left_as_is(empty, grid, before, result)
            _render(info, placement(info.duration, info.sample_rate, grid, None), retune.plan.cents, done)
            result = verdict(empty, grid, before, _analysis(done, grid, family), retune)
            assert not isinstance(result, str), "a render without a time map is never refused"
        (export or copy_file_atomic)(done, out)
    return result


def conform_file_to_score(
    path: Path,
    out: Path,
    score: Path,
    *,
    bpm: float | None = None,
    beats_per_bar: int | None = None,
    key: str | None = None,
    instrument: str | None = None,
    export: Callable[[Path, Path], object] | None = None,
) -> ConformResult:
    """Warp the audio at ``path`` so that each note of the MIDI ``score`` lands where the score's grid puts it:
    beat ``b`` of the score at ``b x 60 / bpm`` s of the output (``bpm``: the score's first tempo when None;
    ``beats_per_bar``: its first meter's). Retuned toward ``key`` as :func:`conform_file`, streamed the same way;
    nothing is written when the audio does not follow the score."""
    from stems.conform.scored import not_followed, result, score_map
    from stems.score import read_midi_score

    if key is not None:
        parse_key(key)
    written = read_midi_score(score)
    family = _family(instrument)
    require_rubberband()
    info = checked_info(path)
    check_duration(info, MAX_ANALYSIS_S, "conforming")
    grid = Grid(bpm or written.bpm, beats_per_bar or written.beats_per_bar, None, key)
    empty = Audio(np.zeros((info.channels, 0), dtype=np.float32), info.sample_rate)
    with mono_signal(path, ANALYSIS_RATE) as signal:  # decoded once for the analysis and the alignment
        before = analyze_signal(
            signal, info.duration, bpm_hint=grid.bpm, beats_per_bar=grid.beats_per_bar, family=family
        )
        try:
            found = score_map(
                signal,
                info.duration,
                written.notes(grid.bpm),
                family=family,
                tuning_cents=before.tuning_cents,
            )
        except ValueError as err:
            return left_as_is(empty, grid, before, str(err))
    plan = decide(
        before, info.duration, grid, tempo=False, key=key is not None, pitched=family != DRUM_FAMILY
    ).plan
    if (why := not_followed(found)) is not None:
        return left_as_is(empty, grid, before, why)
    with tempfile.TemporaryDirectory(prefix="musicmaker-conform-") as tmp:
        done = Path(tmp, "conformed.wav")
        _render(info, placement(info.duration, info.sample_rate, grid, found.tmap), plan.cents, done)
        (export or copy_file_atomic)(done, out)
    return result(empty, grid, before, found, plan.notes, plan.cents)


def _analysis(path: Path, grid: Grid, family: str | None) -> Analysis:
    info = checked_info(path)
    with mono_signal(path, ANALYSIS_RATE) as signal:
        return analyze_signal(
            signal, info.duration, bpm_hint=grid.bpm, beats_per_bar=grid.beats_per_bar, family=family
        )


def _render(info: AudioInfo, where: Placement, cents: float, out: Path) -> None:
    """The in-memory ``apply.render_placed`` from file to file: a float WAV copy of the input (the samples
    ``read_audio`` gives) through Rubber Band, then placed on the grid into ``out``."""
    rate, channels = info.sample_rate, info.channels
    folder = out.parent
    wav_in, stretched = folder / "input.wav", folder / "stretched.wav"
    write_float_wav(wav_in, rate, channels, file_blocks(info.path))
    stretch_file(wav_in, stretched, rate, where.source, where.target, cents=cents)
    wav_in.unlink()
    write_float_wav(out, rate, channels, placed(file_blocks(stretched), channels, where.start, where.length))
    stretched.unlink()
