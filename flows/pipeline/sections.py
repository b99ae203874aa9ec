"""Section redos as a render folder keeps them (issue 26): what was asked, where it lies, and how it is stored.

``render --force --only STEM --section NAME`` does not redo anything by itself: it records a :class:`SectionRedo`
for the stem's generation items (and those of the stems that follow it) in ``SECTIONS``, and renders. The
generation stage (``flows.pipeline.redo``) then makes each item's raw audio from its base generation and its
redos, each cached by its own inputs. Redos are layers in the order they were asked: each goes on top of the
audio as it stood when it was asked, so redoing bars 1-2 after bars 5-6 leaves the 5-6 already heard as they
were, and a redo over earlier ones covers their bars. Asking the last redo again adds nothing. Recorded redos
stay: a later ``--force`` render keeps them until ``--reset-sections`` drops them.

Bars are counted from 1 on the arrangement's grid (``bpm`` beats of the time signature per bar); a redo covers
bars ``first``..``last`` inclusive, the last one cut at the track's end.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.pipeline.paths import SECTIONS
from flows.schema.models import Arrangement
from stems.audio import write_bytes_atomic
from stems.errors import UserInputError
from stems.musicgen.plan import bar_seconds, section_spans

OCCURRENCE_MARK = ":"  # `--section chorus:2`: the second section named chorus


@dataclass(frozen=True)
class SectionRedo:
    """One redo of a generation item: bars ``first``..``last`` (1-based, inclusive) generated again with
    ``seed`` (the one asked for; each item derives its own from it); ``section`` names it when asked by name.
    ``take``: of a stem with takes, the take that was the stem when asked; every take of the section is then
    spliced into that take's audio, so the stem outside the bars stays what it was whichever take wins."""

    first: int
    last: int
    seed: int
    section: str | None = None
    take: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "bars": [self.first, self.last],
            "seed": self.seed,
            **({} if self.take is None else {"take": self.take}),
        }

    @classmethod
    def from_json(cls, data: Any) -> SectionRedo | None:
        """The redo ``to_json`` wrote, or None for anything else (a hand-edited file loses that entry only)."""
        if not isinstance(data, Mapping):
            return None
        bars, seed, section, take = data.get("bars"), data.get("seed"), data.get("section"), data.get("take")
        if not (isinstance(bars, list) and len(bars) == 2 and all(type(b) is int and b >= 1 for b in bars)):
            return None
        if type(seed) is not int or not (section is None or isinstance(section, str)) or bars[1] < bars[0]:
            return None
        if not (take is None or (type(take) is int and take >= 1)):
            return None
        return cls(bars[0], bars[1], seed, section, take)

    @property
    def label(self) -> str:
        bars = f"bars {self.first}-{self.last}"
        return f"{self.section} ({bars})" if self.section else bars


Redos = dict[str, tuple[SectionRedo, ...]]


def read_redos(root: Path) -> Redos:
    """The redos recorded in render folder ``root``: {item: redos in the order asked}; {} when none."""
    try:
        data = json.loads((Path(root) / SECTIONS).read_bytes())
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    out: Redos = {}
    for item, entries in data.items():
        redos = [r for r in map(SectionRedo.from_json, entries if isinstance(entries, list) else []) if r]
        if redos:
            out[str(item)] = tuple(redos)
    return out


def redos_of(root: Path, item: str) -> tuple[SectionRedo, ...]:
    return read_redos(root).get(item, ())


def write_redos(root: Path, redos: Redos) -> None:
    data = {item: [r.to_json() for r in entries] for item, entries in sorted(redos.items()) if entries}
    write_bytes_atomic(Path(root) / SECTIONS, json.dumps(data, indent=2).encode())


def appended(existing: Sequence[SectionRedo], new: SectionRedo) -> tuple[SectionRedo, ...]:
    """``existing`` with ``new`` on top, unless it is the last one asked again (which changes nothing)."""
    return tuple(existing) if existing and existing[-1] == new else (*existing, new)


