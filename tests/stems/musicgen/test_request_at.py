"""``StemRequest.at`` (issue 26): a request that renders a stem from ``at`` s on (a section redo) reads its section
texts, melody and chroma guide at stem time ``at + t`` and records its windows there.

The tiny offline debug models with 2 s windows and a 1.5 s stride (as tests/stems/musicgen/test_window_loop.py),
so a 3 s request runs windows from 0, 1.5 and 2 s of its own time; each test takes about a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from stems.audio import Audio
from stems.musicgen.chroma import chroma_frames
from stems.musicgen.generator import Generator
from stems.musicgen.plan import SectionSpan, plan_frames, section_for, window_text
from stems.musicgen.types import GeneratedStem, SamplingParams, StemRequest, WindowTokens

SR = 32_000
FR = 50  # codec frames per second
WINDOW, STRIDE = 2.0, 1.5
GREEDY = SamplingParams(use_sampling=False, extend_stride=STRIDE)
AT = 4.0
SECTIONS = (
    SectionSpan("intro", 0.0, 4.0, "sparse intro"),
    SectionSpan("verse", 4.0, 5.5, "steady verse"),
    SectionSpan("chorus", 5.5, 12.0, "huge chorus"),
)


def _sine(freq: float, seconds: float) -> Audio:
    t = np.arange(int(seconds * SR)) / SR
    return Audio(
        (0.3 * np.sin(2 * np.pi * freq * t) * np.minimum(1.0, t / 0.05))[None].astype(np.float32), SR
    )


def _noise(seconds: float, seed: int = 0) -> Audio:
    return Audio(
        (0.2 * np.random.default_rng(seed).standard_normal((1, int(seconds * SR)))).astype(np.float32), SR
    )


@pytest.fixture(scope="module")
def generators() -> dict[str, Generator]:
    return {name: Generator(name, max_window=WINDOW) for name in ("debug", "debug-melody")}


def _run(gen: Generator, req: StemRequest) -> tuple[GeneratedStem, list[WindowTokens]]:
    windows: list[WindowTokens] = []
    (stem,) = gen.generate([req], GREEDY, on_window=windows.append)
    return stem, windows


def _window_starts(duration: float, prompt: int = 0) -> list[float]:
    """Where each window of a ``duration`` s request starts on its own time line (before 0: continuation)."""
    plans = plan_frames(
        round(duration * FR), round(STRIDE * FR), round(WINDOW * FR), prompt, round(WINDOW * FR) - 1
    )
    return [p.start / FR for p in plans]


def test_windows_are_recorded_at_stem_time_with_the_sections_there(generators: dict[str, Generator]) -> None:
    req = StemRequest("s", "bass", 3.0, 1, context="120 bpm", sections=SECTIONS, at=AT)
    stem, _ = _run(generators["debug"], req)
    plans = plan_frames(round(3.0 * FR), round(STRIDE * FR), round(WINDOW * FR))
    assert len(stem.windows) == len(plans) >= 2
    assert [w.start for w in stem.windows] == pytest.approx([AT + p.start / FR for p in plans])
    assert [w.end for w in stem.windows] == pytest.approx([AT + p.end / FR for p in plans])
    assert min(w.start for w in stem.windows) >= AT and stem.windows[-1].end == pytest.approx(AT + 3.0)
    expected = [
        window_text("bass", "120 bpm", section_for(SECTIONS, AT + p.new_start / FR, AT + p.end / FR))
        for p in plans
    ]
    assert [w.text for w in stem.windows] == expected
    # stem time 4..6 is the verse then the chorus: never the intro, which the request's own 0..2 s would give
    assert expected[0].endswith("steady verse") and expected[-1].endswith("huge chorus")
    assert not any("intro" in w.text for w in stem.windows)
    at_zero, _ = _run(generators["debug"], replace(req, at=0.0))
    assert at_zero.windows[0].text.endswith("sparse intro") and at_zero.windows[0].start == 0.0


def test_a_continued_request_starts_its_first_window_in_the_audio_before_at(
    generators: dict[str, Generator],
) -> None:
    req = StemRequest("s", "bass", 3.0, 1, sections=SECTIONS, continuation=_noise(1.0), at=AT)
    stem, windows = _run(generators["debug"], req)
    prompt = windows[0].prompt.shape[-1]
    assert prompt == FR  # the whole 1 s continuation
    assert stem.windows[0].start == pytest.approx(AT - 1.0)
    assert stem.windows[-1].end == pytest.approx(AT + 3.0)
    assert stem.audio.num_samples == 3 * SR


@dataclass
class RecordingGuide:
    """A chroma guide (stems.musicgen.types.ChromaGuide) that says where each window asked for it."""

    starts: list[float] = field(default_factory=list)

    def window(self, start: float, seconds: float) -> np.ndarray:
        self.starts.append(start)
        chroma = np.zeros((chroma_frames(seconds), 12), dtype=np.float32)
        chroma[:, 9] = 1.0  # A throughout
        return chroma


def test_a_guide_is_read_at_stem_time(generators: dict[str, Generator]) -> None:
    guide = RecordingGuide()
    _run(generators["debug-melody"], StemRequest("s", "piano", 3.0, 1, guide=guide, at=AT))
    assert guide.starts == pytest.approx([AT + s for s in _window_starts(3.0)])
    assert guide.starts[0] == AT  # not 0: the request's own time
    # with a continuation, the first window reaches back into the audio before the section, at stem time too
    continued = RecordingGuide()
    req = StemRequest("s", "piano", 3.0, 1, guide=continued, continuation=_noise(1.0), at=AT)
    _run(generators["debug-melody"], req)
    assert continued.starts == pytest.approx([AT + s for s in _window_starts(3.0, FR)])
    assert continued.starts[0] == pytest.approx(AT - 1.0)


def test_a_melody_is_read_at_stem_time(
    generators: dict[str, Generator], monkeypatch: pytest.MonkeyPatch
) -> None:
    import stems.musicgen.windows as windows

    seen: list[float] = []
    real = windows.melody_slice

    def spy(mono: np.ndarray, start: float, loop: bool) -> np.ndarray:
        seen.append(start)
        return real(mono, start, loop)

    monkeypatch.setattr(windows, "melody_slice", spy)
    melody = _sine(440.0, 10.0)
    _run(generators["debug-melody"], StemRequest("s", "piano", 3.0, 1, melody=melody, at=AT))
    assert seen == pytest.approx([AT + s for s in _window_starts(3.0)])
    seen.clear()
    req = StemRequest("s", "piano", 3.0, 1, melody=melody, continuation=_noise(1.0), at=AT)
    _run(generators["debug-melody"], req)
    # the continuation's frames take the melody's chroma at stem time 3..4, not the continuation's own
    assert seen == pytest.approx([AT + s for s in _window_starts(3.0, FR)]) and seen[0] == pytest.approx(3.0)


def test_a_melody_at_4_s_conditions_as_the_melody_from_4_s_does(generators: dict[str, Generator]) -> None:
    """The same stem from a melody read at stem time 4.. and from that melody cut at 4 s, read from 0: one render.
    Not looped: each window's chroma input is 30 s long, and a looped melody would wrap at another place."""
    rng = np.random.default_rng(3)
    notes = [_sine(float(f), 1.0).samples for f in rng.choice([262.0, 330.0, 392.0, 440.0, 494.0], 12)]
    melody = Audio(np.concatenate(notes, axis=1), SR)  # 12 s, a new note each second
    cut = Audio(melody.samples[:, round(AT * SR) :].copy(), SR)
    gen = generators["debug-melody"]
    at, at_tokens = _run(gen, StemRequest("s", "piano", 3.0, 5, melody=melody, melody_loop=False, at=AT))
    shifted, shifted_tokens = _run(gen, StemRequest("s", "piano", 3.0, 5, melody=cut, melody_loop=False))
    np.testing.assert_array_equal(at.audio.samples, shifted.audio.samples)
    for a, b in zip(at_tokens, shifted_tokens, strict=True):
        np.testing.assert_array_equal(a.tokens, b.tokens)
    from_zero, _ = _run(gen, StemRequest("s", "piano", 3.0, 5, melody=melody, melody_loop=False))
    assert not np.array_equal(from_zero.audio.samples, at.audio.samples)  # the melody there steers it
