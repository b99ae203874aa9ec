"""Previewing one section of every stem (issue 26 point 5): ``render FILE --section NAME --preview``.

Only that section is generated, into a scratch folder (``<out>/previews/<track>/<section>/``); the finished render
is read, never written. Each generation item (a stem, the band take) is generated as a section redo would be:

- when the render folder holds the item's raw audio, from its last ``max_window - extend_stride`` s before the
  section (the continuation prefix, ``flows.pipeline.redo.section_request``) with the redo's seed, so the
  preview is what ``--only STEM --section NAME --seed N`` would splice in;
- otherwise from that much earlier on the time line (the sections before it generated as context, with
  their own texts, melody and guide at stem time), of which only the section is kept.

Followers follow their leader's preview, in generation order; a stem played from its part (sketch) plays it.
The scratch folder holds ``stems/<item>.wav`` (the section alone, at the model's rate) and ``mix.wav`` (every
audible stem normalised, gained and panned by ``mixing.mix_tracks``, peak-safe). No separation, cleanup, conform
or MIDI runs: a band take is heard as the take. Nothing is cached.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from flows.pipeline import generation, redo
from flows.pipeline.paths import PREVIEWS, RenderPaths, split_item
from flows.pipeline.score import render_sketch
from flows.pipeline.sections import SectionRedo, bar_span, section_bars
from flows.schema.models import Arrangement
from stems.audio import Audio, convert_audio, read_audio, write_wav
from stems.musicgen.plan import MUSICGEN_WINDOW_S
from stems.progress import Progress
from stems.score import SKETCH_MODEL

PEAK = 10 ** (-1 / 20)  # the preview mix's peak is kept at or under -1 dBFS (it is not mastered)


@dataclass(frozen=True)
class Preview:
    """A section previewed: where, from what context, and its files."""

    folder: Path
    section: str
    start: float
    end: float
    from_render: tuple[
        str, ...
    ]  # items continued from the finished render's audio; the others had context made
    stems: tuple[Path, ...]
    mix: Path
    seconds: float


def preview_folder(out_dir: Path, slug: str, label: str) -> Path:
    return Path(out_dir) / PREVIEWS / slug / label.replace("/", "_")


def preview_section(
    arrangement: Arrangement,
    out_dir: Path,
    slug: str,
    section: str,
    seed: int | None,
    progress: Progress | None,
) -> Preview:
    """Generate ``section`` of every stem of ``arrangement`` into a fresh scratch folder (see the module)."""
    started = time.perf_counter()
    first, last, label = section_bars(arrangement, section)
    asked = SectionRedo(
        first, last, redo.default_seed(arrangement, first, last) if seed is None else seed, label
    )
    start, end = bar_span(arrangement, first, last)
    render = RenderPaths(Path(out_dir) / slug, slug)
    scratch = RenderPaths(preview_folder(out_dir, slug, label), slug)
    shutil.rmtree(scratch.root, ignore_errors=True)
    continued: list[str] = []
    audio: dict[str, Audio] = {}
    for level in generation.generation_levels(arrangement, list(arrangement.stems)):
        for model, items in level.items():
            # of a stem with takes, the take that is the stem (take 1 without a render)
            firsts = [i for i in items if split_item(i)[1] in (None, redo.stem_take(render.root, i))]
            made = _generate(arrangement, model, firsts, asked, render, scratch, progress)
            for item, (whole, from_render) in made.items():
                name = split_item(item)[0]
                write_wav(scratch.raw(name), whole)  # what its followers follow, at stem time
                audio[name] = _cut(whole, start, end)
                continued += [name] * from_render
    stems = [scratch.stem(name) for name in audio]
    for name, path in zip(audio, stems):
        write_wav(path, audio[name])
    mix = scratch.mix("wav")
    write_wav(mix, _mix(arrangement, audio))
    shutil.rmtree(scratch.root / "raw", ignore_errors=True)
    return Preview(
        scratch.root,
        label,
        start,
        end,
        tuple(continued),
        tuple(stems),
        mix,
        round(time.perf_counter() - started, 3),
    )


def _generate(
    arrangement: Arrangement,
    model: str,
    names: list[str],
    asked: SectionRedo,
    render: RenderPaths,
    scratch: RenderPaths,
    progress: Progress | None,
) -> dict[str, tuple[Audio, bool]]:
    """Each item's whole-length audio with the section new in it (silence where nothing was made), and whether it
    went on from the finished render."""
    start, end = bar_span(arrangement, asked.first, asked.last)
    if model == SKETCH_MODEL:
        return {
            name: (render_sketch(arrangement, arrangement.stem(split_item(name)[0]))[0], False)
            for name in names
        }
    from stems.musicgen.generator import get_generator
    from stems.musicgen.splice import splice_section

    generator = get_generator(model)
    params = generation.sampling_params(arrangement)
    context = MUSICGEN_WINDOW_S - params.extend_stride
    bases = {n: read_audio(render.raw(n)) if render.raw(n).is_file() else None for n in names}
    requests = []
    for name in names:
        base = bases[name]
        request = redo.section_request(arrangement, name, scratch, generator.takes_melody, asked, base)
        if base is None:  # no render to go on from: the context before the section is made too
            at = max(0.0, start - context)
            request = replace(
                request, at=at, duration=end - at, continuation=request.continuation if at == 0 else None
            )
        requests.append(request)
    results = generator.generate(requests, params, progress)
    made = {}
    for name, request, result in zip(names, requests, results):
        base = bases[name]
        if base is None:
            whole = np.zeros(
                (result.audio.channels, round(arrangement.duration * result.audio.sample_rate)), np.float32
            )
            a = round(request.at * result.audio.sample_rate)
            whole[:, a : a + result.audio.num_samples] = result.audio.samples[:, : whole.shape[1] - a]
            made[name] = (Audio(whole, result.audio.sample_rate), False)
        else:
            made[name] = (splice_section(base, result.audio, start).audio, True)
    return made


def _cut(audio: Audio, start: float, end: float) -> Audio:
    rate = audio.sample_rate
    return Audio(audio.samples[:, round(start * rate) : round(end * rate)].copy(), rate)


def _mix(arrangement: Arrangement, audio: dict[str, Audio]) -> Audio:
    """Every previewed item at one rate and length, mixed with its stem's gain and pan (a band take centred),
    the sum scaled under ``PEAK`` when it is louder."""
    from mixing import Track, mix_tracks

    rate = max(a.sample_rate for a in audio.values())
    tracks = []
    for name, clip in audio.items():
        stem = next((s for s in arrangement.stems if s.name == name), None)
        clip = convert_audio(clip, rate, clip.channels)
        tracks.append(
            Track(
                name,
                clip,
                stem.gain_db if stem else 0.0,
                stem.pan if stem else 0.0,
                stem.mute if stem else False,
                stem.solo if stem else False,
            )
        )
    length = min(t.audio.num_samples for t in tracks)
    tracks = [replace(t, audio=Audio(t.audio.samples[:, :length], rate)) for t in tracks]
    bus = mix_tracks(tracks).audio
    peak = float(np.max(np.abs(bus.samples))) if bus.num_samples else 0.0
    return bus if peak <= PEAK else Audio(bus.samples * (PEAK / peak), rate)
