"""Section redos in the generation stage (issue 26): an item's raw audio is its base generation with its section
redos spliced in, each cached by its own inputs.

For each generation item with redos (``flows.pipeline.sections``):

1. its base generation is made or reused as always (``flows.pipeline.generation.generate_jobs``, batched), and
   kept as ``.musicmaker/base/<item>.wav`` (stage record ``generate.<item>@base``), what its followers' base
   generations are conditioned on;
2. each redo, in the order asked, generates bars ``first``..``last`` again from the audio it was asked on (of a
   stem with takes, the take that was the stem then) before them: the last
   ``max_window - extend_stride`` s (the context every later window keeps) become the continuation prefix,
   the request starts at the section (``StemRequest.at``: its section texts, melody and guide at stem time),
   with the redo's seed. That audio is cached as ``generate.<item>@<first>-<last>`` by the item's base key, the
   bars, the seed, the prefix's samples and, for a follower, the followed stem's redone audio;
3. ``stems.musicgen.splice`` joins it in: bit-identical outside the bars, an equal-power crossfade at each end;
4. ``raw/<item>.wav`` is written with a record keyed by the base key and the redos, so running the same redo
   again, or any later render, reuses it.

An item without redos whose base was kept by an earlier redo (``--reset-sections``) gets it back as its raw
audio without generating. :func:`ask_redos` is the one check of a ``--section``/``--bars`` request; it serves the
dry run and the render.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from flows.pipeline import generation
from flows.pipeline.cache import StageCache, file_digest, stage_key
from flows.pipeline.paths import TRACK_MANIFEST, RenderPaths, split_item, take_item
from flows.pipeline.records import GenerationRecord, SectionRecord, TrackManifest
from flows.pipeline.sections import (
    Redos,
    SectionRedo,
    appended,
    bar_span,
    check_bars,
    parse_bars,
    read_redos,
    redos_of,
    section_bars,
)
from flows.pipeline.takes import picks
from flows.schema.checks import BAND
from flows.schema.models import Arrangement
from stems.audio import Audio, copy_file_atomic, read_audio, write_wav
from stems.errors import UserInputError
from stems.musicgen.generator import MIN_DURATION
from stems.progress import Progress
from stems.score import SKETCH_MODEL

if TYPE_CHECKING:
    from stems.musicgen.types import StemRequest

BASE_MARK = "@base"  # the stage-cache item of an item's base generation: <item>@base


def base_item(item: str) -> str:
    return item + BASE_MARK


def section_item(item: str, redo: SectionRedo) -> str:
    return f"{item}@{redo.first}-{redo.last}"


def item_seed(redo: SectionRedo, item: str) -> int:
    """The seed ``item`` redoes ``redo`` with: derived from the asked seed and the item's name, as a track's seed
    gives each stem its own (:func:`flows.pipeline.generation.stem_seed`)."""
    return generation.stem_seed(redo.seed, item)


def default_seed(arrangement: Arrangement, first: int, last: int) -> int:
    """The seed of a redo asked without ``--seed``: the track's, with the bars, so asking again reuses it."""
    return generation.stem_seed(arrangement.seed, f"bars {first}-{last}")


def redo_items(arrangement: Arrangement, stems: Sequence[str]) -> list[str]:
    """The generation items a redo of ``stems`` regenerates: each stem's (its takes; a band stem's band take), and
    those of every stem that follows one of them, directly or not (they follow the redone audio)."""
    items: list[str] = []
    for name in generation.redone_stems(arrangement, list(stems)):
        stem = None if name == BAND else arrangement.stem(name)
        if stem is None or not (stem.from_band or arrangement.stem_model(stem) == SKETCH_MODEL):
            items += generation.take_items(arrangement, name)
    return items


