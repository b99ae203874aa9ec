"""Take scoring (``stems.takes``) measured on Bach chorales we did not write; prints one JSON object.

Each set is one chorale of bench/chords.py's shuffle (``chorales``, its SPLIT_SEED), past the chords bench's
own splits: chorales 20-25 of the shuffle are the tuning split, 26-31 the held-out one (``--held-out``,
run once). It is cut to whole bars of about ``--seconds`` and played as bench/chords.py plays it
(``chorale``: its seeded tempo and programs). The target is what the arrangement would ask for: that tempo,
the meter's beats per bar, the key of the excerpt (music21, ``corpus.excerpt_key``) and its chords (the
chords bench's ``reference``, major and minor beats only), or with ``--part`` its notes instead of chords.

Each set holds the good rendering and one variant per flaw (issue 25 point 5), all seeded (``--seed``):

- ``tempo``: played 3-6 % off the target tempo (steady), the sign drawn;
- ``semitone``: every note transposed a semitone up or down, and rendered;
- ``cents``: the good rendering pitch-shifted 30 cents up or down by Rubber Band (``stems.conform.warp``,
  its length kept);
- ``clipped``: the good rendering (peak 0.5) times 8, clipped to +-1;
- ``noise``: the good rendering plus white noise of the same RMS (0 dB SNR);
- ``bleed``: the good rendering plus a GM drum groove (kick, snare, eighth hi-hats at the set's tempo, as a
  drum stem of the same song would leak) 6 dB under it in RMS;
- ``wrong_chords``: another chorale in the same key and meter played with the same programs and tempo: the
  first of the shuffle's chorales 32-59 in that key, else the first in that mode, transposed to it.

Every take is cut to the excerpt's written length (its bars at the target tempo), as a take lasts what its
stem was asked to: FluidSynth renders about 2 s past the last note-off (0.5 s of release, then a -77 dBFS
floor), which would otherwise count as 12-15 % silence in every rendering but the noisy ones.

Measured: per set each variant's total and rank (``stems.takes.rank``; no separation ran, so ``bleed`` is
not a measured term); ``good_first``, the share of sets where the good rendering ranks first (goal: every
set); each flaw's mean rank; each term's mean value per variant (which term catches which flaw); how many
takes had their downbeat found off a bar line (harmony is judged at the bar phase a take fits best, so a
misplaced downbeat does not cost it). ``cost``: on the debug MusicGen model on this CPU, ms per decode step
rendering K takes of one stem in one batch against one take (``--no-cost`` skips it).

    .venv/bin/python bench/takes.py                  # tuning split, 6 sets x 20 s
    .venv/bin/python bench/takes.py --held-out       # held-out split, run once, as it came out
    .venv/bin/python bench/takes.py --part           # harmony judged against the part's notes
    .venv/bin/python bench/takes.py --quick          # 2 sets x 12 s
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stems.audio import Audio
from stems.conform.keys import key_name
from stems.takes import WEIGHTS, TakeScores, Target, measure, rank
from stems.transcription.midi import Note
from tests.support.bench_scripts import load_bench

chords = load_bench("chords")
corpus = chords.corpus
render = load_bench("eval_transcription").render

SPLIT_START = 2 * chords.SPLIT_SIZE  # the chords bench's tuning and held-out chorales come first
SPLIT_SIZE = 6
POOL_END = 60  # wrong_chords are looked for among the shuffle's chorales after both splits, up to here
QUICK, QUICK_SECONDS = 2, 12.0
VARIANTS = ("good", "tempo", "semitone", "cents", "clipped", "noise", "bleed", "wrong_chords")
FLAWS = VARIANTS[1:]
TEMPO_OFF = (0.03, 0.06)  # issue 25 point 5: 3-6 % off tempo
CENTS = 30.0
CLIP_GAIN = 8.0  # the good rendering peaks at 0.5 (corpus.play), so 4x over full scale at its peak
NOISE_SNR_DB = 0.0
BLEED_DB = -6.0  # the groove's RMS against the good rendering's
# GM drum notes of the groove: kick on even beats, snare on odd ones, closed hi-hat on every eighth.
KICK, SNARE, HAT = 36, 38, 42
DRUM_HIT_S = 0.1
DOWNBEAT_WINDOW = 0.07  # s: a downbeat farther than this from a bar line is off (mir_eval's beat window)
GOAL_GOOD_FIRST = 1.0  # issue 25 point 5: the good one first in every set
COST_TAKES = 4  # K takes against one
COST_SECONDS = 2.0  # a debug stem this long: 100 decode steps
COST_PROMPT = "warm felt piano, chorale"


@dataclass(frozen=True)
class TakeSet:
    """One chorale's target and its takes (``VARIANTS``), with what the seeded draws gave."""

    piece: Any  # corpus.Piece
    target: Target
    takes: Mapping[str, Audio]
    drawn: Mapping[str, Any]


