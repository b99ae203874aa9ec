"""Generation stage of a track render, without Prefect: requests from the arrangement, batches, cached generation."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flows.pipeline.cache import StageCache, file_digest, stage_key
from flows.pipeline.paths import RenderPaths, split_item, take_item
from flows.pipeline.records import GenerationRecord, Window
from flows.pipeline.score import (
    GUIDE_MELODY,
    guide_key,
    guide_source,
    part_key,
    render_sketch,
    sketch_rate,
    stem_guide,
)
from flows.pipeline.sections import redos_of
from flows.schema.checks import BAND
from flows.schema.models import Arrangement, Stem
from stems.audio import Audio, read_audio, write_wav
from stems.errors import UserInputError
from stems.musicgen.models import checkpoint_fingerprint
from stems.musicgen.plan import MUSICGEN_WINDOW_S
from stems.progress import Progress
from stems.score import SKETCH_MODEL, is_midi_file
from stems.separation.catalog import SOURCES

if TYPE_CHECKING:
    from stems.musicgen.types import GeneratedStem, SamplingParams, StemRequest


def stem_seed(seed: int, stem: str) -> int:
    """A seed per stem derived from the track seed, so editing one stem never changes another's audio."""
    digest = hashlib.sha256(f"{seed}:{stem}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def item_seed(seed: int, item: str) -> int:
    """The seed of a generation item: a stem's own (:func:`stem_seed`), which its take 1 keeps (so a stem
    given takes renders its old audio as take 1), and one per further take, derived from the take's name."""
    stem, take = split_item(item)
    return stem_seed(seed, stem if take in (None, 1) else item)


def take_items(arrangement: Arrangement, name: str) -> list[str]:
    """What generating ``name`` generates: the stem itself, or its takes ``<stem>#1..K``."""
    takes = arrangement.stem_takes(arrangement.stem(name)) if name != BAND else 1
    return [name] if takes == 1 else [take_item(name, k) for k in range(1, takes + 1)]


# Words for a band stem without a prompt in the composed band prompt; the other sources name themselves.
_SOURCE_WORDS = {"other": "other instruments"}


def band_prompt(arrangement: Arrangement) -> str:
    """``band.prompt``, else "full band: " and each band stem's prompt (or its source), once each.

    The take's windows add the context (bpm, key, time) and the section texts, as every stem's do.
    """
    assert arrangement.band is not None
    if arrangement.band.prompt is not None:
        return arrangement.band.prompt
    parts = [
        s.prompt or _SOURCE_WORDS.get(s.source or "", s.source) for s in arrangement.stems if s.from_band
    ]
    return "full band: " + ", ".join(dict.fromkeys(p for p in parts if p))


def band_take(arrangement: Arrangement) -> Stem:
    """The band take as the generation stage sees a stem: the band's prompt and model, the track's melody."""
    assert arrangement.band is not None
    return Stem(name=BAND, prompt=band_prompt(arrangement), model=arrangement.band.model)


def generated_stem(arrangement: Arrangement, name: str) -> Stem:
    """The stem a generation item (a stem, one of its takes, or the band take: no stem has its name,
    flows.schema.checks) renders."""
    name = split_item(name)[0]
    return band_take(arrangement) if name == BAND and arrangement.band is not None else arrangement.stem(name)


def generated_items(arrangement: Arrangement, stems: list[Stem]) -> list[Stem]:
    """What a render of ``stems`` generates: the stems but band stems, and the band take first when a band stem
    or a stem that follows the take is among them."""
    needs_band = arrangement.band is not None and any(s.from_band or s.follow == BAND for s in stems)
    return ([band_take(arrangement)] if needs_band else []) + [s for s in stems if not s.from_band]


def context_text(arrangement: Arrangement) -> str:
    return f"{arrangement.bpm:g} bpm, {arrangement.key}, {arrangement.time_signature} time"


def render_stems(arrangement: Arrangement, only: list[str] | None, paths: RenderPaths) -> list[Stem]:
    """The stems a render into ``paths`` renders: all; with ``--only``, the named ones, the stems they follow,
    and every stem the folder already holds (reused through the stage cache unless redone), so the mix,
    stems.zip and MIDI keep an earlier render's stems. In a fresh folder that is the named stems and those they
    follow. The dry run and the weights check plan the same stems."""
    if not only:
        return list(arrangement.stems)
    held = [s.name for s in arrangement.stems if paths.raw(s.name).is_file()]
    return selected_stems(arrangement, [*only, *held])


def selected_stems(arrangement: Arrangement, only: list[str] | None) -> list[Stem]:
    """The stems to render: all, or those named by --only plus the stems they follow."""
    by_name = {s.name: s for s in arrangement.stems}
    if not only:
        return list(arrangement.stems)
    unknown = [n for n in only if n not in by_name]
    if unknown:
        raise UserInputError(f"--only names unknown stem(s) {unknown}; the arrangement has {sorted(by_name)}")
    wanted: set[str] = set()
    stack = list(only)
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            follow = by_name[name].follow
            if follow and follow in by_name:  # the band take is generated whenever a selected stem needs it
                stack.append(follow)
    return [s for s in arrangement.stems if s.name in wanted]


def redone_stems(arrangement: Arrangement, only: list[str] | None) -> list[str]:
    """The stems `--only` redoes: those it names and every stem that follows one of them, directly or not.

    The other stems a render folder holds are kept (reused through the stage cache), so the mix holds them too.
    """
    if not only:
        return []
    selected_stems(arrangement, only)  # refuses unknown names
    redone = set(only)
    if any(arrangement.stem(name).from_band for name in only):  # a new band take changes every band stem
        redone |= {BAND, *(s.name for s in arrangement.stems if s.from_band)}
    for _ in arrangement.stems:  # a follow chain is never longer than the list of stems
        redone |= {s.name for s in arrangement.stems if s.follow in redone}
    return [BAND] * (BAND in redone) + [s.name for s in arrangement.stems if s.name in redone]


def generation_levels(arrangement: Arrangement, stems: list[Stem]) -> list[dict[str, list[str]]]:
    """What ``stems`` generate (:func:`generated_items`, a stem with takes as its takes, :func:`take_items`) by
    follow level (a stem comes after the one it follows), each level split by model."""
    from stems.musicgen.plan import generation_order

    items = generated_items(arrangement, stems)
    by_name = {s.name: s for s in items}
    levels: list[dict[str, list[str]]] = []
    for level in generation_order({s.name: s.follow for s in items}):
        models: dict[str, list[str]] = {}
        for name in level:
            models.setdefault(arrangement.stem_model(by_name[name]), []).extend(take_items(arrangement, name))
        levels.append(models)
    return levels


def generation_batches(arrangement: Arrangement, stems: list[Stem]) -> list[tuple[str, list[str]]]:
    """(model, stem names) batches in generation order."""
    return [batch for level in generation_levels(arrangement, stems) for batch in level.items()]


def melody_path(
    arrangement: Arrangement, stem: Stem, paths: RenderPaths, takes_melody: bool, redone: bool = False
) -> Path | None:
    """Where a stem's melody comes from: the followed stem's raw audio, its own file, or the track's melody;
    None when its part guides it instead (``flows.pipeline.score.guide_source``). A MIDI file is a path here
    too (its notes become the guide, :func:`flows.pipeline.score.stem_guide`).

    A followed stem with section redos (``flows.pipeline.sections``) gives its base audio, what the follower's
    own base is generated on, unless ``redone``: the follower's section redos follow its redone audio."""
    if stem.follow:
        base = paths.base(stem.follow)
        return base if not redone and redos_of(paths.root, stem.follow) else paths.raw(stem.follow)
    if stem.melody:
        return stem.melody
    if guide_source(arrangement, stem, takes_melody) != GUIDE_MELODY:
        return None
    return arrangement.melody


def build_requests(
    arrangement: Arrangement,
    names: list[str],
    paths: RenderPaths | None,
    takes_melody: bool,
    redone: bool = False,
) -> list[Any]:
    """GenerationRequests for ``names``; without ``paths`` (a preflight), followed stems' melodies are left out.
    ``redone``: a followed stem's melody is its audio with its section redos (:func:`melody_path`)."""
    from stems.musicgen.types import StemRequest

    items = [generated_stem(arrangement, name) for name in names]
    return [
        StemRequest(
            guide=stem_guide(arrangement, item, takes_melody),
            name=name,
            prompt=item.prompt or "",
            duration=arrangement.duration,
            seed=item_seed(arrangement.seed, name),
            context=context_text(arrangement),
            sections=tuple(section_spans(arrangement)),
            melody=melody_audio(arrangement, item, paths, takes_melody, redone=redone),
            melody_loop=arrangement.melody_loop,
            continuation=continuation_audio(item),
        )
        for name, item in zip(names, items)
    ]


# (audio, sources to keep, Demucs model) -> the sum of those sources at the audio's rate, channels and length.
MelodySplit = Callable[[Audio, tuple[str, ...], str], Audio]


def melody_audio(
    arrangement: Arrangement,
    stem: Stem,
    paths: RenderPaths | None,
    takes_melody: bool,
    split: MelodySplit | None = None,
    redone: bool = False,
) -> Audio | None:
    """The melody a stem is conditioned on; without ``paths`` (a preflight) a followed stem's is not there yet.

    A melody file is reduced to its :func:`melody_stems` sources by ``split`` (Demucs,
    ``stems.separation.separator.separate_sum``, unless a test injects another); a preflight reads it without separating.
    """
    if stem.follow and paths is None:
        return None
    source = melody_path(arrangement, stem, paths or RenderPaths(Path("."), ""), takes_melody, redone)
    if not source or is_midi_file(source):  # a MIDI melody guides through its notes (stem_guide)
        return None
    audio = read_melody(source, arrangement.duration)
    keep = melody_stems(arrangement, stem)
    if paths is None or not keep:
        return audio
    if split is None:
        from stems.separation.separator import separate_sum

        split = separate_sum
    kept = split(audio, keep, melody_separation_model(arrangement, keep))
    return _audible_melody(kept, stem, keep)


def _audible_melody(melody: Audio, stem: Stem, keep: tuple[str, ...]) -> Audio:
    """A melody file whose kept sources are silent (a bass or drum riff) cannot be checked before Demucs runs:
    say here what to change."""
    from stems.errors import AudioInputError
    from stems.musicgen.generator import SILENCE_RMS

    if float(np.sqrt(np.mean(np.square(melody.samples, dtype=np.float64)))) >= SILENCE_RMS:
        return melody
    raise AudioInputError(
        f"stem {stem.name!r}: its melody file is silent once Demucs keeps only {', '.join(keep)} "
        "(melody_stems); for a bass or drum riff write melody_stems: [] to use the file as it is"
    )


def melody_stems(arrangement: Arrangement, stem: Stem) -> tuple[str, ...]:
    """The Demucs sources a stem's melody file keeps before its chroma; () uses the file as it is.

    A followed stem's audio is never separated. A stem's own ``melody_stems`` applies to its own ``melody``
    file, else the arrangement's applies. Null, the default, keeps every source but drums and bass (vocals +
    other with htdemucs), as audiocraft's ``ChromaStemConditioner`` does when training and running
    MusicGen-melody, for trained models; debug and ``random:`` models learnt no chroma and use the file as it
    is, so offline runs need no Demucs weights (measured in bench/melody_stems.py).
    """
    from stems.musicgen.models import DEBUG_MODELS, RANDOM_PREFIX
    from stems.separation.separator import melody_sources

    if stem.follow:
        return ()
    chosen = stem.melody_stems if stem.melody is not None and stem.melody_stems is not None else None
    chosen = chosen if chosen is not None else arrangement.melody_stems
    if chosen is not None:  # summed, so the order is no choice: one spelling, one cache key
        return tuple(sorted(chosen, key=SOURCES.index))
    model = arrangement.stem_model(stem)
    if model in DEBUG_MODELS or model.startswith(RANDOM_PREFIX):
        return ()
    return melody_sources(arrangement.separation_model)


def melody_separation_model(arrangement: Arrangement, keep: tuple[str, ...]) -> str:
    """The arrangement's ``separation_model``, or its 6-source sibling when guitar or piano is kept."""
    from stems.separation.separator import melody_model

    return melody_model(keep, arrangement.separation_model)


def melody_stems_key(
    arrangement: Arrangement, stem: Stem, paths: RenderPaths, takes_melody: bool
) -> dict[str, Any]:
    """What the melody's separation adds to the generation cache key: nothing when the file is used as it is."""
    keep = melody_stems(arrangement, stem)
    if not keep or melody_path(arrangement, stem, paths, takes_melody) is None:
        return {}
    return {"melody_stems": {"sources": list(keep), "model": melody_separation_model(arrangement, keep)}}


def continuation_audio(stem: Stem) -> Audio | None:
    """The tail of the continuation file: at most its last window (less one frame) prompts the model."""
    if not stem.continuation:
        return None
    return read_audio(stem.continuation, max_seconds=MUSICGEN_WINDOW_S + READ_MARGIN_SECONDS, tail=True)


# Read past the span a stage uses, so resampling sees the same neighbours there as in the whole file
# (scipy's resample_poly filter reaches a few hundred input samples at most).
READ_MARGIN_SECONDS = 1.0


def read_melody(path: Path, duration: float) -> Audio:
    """The part of a melody file a ``duration`` s stem uses: every window takes the 30 s chroma chunk from its
    start (before ``duration``), so a longer file is never used past ``duration + 30`` s, looped or not."""
    return read_audio(path, max_seconds=duration + MUSICGEN_WINDOW_S + READ_MARGIN_SECONDS)


def section_spans(arrangement: Arrangement) -> list[Any]:
    from stems.musicgen.plan import section_spans as spans

    sections = [(s.name, s.bars, s.prompt) for s in arrangement.sections]
    return spans(sections, arrangement.bpm, arrangement.beats_per_bar, arrangement.duration)


def sampling_params(arrangement: Arrangement) -> SamplingParams:
    from stems.musicgen.types import SamplingParams

    return SamplingParams(**arrangement.generation.model_dump())


def generation_key(
    arrangement: Arrangement,
    stem: Stem,
    model: str,
    paths: RenderPaths,
    takes_melody: bool,
    item: str | None = None,
) -> str:
    """Everything a stem's audio depends on, upstream audio by content (a followed stem's raw file).

    Batch mates are left out on purpose: each row's text is encoded alone, padding is masked and melody
    models' positions are shifted per row, so a stem's greedy tokens are the same alone or batched, for
    every model kind (tests/stems/musicgen/test_window_loop.py), and its sampled tokens the same whoever shares a batch of
    a given size. What remains is float rounding: matrix kernels (MKL on CPU, fp16 GEMMs on GPU) pick
    their blocking by the number of rows, so a different batch SIZE can move logits in the last bits and,
    rarely, flip a sampled token. That is a render of the same inputs, not a stale one, so it is not keyed.
    ``item``: one of the stem's takes (its seed differs), else the stem itself.
    """
    melody = melody_path(arrangement, stem, paths, takes_melody)
    inputs = {
        "model": model,
        "checkpoint": checkpoint_fingerprint(model),
        "prompt": stem.prompt,
        "seed": item_seed(arrangement.seed, item or stem.name),
        "duration": arrangement.duration,
        "context": context_text(arrangement),
        "sections": [asdict(s) for s in section_spans(arrangement)],
        "generation": arrangement.generation.model_dump(),
        "melody": file_digest(melody) if melody else None,
        "melody_loop": arrangement.melody_loop,
        **melody_stems_key(arrangement, stem, paths, takes_melody),
        "continuation": file_digest(stem.continuation) if stem.continuation else None,
        "guide": guide_key(arrangement, stem, takes_melody),
    }
    return stage_key("generate", inputs)


@dataclass(frozen=True)
class GenerationJob:
    """Stems of one track that share a model and a follow level: one part of a (possibly cross-track) batch."""

    arrangement: Arrangement
    paths: RenderPaths
    names: tuple[str, ...]


def _record(
    job: GenerationJob,
    request: StemRequest,
    result: GeneratedStem,
    model: str,
    batch: list[str],
    seconds: float,
    began: float,
    takes_melody: bool,
) -> GenerationRecord:
    stem = generated_stem(job.arrangement, result.name)
    source = melody_path(job.arrangement, stem, job.paths, takes_melody)
    return GenerationRecord(
        model=model,
        seed=request.seed,
        melody=f"follow:{stem.follow}" if stem.follow else (str(source) if source else None),
        guide=guide_source(job.arrangement, stem, takes_melody),
        seconds=seconds,
        windows=tuple(Window.of(w) for w in result.windows),
        batch=tuple(batch),
        sample_rate=result.audio.sample_rate,
        channels=result.audio.channels,
        started=began,
        finished=time.time(),
    )


def generate_jobs(
    model: str, jobs: list[GenerationJob], progress: Progress | None = None
) -> list[dict[str, GenerationRecord]]:
    """Generate, in one batched call, every stem of ``jobs`` whose cached output is missing or stale.

    Returns one {stem: record} per job; records of reused stems say ``reused``.
    """
    from stems.musicgen.models import model_info

    if model == SKETCH_MODEL:
        return [sketch_job(job) for job in jobs]
    assert len({json.dumps(j.arrangement.generation.model_dump(), sort_keys=True) for j in jobs}) <= 1
    takes_melody = model_info(model).takes_melody
    out: list[dict[str, GenerationRecord]] = []
    todo: list[tuple[int, str, str]] = []
    for index, job in enumerate(jobs):
        cache = StageCache(job.paths.root)
        records: dict[str, GenerationRecord] = {}
        for name in job.names:
            item = generated_stem(job.arrangement, name)
            key = generation_key(job.arrangement, item, model, job.paths, takes_melody, name)
            hit = cache.lookup("generate", name, key)
            if hit is None:
                todo.append((index, name, key))
            else:
                records[name] = replace(GenerationRecord.from_json(hit), reused=True)
        out.append(records)
    if todo:
        _generate(model, jobs, todo, out, progress)
    return out


def sketch_job(job: GenerationJob) -> dict[str, GenerationRecord]:
    """Sketch stems: each plays its part through FluidSynth (no model), cached by the part's content."""
    from stems.score import SOUNDFONT

    cache, records = StageCache(job.paths.root), {}
    soundfont = file_digest(SOUNDFONT) if SOUNDFONT.is_file() else None  # 141 MB: hashed once, not per stem
    for name in job.names:
        stem = job.arrangement.stem(name)
        inputs = {
            "model": SKETCH_MODEL,
            "part": part_key(job.arrangement, stem),
            "rate": sketch_rate(job.arrangement),
            "duration": job.arrangement.duration,
            "soundfont": soundfont,
        }
        key = stage_key("generate", inputs)
        hit = cache.lookup("generate", name, key)
        if hit is not None:
            records[name] = replace(GenerationRecord.from_json(hit), reused=True)
            continue
        began = time.time()
        audio, seconds = render_sketch(job.arrangement, stem)
        write_wav(job.paths.raw(name), audio)
        record = GenerationRecord(
            model=SKETCH_MODEL,
            seconds=seconds,
            batch=(name,),
            sample_rate=audio.sample_rate,
            channels=audio.channels,
            started=began,
            finished=time.time(),
        )
        cache.store("generate", name, key, [job.paths.raw(name)], record.to_json())
        records[name] = replace(record, reused=False)
    return records


def _generate(
    model: str,
    jobs: list[GenerationJob],
    todo: list[tuple[int, str, str]],
    out: list[dict[str, GenerationRecord]],
    progress: Progress | None,
) -> None:
    from stems.musicgen.generator import get_generator

    started, began = time.perf_counter(), time.time()
    generator = get_generator(model)
    requests = [
        build_requests(jobs[i].arrangement, [name], jobs[i].paths, generator.takes_melody)[0]
        for i, name, _ in todo
    ]
    if len(jobs) > 1:  # stems of several tracks in one batch: label them track/stem
        requests = [replace(r, name=f"{jobs[i].paths.slug}/{r.name}") for r, (i, _, _) in zip(requests, todo)]
    results = generator.generate(requests, sampling_params(jobs[0].arrangement), progress)
    seconds = round(time.perf_counter() - started, 3)
    batch = [r.name for r in requests]
    for (index, name, key), request, result in zip(todo, requests, results):
        job, result = jobs[index], replace(result, name=name)
        write_wav(job.paths.raw(name), result.audio)
        record = _record(job, request, result, model, batch, seconds, began, generator.takes_melody)
        StageCache(job.paths.root).store("generate", name, key, [job.paths.raw(name)], record.to_json())
        out[index][name] = replace(record, reused=False)