def ask_redos(
    arrangement: Arrangement,
    folder: Path,
    only: Sequence[str] | None,
    sections: Sequence[str],
    bars: Sequence[str],
    seed: int | None,
) -> Redos:
    """Every redo recorded in ``folder`` with the asked ones on top (:func:`flows.pipeline.sections.appended`); a
    UserInputError for anything that cannot be redone. Writes nothing."""
    if not only:
        raise UserInputError(
            "--section and --bars redo part of a stem: name it with --only, e.g. --only bass --section chorus"
        )
    generation.selected_stems(arrangement, list(only))  # refuses unknown stems
    for name in only:
        _check_redoable(arrangement, folder, name)
    spans = [section_bars(arrangement, name) for name in sections]
    for text in bars:
        first, last = parse_bars(text)
        check_bars(arrangement, first, last)
        spans.append((first, last, ""))
    for first, last, label in spans:
        start, end = bar_span(arrangement, first, last)
        if end - start < MIN_DURATION:
            asked_as = f"--section {label}" if label else f"--bars {first}-{last}"
            raise UserInputError(
                f"{asked_as}: bars {first}-{last} last {end - start:.2f} s (the track ends there); a redo is at "
                f"least {MIN_DURATION:g} s: start it a bar earlier, e.g. --bars {max(1, first - 1)}-{last}"
            )
    redos = read_redos(folder)
    for first, last, label in spans:
        asked = SectionRedo(
            first, last, default_seed(arrangement, first, last) if seed is None else seed, label or None
        )
        for item in redo_items(arrangement, only):
            redos[item] = appended(redos.get(item, ()), replace(asked, take=stem_take(folder, item)))
    return redos


def stem_take(folder: Path, item: str) -> int | None:
    """Of a take ``<stem>#k``, the take that is the stem in ``folder`` now: its finished render's pick, else the
    one ``musicmaker pick`` chose, else take 1; None for any other item."""
    stem, take = split_item(item)
    if take is None:
        return None
    try:
        manifest = TrackManifest.from_json(json.loads((Path(folder) / TRACK_MANIFEST).read_text()))
    except (OSError, ValueError):
        manifest = None
    record = manifest.stems.get(stem) if manifest is not None else None
    if record is not None and record.takes:
        return next((t.take for t in record.takes if t.picked), 1)
    return picks(RenderPaths(Path(folder), Path(folder).name)).get(stem, 1)


def reset_redos(arrangement: Arrangement, folder: Path, only: Sequence[str] | None) -> Redos:
    """The recorded redos without those of ``only``'s items (all of them without ``only``)."""
    if not only:
        return {}
    generation.selected_stems(arrangement, list(only))
    dropped = set(redo_items(arrangement, only))
    return {item: redos for item, redos in read_redos(folder).items() if item not in dropped}


def _check_redoable(arrangement: Arrangement, folder: Path, name: str) -> None:
    stem = arrangement.stem(name)
    if arrangement.stem_model(stem) == SKETCH_MODEL:
        raise UserInputError(
            f"stem {name!r} is played from its part (model {SKETCH_MODEL}), not generated: there is nothing to "
            "redo; change the section's chords and render again"
        )
    paths = RenderPaths(Path(folder), Path(folder).name)
    items = [BAND] if stem.from_band else generation.take_items(arrangement, name)
    missing = [item for item in items if not paths.raw(item).is_file()]
    if missing:
        raise UserInputError(
            f"stem {name!r} has not been rendered in {folder} (no {paths.raw(missing[0])}); a section is redone "
            "in a finished render: render the track first, then redo the section"
        )


def generate_jobs(
    model: str, jobs: list[generation.GenerationJob], progress: Progress | None = None
) -> list[dict[str, GenerationRecord]]:
    """:func:`flows.pipeline.generation.generate_jobs` with every item's section redos applied."""
    if model == SKETCH_MODEL:
        return generation.generate_jobs(model, jobs, progress)
    from stems.musicgen.models import model_info

    takes_melody = model_info(model).takes_melody
    out: list[dict[str, GenerationRecord]] = [{} for _ in jobs]
    bases: list[generation.GenerationJob] = []
    pending: list[tuple[int, str, str]] = []
    chains = [_Chain(model, job, takes_melody, progress) for job in jobs]  # each key and base found once
    for index, (job, chain) in enumerate(zip(jobs, chains)):
        names = []
        for name in job.names:
            if not redos_of(job.paths.root, name):
                _restore_base(chain.cache, job.paths, name, chain.key(name))
                names.append(name)
                continue
            full = chain.full_key(name)
            hit = chain.cache.lookup("generate", name, full)
            if hit is not None:
                record = GenerationRecord.from_json(hit)
                sections = tuple(replace(s, reused=True) for s in record.sections)
                out[index][name] = replace(record, sections=sections, reused=True)
                continue
            if chain.base(name) is None:
                names.append(name)
            pending.append((index, name, full))
        bases.append(replace(job, names=tuple(names)))
    for index, records in enumerate(generation.generate_jobs(model, bases, progress)):
        out[index].update(records)
    for index, name, full in pending:
        made = out[index].get(name)  # the base generation, when this call made it
        record = chains[index].install(name, full)
        out[index][name] = replace(record, reused=bool(record.reused) and made is None)
    return out


