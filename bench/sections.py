"""Section joins (``stems.musicgen.splice``, issue 26 point 3) measured on Bach chorales; prints one JSON object.

Each set is one chorale of bench/chords.py's shuffle (``chorales``, its SPLIT_SEED), past the chorales the
chords and takes benches use (0-59): chorales 60-65 of the shuffle are the tuning split, 66-71 the held-out
one (``--held-out``, run once). The stem is the chorale cut to whole bars of about ``--seconds`` and played
as bench/chords.py plays it (``chorale``: its seeded tempo and programs; ``--soundfont``), cut to its written
length as a stem lasts what it was asked to. The section is ``SECTION_BARS`` whole bars from a seeded first
bar (``--seed``), with a bar or more before and after it, so both seams sit on bar lines as a redo's do.

No model weights here: the new section is not MusicGen's. It stands in for a continuation by another
chorale of the same split (seeded), played at the stem's tempo with its programs, cut at the section's
times: music of the same instruments that starts on a beat in the middle of its own sound (its notes'
releases and reverb ring on), as a continuation does, and has nothing to do with the old audio at either
join (harder than a continuation, which goes on from the audio before the section).

It is joined with ``splice_section`` at each fade of ``CANDIDATES`` (tuning) or at ``JOIN_FADE_S`` (held-out),
and as a hard cut (fade 0, what the fade is for). Measured per seam (the crossfade, or the cut's sample):

- ``identical`` (per set): the joined stem equals the old one bit for bit before the section and after it;
- ``step``: the largest sample-to-sample step within ``SEAM_MARGIN_S`` of the seam over the largest one
  anywhere else in the joined stem (any channel); passes at 1 or under;
- ``flux``: the largest spectral flux (the rises of the dB STFT magnitude, floored ``FLUX_FLOOR_DB`` under
  its top, summed over bins; channels averaged) of the frames overlapping the seam and its margin, over
  the ``FLUX_PERCENTILE`` th percentile of the joined stem's other frames (issue 26's figure);
- ``own_flux``: the music's own flux at those frames, in the same units: the larger of the old stem's and
  the continuation's own rendering's (each alone, unjoined). Seams sit on bar lines, where a chorale's
  downbeat is an onset above the 99th percentile at about half the seams, joined or not; so a seam's flux
  passes at ``max(1, own_flux)`` or under (no flux above the stem's 99th percentile but the music's own
  onset there). ``flux_within_p99`` counts the seams at 1 or under all the same.

``chosen_fade_s`` (tuning): the shortest of ``CANDIDATES`` whose every seam passes; when none does, the one with
fewest failing seams, then the smallest worst flux excess (``flux / max(1, own_flux)``), then the shortest
(``chosen_by`` says which). ``hard_cut_fails``: some seam of the hard cut fails (the measures can fail).

    .venv/bin/python bench/sections.py                        # tuning split: JOIN_FADE_S chosen on it only
    .venv/bin/python bench/sections.py --held-out             # held-out split at JOIN_FADE_S, run once
    .venv/bin/python bench/sections.py --soundfont musescore  # tuning split on MuseScore General (Debian)
    .venv/bin/python bench/sections.py --quick                # 2 sets
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stems.audio import Audio
from stems.musicgen.splice import JOIN_FADE_S, splice_section
from tests.support.bench_scripts import load_bench

chords = load_bench("chords")
corpus = chords.corpus

SPLIT_START = 60  # the chords bench's splits are chorales 0-19, bench/takes.py's 20-59
SPLIT_SIZE = 6
QUICK = 2
STEM_SECONDS = 22.0
SECTION_BARS = 4  # issue 26: a section is whole bars; four, as a phrase of a chorale
HARD_CUT = 0.0
CANDIDATES = (0.005, 0.01, 0.02, 0.05, 0.1)  # s, the fades tried on the tuning split
SEAM_MARGIN_S = 0.005  # a click's step lies within this of the seam
# Spectral flux frames: 2048 samples hop 512 at 44.1 kHz (librosa's defaults), in seconds so any rate has them.
FLUX_FRAME_S, FLUX_HOP_S = 2048 / 44_100, 512 / 44_100
FLUX_FLOOR_DB = 80.0  # librosa.power_to_db's top_db: FluidSynth's -77 dBFS floor would otherwise be noise
FLUX_PERCENTILE = 99.0  # issue 26 point 3


@dataclass(frozen=True)
class SectionSet:
    """One stem, the continuation's whole rendering on the stem's time line, and the section's samples."""

    piece: Any  # corpus.Piece
    other: Any  # corpus.Piece whose audio stands in for the continuation
    meter: str
    first_bar: int  # the section's first bar, from 1
    stem: Audio
    continuation: Audio  # as long as the stem; the section's new audio is its [start, end)
    start: int
    end: int

    @property
    def new(self) -> Audio:
        return Audio(self.continuation.samples[:, self.start : self.end], self.stem.sample_rate)