def split(held_out: bool) -> tuple[list[tuple[int, Any]], list[str]]:
    """The split's (place in the shuffle, corpus.Piece) and the wrong_chords candidates (paths)."""
    paths = chords.chorales(POOL_END)
    first = SPLIT_START + (SPLIT_SIZE if held_out else 0)
    picked = [(i, chords.chorale(paths[i], i)) for i in range(first, first + SPLIT_SIZE)]
    return picked, paths[SPLIT_START + 2 * SPLIT_SIZE :]


def wrong_piece(piece: Any, ex: Any, seconds: float, pool: Sequence[str]) -> Any:
    """Another chorale in ``ex``'s key and meter played as ``piece`` is: the first of ``pool`` in that key,
    else the first in that mode, transposed to its tonic."""
    assert ex.key is not None
    tonic, mode = ex.key
    same_mode = None
    for path in pool:
        other = corpus.Piece(path, piece.bpm, piece.programs)
        found = corpus.excerpt(other, seconds, key=True)
        if found.meter != ex.meter or found.key is None or found.key[1] != mode:
            continue
        if found.key[0] == tonic:
            return other
        if same_mode is None:
            shift = (tonic - found.key[0] + 6) % 12 - 6  # the nearer way, -6..5 semitones
            same_mode = corpus.Piece(path, piece.bpm, piece.programs, transpose=shift)
    if same_mode is None:
        raise ValueError(f"no chorale of the pool is in {mode} and {ex.meter}")
    return same_mode


def target(piece: Any, ex: Any, case: Any, part: bool) -> Target:
    """What the set's takes should fit: the piece's tempo, meter and key, and its chords or its notes."""
    assert ex.meter.endswith("/4") and ex.key is not None  # chorales() keeps quarter-note meters
    return Target(
        bpm=piece.bpm,
        beats_per_bar=int(ex.bar),
        key=key_name(*ex.key),
        chords=None if part else case.reference,
        part=corpus.reference_notes(piece, ex) if part else None,
    )


def build(piece: Any, wrong: Any, seconds: float, rng: np.random.Generator, part: bool = False) -> TakeSet:
    """The good rendering of ``piece`` and its flawed variants, ``wrong`` played for wrong_chords; every
    take as long as the excerpt is written (a take lasts what its stem was asked to)."""
    case = chords.make_case(piece, seconds, chords.SOUNDFONTS["fluidr3"])
    ex = corpus.excerpt(piece, seconds, key=True)
    length = round(ex.quarters * 60.0 / piece.bpm * case.audio.sample_rate)
    good = case.audio.fitted(length)
    factor = 1.0 + float(rng.choice([-1.0, 1.0]) * rng.uniform(*TEMPO_OFF))
    semitone, cents = int(rng.choice([-1, 1])), float(rng.choice([-CENTS, CENTS]))
    takes = {
        "good": good,
        "tempo": corpus.play(piece, ex, timing=corpus.steady(piece.bpm * factor)),
        "semitone": corpus.play(piece, ex.transposed(semitone)),
        "cents": pitch_shifted(good, cents),
        "clipped": Audio(np.clip(CLIP_GAIN * good.samples, -1.0, 1.0), good.sample_rate),
        "noise": mixed(good, white_noise(good, rng), NOISE_SNR_DB),
        "bleed": mixed(good, groove(piece.bpm, good.duration), BLEED_DB),
        "wrong_chords": corpus.play(wrong, corpus.excerpt(wrong, seconds)),
    }
    takes = {name: audio.fitted(length) for name, audio in takes.items()}
    drawn = {"tempo_factor": round(factor, 4), "semitones": semitone, "cents": cents, "wrong": wrong.name}
    drawn["wrong_transpose"] = wrong.transpose
    return TakeSet(piece, target(piece, ex, case, part), takes, drawn)