def total_bars(arrangement: Arrangement) -> int:
    """Bars of the track: whole ones and the one its end cuts."""
    bar = bar_seconds(arrangement.bpm, arrangement.beats_per_bar)
    return math.ceil(round(arrangement.duration / bar, 9))


def bar_span(arrangement: Arrangement, first: int, last: int) -> tuple[float, float]:
    """Seconds ``[start, end)`` of bars ``first``..``last``, the end cut at the track's end."""
    bar = bar_seconds(arrangement.bpm, arrangement.beats_per_bar)
    return (first - 1) * bar, min(last * bar, arrangement.duration)


def beat_seconds(arrangement: Arrangement) -> float:
    return 60.0 / arrangement.bpm


def section_bars(arrangement: Arrangement, name: str) -> tuple[int, int, str]:
    """Bars ``(first, last, label)`` of the section ``name``, or of its N-th occurrence ``name:N``.

    The last section runs to the track's end, as generation places it (``stems.musicgen.plan.section_spans``).
    """
    placed = section_spans(
        [(s.name, s.bars, s.prompt) for s in arrangement.sections],
        arrangement.bpm,
        arrangement.beats_per_bar,
        arrangement.duration,
    )
    bars_of: list[tuple[str, int, int]] = []
    first = 1
    for index, section in enumerate(arrangement.sections[: len(placed)]):
        last = first + section.bars - 1 if index < len(placed) - 1 else total_bars(arrangement)
        bars_of.append((section.name, first, last))
        first += section.bars
    if not bars_of:
        raise UserInputError(
            f"--section {name}: the arrangement has no sections; name bars instead, e.g. --bars 9-16"
        )
    known = _known_sections(bars_of)
    base, mark, count = name, "", ""
    if not any(n == name for n, _, _ in bars_of) and OCCURRENCE_MARK in name:
        base, mark, count = name.rpartition(OCCURRENCE_MARK)
    matches = [(a, b) for n, a, b in bars_of if n == base]
    if not matches:
        raise UserInputError(f"--section {name}: the arrangement has no section {base!r}; it has {known}")
    if mark:
        if not (count.isdigit() and 1 <= int(count) <= len(matches)):
            raise UserInputError(
                f"--section {name}: section {base!r} occurs {len(matches)} time(s); the sections are {known}"
            )
        return (*matches[int(count) - 1], f"{base}{OCCURRENCE_MARK}{count}")
    if len(matches) > 1:
        raise UserInputError(
            f"--section {name}: {len(matches)} sections are called {base!r}; say which, e.g. "
            f"--section {base}{OCCURRENCE_MARK}2. The sections are {known}"
        )
    return (*matches[0], base)


def _known_sections(bars_of: Sequence[tuple[str, int, int]]) -> str:
    seen: dict[str, int] = {}
    names = []
    for name, a, b in bars_of:
        seen[name] = seen.get(name, 0) + 1
        repeated = sum(n == name for n, _, _ in bars_of) > 1
        names.append(f"{name}{OCCURRENCE_MARK}{seen[name]}" if repeated else name)
        names[-1] += f" (bars {a}-{b})"
    return ", ".join(names)


def parse_bars(text: str) -> tuple[int, int]:
    """``"9-16"`` -> (9, 16); ``"9"`` is bar 9 alone. A UserInputError says what is allowed."""
    first, dash, last = text.partition("-")
    try:
        a, b = int(first), int(last if dash else first)
    except ValueError:
        raise UserInputError(
            f"--bars {text}: give bars as FIRST-LAST, counted from 1, e.g. --bars 9-16"
        ) from None
    if a < 1 or b < a:
        raise UserInputError(
            f"--bars {text}: bars count from 1 and the last is not before the first, e.g. 9-16"
        )
    return a, b


def check_bars(arrangement: Arrangement, first: int, last: int) -> None:
    total = total_bars(arrangement)
    if last > total:
        raise UserInputError(
            f"--bars {first}-{last}: the track has {total} bars ({arrangement.duration:g} s at "
            f"{arrangement.bpm:g} bpm, {arrangement.time_signature})"
        )