def split(held_out: bool) -> list[tuple[int, Any]]:
    """The split's (place in the shuffle, corpus.Piece)."""
    first = SPLIT_START + (SPLIT_SIZE if held_out else 0)
    paths = chords.chorales(first + SPLIT_SIZE)
    return [(i, chords.chorale(paths[i], i)) for i in range(first, first + SPLIT_SIZE)]


def build(
    piece: Any, other_path: str, seconds: float, font: Path, first_bar: int, bars: int = SECTION_BARS
) -> SectionSet:
    """``piece`` played for ``seconds`` (whole bars, cut to its written length), the section bars
    ``first_bar`` .. ``first_bar + bars - 1``, and ``other_path`` played as long at its tempo and programs."""
    ex = corpus.excerpt(piece, seconds)
    beat = 60.0 / piece.bpm
    stem = corpus.play(piece, ex, soundfont=font)
    rate = stem.sample_rate
    stem = stem.fitted(round(ex.quarters * beat * rate))
    start, end = (round((bar - 1) * ex.bar * beat * rate) for bar in (first_bar, first_bar + bars))
    if first_bar < 2 or end >= stem.num_samples:
        raise ValueError(
            f"{piece.path}: bars {first_bar}-{first_bar + bars - 1} leave no bar before or after"
        )
    other = corpus.Piece(other_path, piece.bpm, piece.programs)
    played = corpus.play(other, corpus.excerpt(other, seconds), soundfont=font)
    if played.num_samples < end or played.sample_rate != rate:
        raise ValueError(f"{other_path}: {played.duration:.1f} s at {piece.bpm} bpm, the section ends later")
    return SectionSet(piece, other, ex.meter, first_bar, stem, played.fitted(stem.num_samples), start, end)


def drawn(piece: Any, index: int, paths: Sequence[str], seconds: float, seed: int) -> tuple[str, int]:
    """The set's continuation (another chorale of ``paths``) and the section's first bar (a bar or more
    before the section and after it), drawn with ``seed``."""
    rng = np.random.default_rng([seed, index])
    others = [p for p in paths if p != piece.path]
    ex = corpus.excerpt(piece, seconds)
    last = int(round(ex.quarters / ex.bar)) - SECTION_BARS  # a bar after the section
    return str(others[int(rng.integers(len(others)))]), int(rng.integers(2, max(last, 2) + 1))