class _Chain:
    """The audio of one job's items after their first ``i`` redos, each made once: an item's base generation, then
    each redo spliced into the audio it was asked on (of a stem with takes, the take that was the stem then)."""

    def __init__(
        self, model: str, job: generation.GenerationJob, takes_melody: bool, progress: Progress | None
    ) -> None:
        self.model, self.job, self.takes_melody, self.progress = model, job, takes_melody, progress
        self.cache = StageCache(job.paths.root)
        self.redos = read_redos(job.paths.root)
        self._keys: dict[str, str] = {}
        self._bases: dict[str, GenerationRecord] = {}
        self._audio: dict[tuple[str, int], Audio] = {}
        self._done: dict[tuple[str, int], SectionRecord] = {}

    def key(self, item: str) -> str:
        """The item's base generation key."""
        if item not in self._keys:
            job = self.job
            stem = generation.generated_stem(job.arrangement, item)
            self._keys[item] = generation.generation_key(
                job.arrangement, stem, self.model, job.paths, self.takes_melody, item
            )
        return self._keys[item]

    def base(self, item: str) -> GenerationRecord | None:
        """The item's base generation record (:func:`_base_record`), once found; None until it is made."""
        if item not in self._bases:
            found = _base_record(self.cache, self.job.paths, item, self.key(item))
            if found is None:
                return None
            self._bases[item] = found
        return self._bases[item]

    def source(self, item: str, index: int) -> str:
        """The item whose audio redo ``index`` of ``item`` went onto: the take that was the stem, or itself."""
        redo = self.redos[item][index]
        stem, _ = split_item(item)
        source = item if redo.take is None else take_item(stem, redo.take)
        if source != item and len(self.redos.get(source, ())) > index and source in self.job.names:
            return source
        return item

    def full_key(self, item: str) -> str:
        """An item's raw audio with its redos: the base keys of every item its chain reads, each redo, and the
        followed stem's redone audio (the redos of a follower follow it)."""
        involved = {item} | {self.source(item, i) for i in range(len(self.redos[item]))}
        inputs = {
            "item": item,
            "bases": {name: self.key(name) for name in sorted(involved)},
            "redos": [r.to_json() for r in self.redos[item]],
            **_followed(self.job, item, self.takes_melody),
        }
        return stage_key("generate", inputs)

    def audio(self, item: str, count: int) -> Audio:
        """``item``'s audio after its first ``count`` redos."""
        if (item, count) not in self._audio:
            self._audio[item, count] = self._make(item, count)
        return self._audio[item, count]

    def _make(self, item: str, count: int) -> Audio:
        from stems.musicgen.splice import splice_section

        paths = self.job.paths
        if count == 0:
            assert self.base(item) is not None, f"{item}: no base generation"
            return read_audio(paths.base(item))
        redo = self.redos[item][count - 1]
        before = self.audio(self.source(item, count - 1), count - 1)
        start, end = bar_span(self.job.arrangement, redo.first, redo.last)
        if end - start < MIN_DURATION:  # the track was shortened under a recorded redo: nothing left to redo
            return before
        new, reused = _section_audio(
            self.model, self.job, item, self.key(item), redo, before, self.takes_melody, self.progress
        )
        spliced = splice_section(before, new, start)
        seams = tuple((round(s.start, 6), round(s.end, 6)) for s in spliced.seams)
        self._done[item, count] = SectionRecord(
            redo.section,
            (redo.first, redo.last),
            redo.seed,
            item_seed(redo, item),
            start,
            end,
            seams,
            redo.take,
            reused,
        )
        return spliced.audio

    def install(self, item: str, full: str) -> GenerationRecord:
        """Write ``item``'s raw audio with every redo and its record (keyed ``full``)."""
        paths, count = self.job.paths, len(self.redos[item])
        base = self.base(item)
        assert base is not None, f"{item}: its base generation was made or found just before"
        write_wav(paths.raw(item), self.audio(item, count))
        done = tuple(self._done[item, i] for i in range(1, count + 1) if (item, i) in self._done)
        stored = tuple(replace(s, reused=None) for s in done)  # a cache record does not say
        record = replace(base, sections=stored, reused=None, finished=time.time())
        self.cache.store("generate", item, full, [paths.raw(item)], record.to_json())
        return replace(record, sections=done, reused=all(s.reused for s in done))


def _followed(job: generation.GenerationJob, item: str, takes_melody: bool) -> dict[str, str]:
    stem = generation.generated_stem(job.arrangement, item)
    if not stem.follow:
        return {}
    path = generation.melody_path(job.arrangement, stem, job.paths, takes_melody, redone=True)
    return {"followed": file_digest(path)} if path is not None and path.is_file() else {}