def pitch_shifted(audio: Audio, cents: float) -> Audio:
    """``audio`` ``cents`` sharp (flat when negative), its length kept (Rubber Band, as conform retunes)."""
    from stems.conform.warp import stretch

    ends = np.array([0.0, audio.duration])
    return stretch(audio, ends, ends, cents=cents).fitted(audio.num_samples)


def white_noise(audio: Audio, rng: np.random.Generator) -> Audio:
    return Audio(rng.standard_normal(audio.samples.shape).astype(np.float32), audio.sample_rate)


def mixed(audio: Audio, other: Audio, db: float) -> Audio:
    """``audio`` plus ``other`` at ``db`` against ``audio``'s RMS, fitted to its length and channels."""
    assert other.sample_rate == audio.sample_rate
    extra = other.fitted(audio.num_samples).samples
    extra = (
        np.broadcast_to(extra.mean(axis=0), audio.samples.shape) if len(extra) != audio.channels else extra
    )
    gain = _rms(audio.samples) / max(_rms(extra), 1e-12) * 10.0 ** (db / 20.0)
    return Audio((audio.samples + gain * extra).astype(np.float32), audio.sample_rate)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def groove(bpm: float, seconds: float) -> Audio:
    """A GM drum groove at ``bpm`` lasting ``seconds``: kick on even beats, snare on odd, hi-hat eighths."""
    eighth = 30.0 / bpm
    notes = []
    for k in range(int(np.ceil(seconds / eighth))):
        start = k * eighth
        hits = [(HAT, 70)] + ([(KICK if k % 4 == 0 else SNARE, 100)] if k % 2 == 0 else [])
        notes += [Note(start, start + DRUM_HIT_S, pitch, velocity) for pitch, velocity in hits]
    with tempfile.TemporaryDirectory() as tmp:
        return render(notes, 0, True, Path(tmp))


def score(takes: TakeSet) -> dict[str, Any]:
    """Each take's total, rank (1 best) and terms (value, figure) against the set's target, and the key and
    first downbeat its analysis found (harmony is judged at the bar phase the take fits best:
    ``stems.takes.measures.harmony_share``)."""
    from stems.conform import analyze

    t, measured, found = takes.target, {}, {}
    for name, audio in takes.takes.items():
        analysis = analyze(audio, bpm_hint=t.bpm, beats_per_bar=t.beats_per_bar, family=t.family)
        measured[name] = measure(audio, t, analysis=analysis)
        bar = 60.0 / t.bpm * t.beats_per_bar
        off = None if analysis.downbeat is None else abs((analysis.downbeat + bar / 2) % bar - bar / 2)
        found[name] = {"key": analysis.key, "downbeat_s": _round(analysis.downbeat), "off_bar_s": _round(off)}
    ranked = _ranked(measured)
    rows = {n: {**_take_row(scores, ranked.index(n) + 1), **found[n]} for n, scores in measured.items()}
    return {
        "piece": takes.piece.path,
        "programs": list(takes.piece.programs),
        "bpm": takes.piece.bpm,
        "key": takes.target.key,
        "seconds": round(takes.takes["good"].duration, 2),
        "drawn": dict(takes.drawn),
        "ranked": ranked,
        "takes": rows,
    }


def _ranked(measured: Mapping[str, TakeScores]) -> list[str]:
    names = list(measured)
    return [names[i] for i in rank(list(measured.values()))]