def seam_spans(start: int, end: int, total: int, fade: float, rate: int) -> list[tuple[int, int]]:
    """The joins' samples ``[lo, hi)`` as ``splice_section`` puts them (a hard cut's: empty, at the cut)."""
    n = min(round(fade * rate), (end - start) // 2)
    spans = [(start, start + n)] if start > 0 else []
    return spans + ([(end - n, end)] if end < total else [])


def flux(samples: np.ndarray, rate: int) -> tuple[np.ndarray, int, int]:
    """Per frame the summed rise of the dB magnitude over the frame before (0 for the first), of the
    channels' mean; with the hop and frame length in samples. Frame k covers ``[k*hop, k*hop+frame)``."""
    frame, hop = round(FLUX_FRAME_S * rate), round(FLUX_HOP_S * rate)
    mono = samples.mean(axis=0, dtype=np.float64)
    count = 1 + max(len(mono) - frame, 0) // hop
    windows = np.lib.stride_tricks.sliding_window_view(mono, frame)[::hop][:count]
    db = 20.0 * np.log10(np.abs(np.fft.rfft(windows * np.hanning(frame), axis=1)) + 1e-12)
    db = np.maximum(db, db.max() - FLUX_FLOOR_DB)
    rises = np.maximum(np.diff(db, axis=0), 0.0).sum(axis=1)
    return np.concatenate(([0.0], rises)), hop, frame


def seam_figures(joined: Audio, s: SectionSet, spans: Sequence[tuple[int, int]]) -> list[dict[str, float]]:
    """Per seam: its step, flux and own_flux ratios (module docstring)."""
    rate, margin = joined.sample_rate, round(SEAM_MARGIN_S * joined.sample_rate)
    windows = [(max(lo - margin, 0), hi + margin) for lo, hi in spans]
    steps = np.abs(np.diff(joined.samples, axis=1)).max(axis=0)  # step t: sample t to t + 1
    near = np.zeros(len(steps), dtype=bool)
    for lo, hi in windows:
        near[max(lo - 1, 0) : hi] = True  # every step touching a sample of the window
    values, hop, frame = flux(joined.samples, rate)
    own = np.maximum(flux(s.stem.samples, rate)[0], flux(s.continuation.samples, rate)[0])
    starts = np.arange(len(values)) * hop
    frames = [(starts < hi) & (starts + frame > lo) for lo, hi in windows]
    p99 = float(np.percentile(values[~np.logical_or.reduce(frames)], FLUX_PERCENTILE))
    rest = float(steps[~near].max())
    return [
        {
            "step": _round(steps[max(lo - 1, 0) : hi].max() / rest),
            "flux": _round(values[at].max() / p99),
            "own_flux": _round(own[at].max() / p99),
        }
        for (lo, hi), at in zip(windows, frames)
    ]


def measure(s: SectionSet, fade: float) -> dict[str, Any]:
    """The set joined at ``fade``: bit-identical outside the section, and each seam's figures."""
    rate, a, b = s.stem.sample_rate, s.start, s.end
    joined = splice_section(s.stem, s.new, a / rate, fade=fade).audio
    new, old = joined.samples, s.stem.samples
    identical = np.array_equal(new[:, :a], old[:, :a]) and np.array_equal(new[:, b:], old[:, b:])
    spans = seam_spans(a, b, s.stem.num_samples, fade, rate)
    return {"identical": bool(identical), "seams": seam_figures(joined, s, spans)}


def excess(seam: dict[str, float]) -> float:
    """A seam's flux over what passes: the stem's 99th percentile or the music's own onset there."""
    return seam["flux"] / max(1.0, seam["own_flux"])


def passes(seam: dict[str, float]) -> bool:
    return seam["step"] <= 1.0 and excess(seam) <= 1.0


def row(s: SectionSet, fades: Sequence[float]) -> dict[str, Any]:
    rate = s.stem.sample_rate
    return {
        "piece": s.piece.path,
        "continuation": s.other.path,
        "programs": list(s.piece.programs),
        "bpm": s.piece.bpm,
        "meter": s.meter,
        "seconds": round(s.stem.duration, 3),
        "bars": [s.first_bar, s.first_bar + SECTION_BARS - 1],
        "section_s": [round(s.start / rate, 3), round(s.end / rate, 3)],
        "fades": {_key(f): measure(s, f) for f in fades},
    }


def fade_summary(measured: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One fade over the sets: seams, how many pass each measure, the worst figures, all identical."""
    seams = [seam for m in measured for seam in m["seams"]]
    identical = all(m["identical"] for m in measured)
    return {
        "seams": len(seams),
        "identical": identical,
        "step_pass": sum(seam["step"] <= 1.0 for seam in seams),
        "flux_within_p99": sum(seam["flux"] <= 1.0 for seam in seams),
        "flux_pass": sum(excess(seam) <= 1.0 for seam in seams),
        "failing_seams": sum(not passes(seam) for seam in seams),
        "worst_step": max(seam["step"] for seam in seams),
        "worst_flux": max(seam["flux"] for seam in seams),
        "worst_flux_excess": _round(max(excess(seam) for seam in seams)),
        "passed": identical and all(passes(seam) for seam in seams),
    }


def summary(rows: Sequence[dict[str, Any]], fades: Sequence[float]) -> dict[str, Any]:
    """Each fade's summary, the candidate chosen (module docstring) and whether the hard cut fails."""
    out = {_key(f): fade_summary([r["fades"][_key(f)] for r in rows]) for f in fades}
    tried = [f for f in fades if f != HARD_CUT]
    passing = [f for f in tried if out[_key(f)]["passed"]]
    best = min(tried, key=lambda f: (out[_key(f)]["failing_seams"], out[_key(f)]["worst_flux_excess"], f))
    hard = out.get(_key(HARD_CUT))
    chosen = {
        "chosen_fade_s": min(passing) if passing else best,
        "chosen_by": "every seam passes" if passing else "fewest failing seams",
    }
    return {
        "fades": out,
        **(chosen if len(tried) > 1 else {}),  # the held-out split runs JOIN_FADE_S alone
        "hard_cut_fails": None if hard is None else not hard["passed"],
    }


def _key(fade: float) -> str:
    return f"{fade:g}"


def _round(x: float) -> float:
    return round(float(x), 4)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--held-out", action="store_true", help="the held-out split at JOIN_FADE_S (run once)"
    )
    parser.add_argument("--soundfont", choices=sorted(chords.SOUNDFONTS), default="fluidr3")
    parser.add_argument("--seconds", type=float, default=STEM_SECONDS, help="stem length (whole bars)")
    parser.add_argument("--seed", type=int, default=0, help="each set's continuation and section")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK} sets")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    font = chords.SOUNDFONTS[args.soundfont]
    fades = (HARD_CUT, JOIN_FADE_S) if args.held_out else (HARD_CUT, *CANDIDATES)
    pieces = split(args.held_out)
    paths = [p.path for _, p in pieces]
    rows = []
    for index, piece in pieces[: QUICK if args.quick else None]:
        other, first_bar = drawn(piece, index, paths, args.seconds, args.seed)
        rows.append(row(build(piece, other, args.seconds, font, first_bar), fades))
    out = {
        "split": "held-out" if args.held_out else "tuning",
        "soundfont": font.name,
        "seed": args.seed,
        "seconds_per_set": args.seconds,
        "sets": len(rows),
        "join_fade_s": JOIN_FADE_S,
        **summary(rows, fades),
        "wall_s": round(time.perf_counter() - start, 1),
        "per_set": rows,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