def _base_record(cache: StageCache, paths: RenderPaths, item: str, key: str) -> GenerationRecord | None:
    """The item's base generation, kept (``@base``) or as its raw audio; kept either way once found."""
    hit = cache.lookup("generate", base_item(item), key)
    if hit is not None:
        return GenerationRecord.from_json(hit)
    hit = cache.lookup("generate", item, key)
    if hit is None:
        return None
    copy_file_atomic(paths.raw(item), paths.base(item))
    cache.store("generate", base_item(item), key, [paths.base(item)], hit)
    return GenerationRecord.from_json(hit)


def _restore_base(cache: StageCache, paths: RenderPaths, item: str, key: str) -> None:
    """An item whose redos were dropped: its kept base generation becomes its raw audio again."""
    if not paths.base(item).is_file() or cache.lookup("generate", item, key) is not None:
        return  # never redone (the common case: no file is hashed here), or its raw audio is its base
    hit = cache.lookup("generate", base_item(item), key)
    if hit is not None:
        copy_file_atomic(paths.base(item), paths.raw(item))
        cache.store("generate", item, key, [paths.raw(item)], hit)


def _section_audio(
    model: str,
    job: generation.GenerationJob,
    item: str,
    key: str,
    redo: SectionRedo,
    audio: Audio,
    takes_melody: bool,
    progress: Progress | None,
) -> tuple[Audio, bool]:
    """The bars of ``redo`` generated again after ``audio``'s prefix (cached); whether it was reused."""
    from stems.musicgen.generator import get_generator

    start, _ = bar_span(job.arrangement, redo.first, redo.last)
    params = generation.sampling_params(job.arrangement)
    prefix = _prefix(audio, start, params.extend_stride)
    inputs = {
        "base": key,
        "bars": [redo.first, redo.last],
        "seed": item_seed(redo, item),
        "prefix": None if prefix is None else hashlib.sha256(prefix.samples.tobytes()).hexdigest(),
        **_followed(job, item, takes_melody),
    }
    section_key = stage_key("generate", inputs)
    cache, path = StageCache(job.paths.root), job.paths.section(item, redo.first, redo.last)
    if cache.lookup("generate", section_item(item, redo), section_key) is not None:
        return read_audio(path), True
    generator = get_generator(model)
    request = section_request(job.arrangement, item, job.paths, generator.takes_melody, redo, audio)
    (result,) = generator.generate([request], params, progress)
    write_wav(path, result.audio)
    cache.store("generate", section_item(item, redo), section_key, [path], {"bars": [redo.first, redo.last]})
    return result.audio, False


def section_request(
    arrangement: Arrangement,
    item: str,
    paths: RenderPaths,
    takes_melody: bool,
    redo: SectionRedo,
    audio: Audio | None,
) -> StemRequest:
    """The request that generates ``redo``'s bars of ``item`` again after ``audio`` (its prefix the continuation;
    from nothing without ``audio``; at bar 1 from the stem's own continuation file, if any), at stem time, with
    the redo's seed; a follower follows ``paths``' raw audio of its leader, redone."""
    start, end = bar_span(arrangement, redo.first, redo.last)
    (request,) = generation.build_requests(arrangement, [item], paths, takes_melody, redone=True)
    stride = arrangement.generation.extend_stride
    return replace(
        request,
        duration=end - start,
        seed=item_seed(redo, item),
        continuation=request.continuation
        if start == 0
        else None
        if audio is None
        else _prefix(audio, start, stride),
        at=start,
    )


def _prefix(audio: Audio, start: float, extend_stride: float) -> Audio | None:
    """The continuation prefix of a section from ``start`` s: the audio's last ``window - extend_stride`` s before
    it (what each later window keeps of the one before); None at the track's start or when it is silent or
    too short to prompt the model (the section then starts afresh, its text and melody still placed)."""
    from stems.musicgen.generator import MIN_CONTINUATION_SECONDS, SILENCE_RMS
    from stems.musicgen.plan import MUSICGEN_WINDOW_S

    rate = audio.sample_rate
    a = round(start * rate)
    n = min(a, round((MUSICGEN_WINDOW_S - extend_stride) * rate))
    if n < MIN_CONTINUATION_SECONDS * rate:
        return None
    samples = audio.samples[:, a - n : a]
    if float((samples.astype("float64") ** 2).mean() ** 0.5) < SILENCE_RMS:
        return None
    return Audio(samples.copy(), rate)
