"""Planning a stem before any model runs: bars, sections, generation windows, stem order.

Everything here is plain arithmetic on seconds, frames and names, so the flow can show a dry-run plan
and tests can check a 300 s render's windows without a model.

Windows follow audiocraft's long-form extension (``BaseGenModel._generate_tokens``): the first window
is ``max_window`` long; every next window starts ``extend_stride`` after the previous one, keeps the
previous window's last ``max_window - extend_stride`` seconds of tokens as its prompt and adds
``extend_stride`` seconds of new audio; the last window is trimmed to the track's end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stems.errors import UserInputError

MUSICGEN_WINDOW_S = 30.0  # MusicGen generates at most 30 s per call, its training segment (Copet et al. 2023,
# "Simple and Controllable Music Generation"); each further window continues from the last (30 - extend_stride)
# s, and a melody's chroma is computed over one window (audiocraft's ChromaStemConditioner).


def bar_seconds(bpm: float, beats_per_bar: int) -> float:
    """Length of one bar: ``beats_per_bar`` beats of ``60 / bpm`` s (bpm counts the time signature's beats)."""
    if not (math.isfinite(bpm) and bpm > 0):
        raise UserInputError(f"bpm must be a positive number, got {bpm!r}; set e.g. `bpm: 96`")
    if beats_per_bar < 1:
        raise UserInputError(
            f"beats per bar must be >= 1, got {beats_per_bar}; use a time signature like 4/4 or 3/4"
        )
    return beats_per_bar * 60.0 / bpm


@dataclass(frozen=True)
class SectionSpan:
    """One arrangement section placed on the time line, in seconds."""

    name: str
    start: float
    end: float
    prompt: str


def section_spans(
    sections: Sequence[tuple[str, int, str]], bpm: float, beats_per_bar: int, duration: float
) -> list[SectionSpan]:
    """Place ``(name, bars, prompt)`` sections back to back on whole bars; the last one runs to ``duration``.

    Sections that would start at or after ``duration`` are dropped (the track ends before them).
    """
    if not sections:
        return []
    _check_duration(duration)
    bar = bar_seconds(bpm, beats_per_bar)
    spans: list[SectionSpan] = []
    bars_so_far = 0
    for name, bars, prompt in sections:
        if bars < 1:
            raise UserInputError(f"section {name!r} has {bars} bars; a section needs at least 1 bar")
        start = bars_so_far * bar
        if start >= duration:
            break
        bars_so_far += bars
        spans.append(SectionSpan(name, start, min(bars_so_far * bar, duration), prompt))
    last = spans[-1]
    spans[-1] = SectionSpan(last.name, last.start, duration, last.prompt)
    return spans


@dataclass(frozen=True)
class WindowPlan:
    """One generation window in seconds on the stem's time line.

    ``[start, new_start)`` is the prompt (tokens reused from the previous window or from a user
    continuation, negative times mean "before the stem starts"); ``[new_start, end)`` is new audio.
    """

    index: int
    start: float
    new_start: float
    end: float


@dataclass(frozen=True)
class FrameWindow:
    """A window in codec frames: ``prompt`` frames reused, then ``new`` frames generated."""

    index: int
    start: int
    new_start: int
    end: int

    @property
    def prompt(self) -> int:
        return self.new_start - self.start

    @property
    def new(self) -> int:
        return self.end - self.new_start


def plan_frames(
    total: int, stride: int, window: int, prompt: int = 0, max_prompt: int | None = None
) -> list[FrameWindow]:
    """Frame-exact windows covering ``[0, total)``; ``prompt`` frames of user continuation precede 0.

    The first window keeps at most ``max_prompt`` of them (default ``window - stride``, what every later
    window keeps); audiocraft's ``generate_continuation`` lets it keep up to ``window - 1`` (one new frame).
    """
    assert 0 < stride < window and total > 0, (total, stride, window)
    overlap = window - stride
    assert max_prompt is None or 0 <= max_prompt < window, (max_prompt, window)
    prompt = min(prompt, overlap if max_prompt is None else max_prompt)
    plans: list[FrameWindow] = []
    new_start = 0
    start = -prompt
    while new_start < total:
        end = min(start + window, total)
        plans.append(FrameWindow(len(plans), start, new_start, end))
        new_start = end
        start = end - overlap
    return plans


def plan_windows(
    duration: float, extend_stride: float, max_window: float = MUSICGEN_WINDOW_S, prompt: float = 0.0
) -> list[WindowPlan]:
    """Windows (seconds) for a stem of ``duration`` s; 300 s with stride 18 gives 16 windows.

    ``prompt`` is the length of a user continuation; only its last ``max_window - extend_stride`` s
    are used, so every window adds at least ``extend_stride`` s of new audio.
    """
    _check_duration(duration)
    check_stride(extend_stride, max_window)
    # Microsecond frames keep the arithmetic exact for any stride and duration given in ms.
    scale = 1_000_000
    frames = plan_frames(
        math.ceil(round(duration * scale, 3)),
        round(extend_stride * scale),
        round(max_window * scale),
        round(prompt * scale),
    )
    return [
        WindowPlan(f.index, f.start / scale, f.new_start / scale, min(f.end / scale, duration))
        for f in frames
    ]


def check_stride(extend_stride: float, max_window: float) -> None:
    if not (0 < extend_stride < max_window):
        raise UserInputError(
            f"extend_stride must be between 0 and the model's window ({max_window:g} s), exclusive; got "
            f"{extend_stride!r}. audiocraft's default is 18 s (12 s of context kept per window)"
        )


def _check_duration(duration: float) -> None:
    if not (math.isfinite(duration) and duration > 0):
        raise UserInputError(f"duration must be a positive number of seconds, got {duration!r}")


def section_for(spans: Sequence[SectionSpan], start: float, end: float) -> SectionSpan | None:
    """The section covering most of ``[start, end)`` (the earlier one on a tie); None without sections."""
    best: SectionSpan | None = None
    best_overlap = -1.0
    for span in spans:
        overlap = min(end, span.end) - max(start, span.start)
        if overlap > best_overlap + 1e-9:
            best, best_overlap = span, overlap
    return best


def window_text(prompt: str, context: str, section: SectionSpan | None) -> str:
    """The text condition of one window: stem prompt, tempo/key context, then the section's prompt."""
    parts = [prompt.strip(), context.strip(), section.prompt.strip() if section else ""]
    return ", ".join(p for p in parts if p)


def generation_order(follows: Mapping[str, str | None]) -> list[list[str]]:
    """Group stems into levels: a stem that follows another (uses it as melody) comes in a later level.

    Stems within a level keep the mapping's order and can be generated together (one batch).
    """
    for name, target in follows.items():
        if target is not None and target not in follows:
            raise UserInputError(
                f"stem {name!r} follows {target!r}, which is not a stem of this arrangement; "
                f"known stems: {', '.join(follows)}. Fix the `follow:` field"
            )
        if target == name:
            raise UserInputError(f"stem {name!r} follows itself; remove its `follow:` field")
    levels: list[list[str]] = []
    placed: set[str] = set()
    remaining = list(follows)
    while remaining:
        level = [n for n in remaining if follows[n] is None or follows[n] in placed]
        if not level:
            cycle = " -> ".join(_cycle_from(remaining[0], follows))
            raise UserInputError(
                f"stems follow each other in a cycle ({cycle}); break it by removing one `follow:`"
            )
        levels.append(level)
        placed.update(level)
        remaining = [n for n in remaining if n not in placed]
    return levels


def _cycle_from(name: str, follows: Mapping[str, str | None]) -> list[str]:
    seen: list[str] = []
    current: str | None = name
    while current is not None and current not in seen:
        seen.append(current)
        current = follows[current]
    assert current is not None
    return seen[seen.index(current) :] + [current]
