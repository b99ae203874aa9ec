"""What a take scores on each measure, and its total (pure: numbers in, numbers out).

Every term is a number in 0..1, higher is better, with its weight; a term the render could not measure (no
chords planned, no separation ran) is None and left out of the total, which is the weighted mean of the rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# The terms, in the order the manifest, the report and ``musicmaker rank`` list them, with their weights.
# Harmony counts double: a take that plays other chords than the song's is unusable however steady it is.
WEIGHTS: Mapping[str, float] = {
    "beat_stability": 1.0,  # the tempo confidence of the beat analysis (before conform)
    "tempo": 1.0,  # the tempo's error at the arranged metrical level (before conform)
    "harmony": 2.0,  # beats on the planned chord, or on the part's pitch classes
    "key": 1.0,  # the key found against the arranged key
    "tuning": 1.0,  # cents off A440
    "bleed": 1.0,  # the share of energy the separation kept
    "clipping": 1.0,  # samples in flat tops at the peak
    "silence": 1.0,  # blocks under the silence floor
    "dropouts": 1.0,  # sudden gaps inside sound
    "guide": 1.0,  # the take's chroma against its melody guide
}
TEMPO_ZERO = 0.10  # a tempo this far off the arranged one (after folding by octaves) scores 0
TUNING_ZERO = 50.0  # cents: a quarter tone off scores 0
RELATIVE_KEY = 0.5  # the relative major or minor of the arranged key: the same notes, another centre
CLIP_SHARE_ZERO = 0.01  # 1 % of the samples in flat tops scores 0
DROPOUTS_ZERO = 5.0  # dropouts a minute that score 0


@dataclass(frozen=True)
class Term:
    value: float | None  # 0..1, higher is better; None: not measured
    weight: float
    figure: float | None = None  # what was measured, in its own unit (bpm error, cents, a share)

    def to_json(self) -> dict[str, Any]:
        return {"value": _round(self.value), "weight": self.weight, "figure": _round(self.figure)}


@dataclass(frozen=True)
class TakeScores:
    """A take's terms (``WEIGHTS``' names) and their weighted mean."""

    terms: Mapping[str, Term]

    @property
    def total(self) -> float:
        scored = [(t.value, t.weight) for t in self.terms.values() if t.value is not None]
        weight = sum(w for _, w in scored)
        return sum(v * w for v, w in scored) / weight if weight else 0.0

    def to_json(self) -> dict[str, Any]:
        return {name: term.to_json() for name, term in self.terms.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TakeScores:
        """What :meth:`to_json` wrote (the weights as WEIGHTS has them now)."""

        def number(term: object, key: str) -> float | None:
            value = term.get(key) if isinstance(term, Mapping) else None
            return float(value) if isinstance(value, int | float) else None

        return scores(**{n: (number(data.get(n), "value"), number(data.get(n), "figure")) for n in WEIGHTS})


def scores(**values: tuple[float | None, float | None]) -> TakeScores:
    """TakeScores from ``name=(value, figure)`` for each term of WEIGHTS (one missing is not measured)."""
    unknown = set(values) - set(WEIGHTS)
    if unknown:
        raise ValueError(f"unknown take terms {sorted(unknown)}; the terms are {list(WEIGHTS)}")
    terms = {}
    for name, weight in WEIGHTS.items():
        value, figure = values.get(name, (None, None))
        terms[name] = Term(value, weight, figure)
    return TakeScores(terms)


def rank(takes: Sequence[TakeScores]) -> list[int]:
    """Indices of ``takes``, best total first; equal totals keep their order (the first take wins a tie)."""
    return sorted(range(len(takes)), key=lambda i: -takes[i].total)


def tempo_term(found_bpm: float | None, arranged_bpm: float) -> tuple[float | None, float | None]:
    """(value, relative error) of the tempo found, folded by octaves to the arranged level (conform plays a
    take at half or double speed at the arranged level); no tempo found scores 0."""
    if found_bpm is None or not math.isfinite(found_bpm) or found_bpm <= 0:
        return 0.0, None
    ratio = found_bpm / arranged_bpm
    ratio *= 2.0 ** -round(math.log2(ratio))
    error = abs(ratio - 1.0)
    return max(0.0, 1.0 - error / TEMPO_ZERO), error


def key_term(found: tuple[int, str] | None, arranged: tuple[int, str] | None) -> float | None:
    """1 for the arranged key, RELATIVE_KEY for its relative (the same pitch set, ``(tonic, mode)`` pairs
    as ``stems.conform.parse_key`` gives for major and minor), 0 for another; None without an arranged key."""
    if arranged is None:
        return None
    if found is None:
        return 0.0
    if found == arranged:
        return 1.0
    (tonic, mode), (want, want_mode) = found, arranged
    relative = {("major", "minor"): -3, ("minor", "major"): 3}.get((want_mode, mode))
    return RELATIVE_KEY if relative is not None and (want + relative - tonic) % 12 == 0 else 0.0


def tuning_term(cents: float) -> float:
    return max(0.0, 1.0 - abs(cents) / TUNING_ZERO)


def share_term(share: float | None, zero: float = 1.0) -> float | None:
    """1 - share / zero, at least 0 (a share of ``zero`` or more scores 0)."""
    return None if share is None else max(0.0, 1.0 - share / zero)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def flat_top_share(samples: np.ndarray, run: int = 3, tolerance: float = 1e-4) -> float:
    """The share of samples in runs of ``run`` or more consecutive samples within ``tolerance`` of the peak
    magnitude (a clipped waveform's flat tops, wherever its level was set afterwards)."""
    level = np.abs(np.asarray(samples, dtype=np.float32))
    peak = float(level.max(initial=0.0))
    if peak <= 0.0:
        return 0.0
    at = level >= peak - tolerance * max(peak, 1.0)
    total = 0
    for row in at.reshape(-1, at.shape[-1]):
        edges = np.diff(np.concatenate(([0], row.astype(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        lengths = ends - starts
        total += int(lengths[lengths >= run].sum())
    return total / max(level.size, 1)