def _take_row(scores: TakeScores, place: int) -> dict[str, Any]:
    terms = {n: [_round(t.value), _round(t.figure)] for n, t in scores.terms.items() if t.value is not None}
    return {"total": _round(scores.total), "rank": place, "terms": terms}


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The ranking (good_first, mean ranks, flaws above good), each term's mean per variant, and how many
    takes had their downbeat found off a bar line (more than 70 ms, mir_eval's beat window)."""
    terms = {
        v: {n: _mean([r["takes"][v]["terms"].get(n, [None])[0] for r in rows]) for n in WEIGHTS}
        for v in VARIANTS
    }
    good_first = float(np.mean([r["ranked"][0] == "good" for r in rows]))
    off = {v: sum((r["takes"][v]["off_bar_s"] or 0.0) > DOWNBEAT_WINDOW for r in rows) for v in VARIANTS}
    return {
        "sets": len(rows),
        **_ranking(rows),
        "mean_terms": {v: {n: x for n, x in t.items() if x is not None} for v, t in terms.items()},
        "downbeat_off_bar_line": off,
        "goal_good_first": GOAL_GOOD_FIRST,
        "met": good_first >= GOAL_GOOD_FIRST,
    }


def _ranking(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """good_first, mean rank and mean total per variant, and the sets where each flaw ranked above good."""
    place = {v: [r["takes"][v]["rank"] for r in rows] for v in VARIANTS}
    above = {f: sum(a < g for a, g in zip(place[f], place["good"])) for f in FLAWS}
    return {
        "good_first": round(float(np.mean([p == 1 for p in place["good"]])), 4),
        "mean_rank": {v: _mean(p) for v, p in place.items()},
        "ranked_above_good": {f: n for f, n in above.items() if n},
        "mean_total": {v: _mean([r["takes"][v]["total"] for r in rows]) for v in VARIANTS},
    }


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(float(np.mean(known)), 4) if known else None


def cost(takes: int = COST_TAKES, seconds: float = COST_SECONDS) -> dict[str, Any]:
    """ms per decode step of the debug model on the CPU: ``takes`` takes of one stem (one prompt, seeds
    0..K-1) in one batch against one take; the faster of bench/decode.py's REPEATS interleaved runs."""
    from bench.decode import REPEATS, _timed_run
    from bench.generate import device_label
    from stems.musicgen.generator import Generator
    from stems.musicgen.types import SamplingParams, StemRequest

    gen = Generator("debug", "cpu")
    params = SamplingParams()
    batches = {k: [StemRequest(f"take{i}", COST_PROMPT, seconds, i) for i in range(k)] for k in (1, takes)}
    for reqs in batches.values():  # one-time costs out of the timing
        gen.generate(reqs, params)
    runs: dict[int, list[dict[str, Any]]] = {k: [] for k in batches}
    for _ in range(REPEATS):
        for k, reqs in batches.items():
            runs[k].append(_timed_run(gen, reqs, params))
    ms = {k: min(r["ms"] for r in rs) for k, rs in runs.items()}
    render_s = {k: min(r["seconds"] for r in rs) for k, rs in runs.items()}
    return {
        "model": "debug",
        "device_label": device_label(gen.device),
        "takes": takes,
        "seconds_per_take": seconds,
        "steps": runs[1][0]["steps"],
        "ms_per_step": {"batch_1": round(ms[1], 3), f"batch_{takes}": round(ms[takes], 3)},
        "ratio": round(ms[takes] / ms[1], 3),
        "render_s": {"batch_1": round(render_s[1], 3), f"batch_{takes}": round(render_s[takes], 3)},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", action="store_true", help="the held-out split (run once)")
    parser.add_argument("--seconds", type=float, default=20.0, help="excerpt length (whole bars)")
    parser.add_argument("--seed", type=int, default=0, help="the flaws' draws")
    parser.add_argument("--part", action="store_true", help="harmony against the notes, not the chords")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK} sets x {QUICK_SECONDS:g} s")
    parser.add_argument("--no-cost", action="store_true", help="skip the K-takes decode cost")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    pieces, pool = split(args.held_out)
    if args.quick:
        pieces, args.seconds = pieces[:QUICK], QUICK_SECONDS
    rows = []
    for index, piece in pieces:
        ex = corpus.excerpt(piece, args.seconds, key=True)
        wrong = wrong_piece(piece, ex, args.seconds, pool)
        rng = np.random.default_rng([args.seed, index])
        rows.append(score(build(piece, wrong, args.seconds, rng, args.part)))
    out: dict[str, Any] = {
        "split": "held-out" if args.held_out else "tuning",
        "harmony_against": "part" if args.part else "chords",
        "seed": args.seed,
        "seconds_per_set": args.seconds,
        **summary(rows),
        "sets_s": round(time.perf_counter() - start, 1),
    }
    if not args.no_cost:
        out["cost"] = cost()
    out["wall_s"] = round(time.perf_counter() - start, 1)
    out["per_set"] = rows
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
