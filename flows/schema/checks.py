"""Cross-field rules of an arrangement: unique stem names, ``follow`` targets, sections that fit the song.

Each rule returns ``(loc, message)`` pairs pointing at the offending item, so the YAML loader can report the
line of that item; ``Arrangement``'s after-validator raises them when validating without a YAML file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from stems.transcription.midi import tempo_problem

Loc = tuple[str | int, ...]
Issue = tuple[Loc, str]


@dataclass(frozen=True)
class TextIssue:
    """A problem inside a text value: ``offset`` is the 0-based character of the value it is about (a chord
    symbol in a chart), so the loader can point at that character's own line and column."""

    loc: Loc
    message: str
    offset: int


AnyIssue = Issue | TextIssue


# The rules read an arrangement through these views of ``flows.schema.models``' classes, so that the models can
# import the rules without the rules importing the models (mypy checks that the models fit the views).
class _Section(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def bars(self) -> int: ...
    @property
    def prompt(self) -> str: ...
    @property
    def chords(self) -> str | None: ...


class _Band(Protocol):
    @property
    def prompt(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...


class Stem(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def prompt(self) -> str | None: ...
    @property
    def follow(self) -> str | None: ...
    @property
    def melody(self) -> Path | None: ...
    @property
    def from_(self) -> str | None: ...
    @property
    def source(self) -> str | None: ...
    @property
    def mute(self) -> bool: ...
    @property
    def solo(self) -> bool: ...
    @property
    def model(self) -> str | None: ...
    @property
    def midi(self) -> str | bool | None: ...
    @property
    def guide(self) -> bool: ...
    @property
    def melody_stems(self) -> Sequence[str] | None: ...
    @property
    def continuation(self) -> Path | None: ...
    @property
    def separate(self) -> str | None: ...
    @property
    def separation_model(self) -> str | None: ...
    @property
    def takes(self) -> int | None: ...
    @property
    def model_fields_set(self) -> set[str]: ...


class Arrangement(Protocol):
    @property
    def stems(self) -> Sequence[Stem]: ...
    @property
    def sections(self) -> Sequence[_Section]: ...
    @property
    def band(self) -> _Band | None: ...
    @property
    def bpm(self) -> float: ...
    @property
    def duration(self) -> float: ...
    @property
    def bar_seconds(self) -> float: ...
    @property
    def beats_per_bar(self) -> int: ...
    @property
    def beat_unit(self) -> int: ...
    @property
    def model(self) -> str: ...
    @property
    def chords(self) -> str | None: ...
    @property
    def melody(self) -> Path | None: ...
    @property
    def melody_stems(self) -> Sequence[str] | None: ...
    @property
    def takes(self) -> int: ...
    def stem(self, name: str) -> Stem: ...
    def stem_takes(self, stem: Any) -> int: ...


BAND = "band"  # `from: band`, the name of the band take (raw/band.wav) and of its generation and separation
# What a stem that comes out of the band take cannot have: it is not generated, and the take is split once.
BAND_STEM_FORBIDDEN = (
    "model",
    "melody",
    "follow",
    "melody_stems",
    "continuation",
    "separate",
    "separation_model",
    "takes",
)


def cross_field_issues(arrangement: Arrangement) -> list[Issue]:
    """Every cross-field problem of ``arrangement``, in document order of the rules."""
    return [
        *_duplicate_names(arrangement),
        *_follow_issues(arrangement),
        *_tempo_issues(arrangement),
        *_section_issues(arrangement),
        *_audible_issues(arrangement),
        *_band_issues(arrangement),
        *_takes_issues(arrangement),
    ]


def _takes_issues(arrangement: Arrangement) -> list[Issue]:
    """A followed stem has one take: its follower is generated from its audio before any take is picked."""
    issues: list[Issue] = []
    for index, stem in enumerate(arrangement.stems):
        followers = [s.name for s in arrangement.stems if s.follow == stem.name]
        takes = arrangement.stem_takes(stem)
        if followers and takes > 1:
            loc: Loc = ("stems", index, "takes") if stem.takes is not None else ("takes",)
            issues.append(
                (
                    loc,
                    f"stem {stem.name!r} would have {takes} takes, but {followers[0]!r} follows it and is "
                    f"generated from its audio before a take is picked; set takes: 1 on {stem.name!r}",
                )
            )
    return issues


def _duplicate_names(arrangement: Arrangement) -> list[Issue]:
    first: dict[str, int] = {}
    issues: list[Issue] = []
    for index, stem in enumerate(arrangement.stems):
        if stem.name in first:
            message = (
                f"duplicate stem name {stem.name!r} (also used by stems[{first[stem.name]}]); "
                "names become file names, so give each stem its own name"
            )
            issues.append((("stems", index, "name"), message))
        first.setdefault(stem.name, index)
    return issues


def _follow_issues(arrangement: Arrangement) -> list[Issue]:
    names = [stem.name for stem in arrangement.stems]
    issues: list[Issue] = []
    for index, stem in enumerate(arrangement.stems):
        loc: Loc = ("stems", index, "follow")
        if stem.follow is None:
            continue
        if stem.melody is not None:
            issues.append(
                (loc, "'follow' and 'melody' are exclusive (both give the stem a melody); keep one")
            )
        elif stem.follow == stem.name:
            issues.append((loc, f"stem {stem.name!r} follows itself; name another stem, or remove 'follow'"))
        elif stem.follow == BAND and arrangement.band is not None:
            continue  # the band take's audio guides the stem
        elif stem.follow not in names:
            also = f", or {BAND} (with a '{BAND}:' block)" if stem.follow == BAND else ""
            issues.append(
                (
                    loc,
                    f"received {stem.follow!r}, which is not a stem name; allowed: {', '.join(names)}{also}",
                )
            )
        elif arrangement.stem(stem.follow).from_ == BAND:
            issues.append(
                (
                    loc,
                    f"stem {stem.follow!r} comes out of the band take after generation, so it cannot "
                    f"guide another; write follow: {BAND} to follow the whole take",
                )
            )
    return issues + _follow_cycles(arrangement)


def _follow_cycles(arrangement: Arrangement) -> list[Issue]:
    """A followed stem is generated first, so ``follow`` links must not loop."""
    follows = {stem.name: stem.follow for stem in reversed(arrangement.stems)}  # first stem of a name wins
    index_of = {stem.name: index for index, stem in reversed(list(enumerate(arrangement.stems)))}
    seen: set[frozenset[str]] = set()
    issues: list[Issue] = []
    for stem in arrangement.stems:
        path: list[str] = []
        current: str | None = stem.name
        while current is not None and current in follows and current not in path:
            path.append(current)
            current = follows[current]
        if current is None or current not in path:
            continue
        cycle = path[path.index(current) :]
        if len(cycle) < 2 or frozenset(cycle) in seen:
            continue
        seen.add(frozenset(cycle))
        first = min(cycle, key=index_of.__getitem__)
        cycle = cycle[cycle.index(first) :] + cycle[: cycle.index(first)]
        loop = " -> ".join([*cycle, first])
        message = f"'follow' forms a cycle ({loop}); one stem of the cycle must not follow another"
        issues.append((("stems", index_of[first], "follow"), message))
    return issues


def _tempo_issues(arrangement: Arrangement) -> list[Issue]:
    """Every render writes MIDI files with the arrangement's tempo, so it must be one a MIDI file can hold."""
    problem = tempo_problem(arrangement.bpm, arrangement.beats_per_bar, arrangement.beat_unit)
    return [] if problem is None else [(("bpm",), problem)]


def _section_issues(arrangement: Arrangement) -> list[Issue]:
    """Sections may overrun ``duration`` by less than one bar (the last bar is cut), not more."""
    bar = arrangement.bar_seconds
    limit = arrangement.duration + bar
    total = 0.0
    for index, section in enumerate(arrangement.sections):
        total += section.bars * bar
        if total > limit + 1e-9:
            all_bars = sum(s.bars for s in arrangement.sections)
            message = (
                f"sections last {all_bars * bar:.2f} s ({all_bars} bars of {bar:.3g} s at "
                f"{arrangement.bpm:g} bpm) but duration is {arrangement.duration:g} s (at most one bar more "
                "is allowed); this section "
                f"ends at {total:.2f} s: shorten the sections or raise duration to {all_bars * bar:.0f}"
            )
            return [(("sections", index), message)]
    return []


def _audible_issues(arrangement: Arrangement) -> list[Issue]:
    """The mix needs one stem to hear: solo keeps only soloed stems, mute drops a stem (as mixing.mix does)."""
    soloed = [i for i, s in enumerate(arrangement.stems) if s.solo]
    audible = [s for s in arrangement.stems if not s.mute and (s.solo or not soloed)]
    if audible:
        return []
    if soloed:
        message = (
            "every soloed stem is also muted, so the mix would be silent; unmute one of them or remove solo"
        )
        return [(("stems", soloed[0], "mute"), message)]
    message = "every stem is muted, so the mix would be silent; set mute: false on at least one stem"
    return [(("stems", 0, "mute"), message)]


def _band_issues(arrangement: Arrangement) -> list[Issue]:
    """``from: band`` needs a ``band:`` block and a ``source``, and takes none of a generated stem's inputs."""
    band = [(index, stem) for index, stem in enumerate(arrangement.stems) if stem.from_ == BAND]
    issues: list[Issue] = []
    if arrangement.band is not None and not band:
        issues.append(
            (
                (BAND,),
                f"set, but no stem says 'from: {BAND}'; give the stems that come out of the band "
                f"take 'from: {BAND}' and a 'source:', or remove '{BAND}:'",
            )
        )
    for index, stem in enumerate(arrangement.stems):
        if stem.name == BAND and arrangement.band is not None:
            issues.append(
                (
                    ("stems", index, "name"),
                    f"'{BAND}' names the band take (raw/{BAND}.wav) of an "
                    "arrangement with a 'band:' block; give this stem another name",
                )
            )
        if stem.source is not None and stem.from_ != BAND:
            issues.append(
                (
                    ("stems", index, "source"),
                    f"'source' names the band take's source of a stem with "
                    f"'from: {BAND}'; add from: {BAND}, or write 'separate:' to keep a source of this "
                    "stem's own generated audio",
                )
            )
    for index, stem in band:
        issues += _band_stem_issues(arrangement, index, stem)
    return issues


def _band_stem_issues(arrangement: Arrangement, index: int, stem: Stem) -> list[Issue]:
    if arrangement.band is None:
        return [
            (
                ("stems", index, "from"),
                f"there is no '{BAND}:' block to take this stem from; add one (band: {{}} "
                "composes its prompt from the band stems' prompts), or remove 'from' and give the stem a prompt",
            )
        ]
    issues: list[Issue] = [
        (
            ("stems", index, field),
            f"a stem with 'from: {BAND}' is a source of the band take, not generated or "
            f"separated on its own, so '{field}' does not apply; remove it (band: has model and separation_model)",
        )
        for field in BAND_STEM_FORBIDDEN
        if getattr(stem, field) is not None
    ]
    if stem.prompt is not None and arrangement.band.prompt is not None:
        issues.append(
            (
                ("stems", index, "prompt"),
                "unused: band.prompt is set and is the band take's whole prompt; "
                "move these words into band.prompt, or remove band.prompt to compose it from the band "
                "stems' prompts",
            )
        )
    return issues
