"""Post-generation stages of a track render, without Prefect: separate, clean, conform, transcribe, mix + master.

Each stage reads what the previous one wrote in the render folder and is skipped when the stage cache holds a
result made from the same inputs (see :mod:`flows.pipeline.cache`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.pipeline.cache import Stage, StageCache, file_digest, stage_key
from flows.pipeline.paths import STEMS_ZIP, RenderPaths
from flows.pipeline.records import (
    CleanRecord,
    ConformRecord,
    MixRecord,
    MixResult,
    SeparationRecord,
    Transcribed,
)
from flows.pipeline.score import part_digest, stem_part
from flows.schema.models import Arrangement, Stem
from flows.schema.score import instrument_family, is_sketch, midi_instrument, tempo_map
from stems.audio import Audio, check_finite, convert_audio, read_audio, write_wav
from stems.instruments import DRUM_FAMILY

if TYPE_CHECKING:
    from stems.conform.records import Analysis
    from stems.transcription.midi import Note, NoteTrack

# What the manifest says of a sketch stem's separation and cleanup, and of its conform.
SKETCH_CLEAN = "sketch: played from its part, clean by construction; separation and cleanup skipped"
SKETCH_ON_GRID = "sketch: played on the arrangement's tempo map, already on the grid"


def _cached(
    paths: RenderPaths, stage: Stage, item: str, inputs: dict[str, Any]
) -> tuple[StageCache, str, dict[str, Any] | None]:
    """The stage's cache, key and stored record (its ``to_json()``), None when the stage must run."""
    cache = StageCache(paths.root)
    key = stage_key(stage, inputs)
    return cache, key, cache.lookup(stage, item, key)


def separation_model(arrangement: Arrangement, stem: Stem) -> str | None:
    """The Demucs model that separates ``stem`` (a 6-source one for guitar/piano), or None without `separate:`."""
    if not stem.separate:
        return None
    from stems.separation.separator import model_for

    return model_for(stem.separate, arrangement.stem_separation_model(stem))


def separate_track(
    arrangement: Arrangement, stems: list[Stem], paths: RenderPaths
) -> dict[str, SeparationRecord]:
    """Demucs on every stem with `separate:`, stems sharing a model in one call (a model run per stem inside
    it, so a stem's source does not depend on which stems are redone with it: `--only`).

    Writes raw/<stem>.residual.wav (what was removed) and the kept source for cleanup; returns a record per stem.
    """
    return separate_items(arrangement, [(stem, stem.name) for stem in stems], paths)


def separate_items(
    arrangement: Arrangement, items: list[tuple[Stem, str]], paths: RenderPaths
) -> dict[str, SeparationRecord]:
    """:func:`separate_track` of (stem, item) pairs: an item is the stem itself or one of its takes, whose
    files and cache record are its own (``paths.raw(item)``); a record per item."""
    records: dict[str, SeparationRecord] = {}
    groups: dict[str, list[tuple[Stem, str, StageCache, str]]] = {}
    for stem, item in items:
        model = separation_model(arrangement, stem)
        if model is None:
            continue
        inputs = {"raw": file_digest(paths.raw(item)), "source": stem.separate, "model": model}
        cache, key, record = _cached(paths, "separate", item, inputs)
        if record is None:
            groups.setdefault(model, []).append((stem, item, cache, key))
        else:
            records[item] = replace(SeparationRecord.from_json(record), reused=True)
    for model, todo in groups.items():
        records.update(_separate_batch(model, todo, paths))
    return records


def _separate_batch(
    model: str, todo: list[tuple[Stem, str, StageCache, str]], paths: RenderPaths
) -> dict[str, SeparationRecord]:
    from stems.separation.separator import get_separator

    inputs = [(read_audio(paths.raw(item)), stem.separate or "") for stem, item, _, _ in todo]
    names = [f"stem '{item}'" for _, item, _, _ in todo]
    results = get_separator(model).separate_many(inputs, names=names)
    records = {}
    for (stem, item, cache, key), result in zip(todo, results):
        write_wav(paths.kept(item), result.kept)
        write_wav(paths.residual(item), result.residual)
        record = SeparationRecord(
            model, stem.separate, round(result.seconds, 3), tuple(i for _, i, _, _ in todo)
        )
        files = [paths.kept(item), paths.residual(item)]
        cache.store("separate", item, key, files, record.to_json())
        records[item] = replace(record, reused=False)
    return records


def clean_stem(
    arrangement: Arrangement,
    stem: Stem,
    paths: RenderPaths,
    separation: SeparationRecord | None = None,
    item: str | None = None,
) -> CleanRecord:
    """Clean the stem (its separated source when it has `separate:`), exactly aligned, for :func:`conform_stem`.

    ``separation`` is the stem's record from :func:`separate_track`, kept in this stage's record. ``item``: one
    of the stem's takes (its own files and cache record), else the stem itself.
    """
    from stems.separation.cleanup import clean, settings_for

    item = item or stem.name
    source = paths.kept(item) if stem.separate else paths.raw(item)
    sketch = is_sketch(arrangement, stem)
    inputs = {
        "audio": file_digest(source),
        "clean": None if sketch else stem.clean.model_dump(),
        "family": instrument_family(stem),
        "rate": arrangement.sample_rate,
        "duration": arrangement.duration,
    }
    cache, key, record = _cached(paths, "clean", item, inputs)
    if record is not None:
        return replace(CleanRecord.from_json(record), separation=separation, reused=True)
    started, began = time.perf_counter(), time.time()
    audio = read_audio(source)
    check_finite(audio, f"stem '{item}'")
    if stem.clean.enabled and not sketch:
        audio = clean(audio, settings_for(instrument_family(stem), **stem.clean.overrides()), name=item)
    rate = arrangement.sample_rate or audio.sample_rate
    audio = convert_audio(audio, rate, audio.channels).fitted(round(arrangement.duration * rate))
    write_wav(paths.cleaned(item), audio)
    done = CleanRecord(
        cleaned=stem.clean.enabled and not sketch,
        seconds=round(time.perf_counter() - started, 3),
        separation=None,  # not the cache's: a reused cleanup may start from a new separation
        sample_rate=rate,
        samples=audio.num_samples,
        started=began,
        finished=time.time(),
        skipped=SKETCH_CLEAN if sketch else None,
    )
    cache.store("clean", item, key, [paths.cleaned(item)], done.to_json())
    return replace(done, separation=separation, reused=False)


def conform_stem(
    arrangement: Arrangement, stem: Stem, paths: RenderPaths, item: str | None = None
) -> ConformRecord:
    """Put the cleaned stem on the arrangement's grid (and retune it, with ``conform.key``) into
    stems/<stem>.wav, which transcription and the mix read; a stem that cannot be placed is left as is.

    A pitched stem with a part (the arrangement has chords) is aligned to its part, note by note, whatever its
    family: pads and bowed strings have no beat to track (issue 24). Stems without a part and drums are placed
    by their beats; the drums' onsets are then checked against their groove's. Stems that come from the band
    take share its clock, so they are all warped by the take's beats (one time map). The record holds the
    analysis before and after, what placed the stem, how far it moved and what was done or why not.
    ``item``: one of the stem's takes (takes/<stem>/<k>.wav), else the stem itself.
    """
    from stems.conform import Grid, analyze, conform, conform_to_score
    from stems.conform.scored import PLACED_BY_BEATS, PLACED_BY_SCORE, unfollowed
    from stems.conform.warp import rubberband_version

    item = item or stem.name
    source = paths.cleaned(item)
    family = instrument_family(stem)
    pitched = family != DRUM_FAMILY
    sketch = is_sketch(arrangement, stem)
    on = (stem.conform.tempo or stem.conform.key) and not sketch
    part = stem_part(arrangement, stem) if on and not stem.from_band else None
    by_score = part is not None and pitched and stem.conform.tempo
    grid = Grid(arrangement.bpm, arrangement.beats_per_bar, arrangement.duration, arrangement.key)
    inputs = {
        "audio": file_digest(source),
        "conform": stem.conform.model_dump(),
        "grid": asdict(grid),
        "family": family,
        "band": file_digest(paths.band_take) if stem.from_band else None,
        "rubberband": rubberband_version() if stem.conform.tempo or stem.conform.key else None,
        "part": part_digest(part) if part is not None else None,
    }
    cache, key, record = _cached(paths, "conform", item, inputs)
    if record is not None:
        return replace(ConformRecord.from_json(record), reused=True)
    started = time.perf_counter()
    audio = read_audio(source)
    clock = (
        analyze(read_audio(paths.band_take), bpm_hint=grid.bpm, beats_per_bar=grid.beats_per_bar)
        if stem.from_band and on
        else None
    )
    why, analysis = None, clock
    if by_score and part is not None:
        result = conform_to_score(
            audio, grid, part.notes, key=stem.conform.key, pitched=pitched, family=family
        )
        if (why := unfollowed(result)) is not None:  # MusicGen may ignore its part: its beats may place it
            by_score, analysis = False, result.before
    if not by_score:
        result = conform(
            audio,
            grid,
            tempo=stem.conform.tempo and bool(on),
            key=stem.conform.key and bool(on),
            pitched=pitched,
            analysis=analysis,
            family=family,
        )
        if why is not None:
            result = replace(result, reason=f"{why}; by its beats: {result.reason}")
    if part is not None and not pitched and result.applied:
        result = replace(result, reason=f"{result.reason}; {_groove_check(result.audio, part.notes)}")
    if sketch:
        result = replace(result, reason=f"{SKETCH_ON_GRID} (measured: {_grid_error(result)})")
    audio = result.audio  # measured even when off: the report shows it
    write_wav(paths.stem(item), audio.fitted(round(arrangement.duration * audio.sample_rate)))
    method = PLACED_BY_SCORE if by_score else PLACED_BY_BEATS
    done = ConformRecord.of(result, round(time.perf_counter() - started, 3), method)
    cache.store("conform", item, key, [paths.stem(item)], done.to_json())
    return replace(done, reused=False)


# s: a drum onset within this of a groove onset agrees with it (the bench's onset tolerance)
GROOVE_WINDOW = 0.05


def _groove_check(audio: Audio, groove: tuple[Note, ...]) -> str:
    """How well the conformed drums' onsets (librosa's) agree with their groove's: the F-measure of a one-to-one
    match within GROOVE_WINDOW, the check the drums get instead of an alignment to their part."""
    import librosa
    import numpy as np

    from stems.conform.analysis import ANALYSIS_RATE

    mono = convert_audio(audio, ANALYSIS_RATE, 1).samples[0]
    found = librosa.onset.onset_detect(y=mono, sr=ANALYSIS_RATE, units="time")
    planned = np.unique(np.round([n.start for n in groove], 3))
    hits, k = 0, 0
    for t in planned:  # both sorted: each planned onset takes the first unmatched one found near it
        while k < len(found) and found[k] < t - GROOVE_WINDOW:
            k += 1
        if k < len(found) and abs(found[k] - t) <= GROOVE_WINDOW:
            hits, k = hits + 1, k + 1
    return f"drum onsets against the groove's: F {2 * hits / max(len(planned) + len(found), 1):.2f}"


def _grid_error(result: Any) -> str:
    error = result.error_before_ms
    return "no beats found" if error is None else f"mean beat error {error:.0f} ms"


def analyze_mix(audio: Audio, arrangement: Arrangement) -> Analysis:
    """Tempo, beats, downbeat, key and tuning of the master, against the arranged tempo (for the manifest)."""
    from stems.conform import analyze

    return analyze(audio, bpm_hint=arrangement.bpm, beats_per_bar=arrangement.beats_per_bar)


def _track_from_dict(data: dict[str, Any]) -> NoteTrack:
    from stems.transcription.midi import Note, NoteTrack, PitchBend

    return NoteTrack(
        name=data["name"],
        instrument=data["instrument"],
        program=data["program"],
        is_drum=data["is_drum"],
        notes=tuple(Note(**n) for n in data["notes"]),
        warnings=tuple(data["warnings"]),
        pitch_bends=tuple(PitchBend(**b) for b in data["pitch_bends"]),
        seconds=data["seconds"],
    )


def transcribe_stem(arrangement: Arrangement, stem: Stem, paths: RenderPaths) -> Transcribed:
    """Transcribe stems/<stem>.wav to midi/<stem>.mid; the NoteTrack is None for `midi: false`."""
    from stems.transcription.midi import write_midi
    from stems.transcription.transcriber import get_transcriber, settings_for

    family = midi_instrument(stem)
    if family is None:
        return Transcribed(None, False)
    tempo = tempo_map(arrangement)
    overrides = stem.transcription.overrides()
    inputs = {
        "stem": file_digest(paths.stem(stem.name)),
        "family": family,
        "tempo": asdict(tempo),
        "quantize": arrangement.midi.quantize,
        "overrides": overrides,
    }
    cache, key, record = _cached(paths, "transcribe", stem.name, inputs)
    if record is not None:
        return Transcribed(_track_from_dict(record["track"]), True)
    audio = read_audio(paths.stem(stem.name))
    settings = settings_for(family, **overrides)
    track = get_transcriber().transcribe(
        audio, family, stem.name, settings=settings, tempo=tempo, quantize=arrangement.midi.quantize
    )
    write_midi(paths.midi(stem.name), [track], tempo)
    cache.store("transcribe", stem.name, key, [paths.midi(stem.name)], {"track": asdict(track)})
    return Transcribed(track, False)


def write_track_midi(arrangement: Arrangement, tracks: list[NoteTrack | None], paths: RenderPaths) -> Path:
    """One multi-track MIDI file of every transcribed stem, sharing the arrangement's tempo map; with chords,
    a block-chord track and a marker per chord as it is played, the symbol as written."""
    from flows.schema.score import arrangement_score
    from stems.score import chord_markers, chord_track
    from stems.transcription.midi import write_midi

    score = arrangement_score(arrangement)
    chords = [chord_track(score)] if score is not None and score.chords else []
    markers = chord_markers(score) if score is not None else []
    notes = [t for t in tracks if t is not None]
    write_midi(paths.track_midi, notes + chords, tempo_map(arrangement), markers)
    return paths.track_midi


def _mix_inputs(
    arrangement: Arrangement, stems: list[Stem], paths: RenderPaths, tags: dict
) -> dict[str, Any]:
    return {
        "tags": tags,
        "stems": [
            {
                "digest": file_digest(paths.stem(s.name)),
                "gain_db": s.gain_db,
                "pan": s.pan,
                "mute": s.mute,
                "solo": s.solo,
            }
            for s in stems
        ],
        "master": arrangement.master.model_dump(),
        "title": arrangement.title,
        "artist": arrangement.artist,
        "grid": [arrangement.bpm, arrangement.beats_per_bar],  # the master's analysis is read against it
    }


def mix_and_master(
    arrangement: Arrangement, stems: list[Stem], paths: RenderPaths, album_tags: dict[str, str] | None = None
) -> MixResult:
    """Mix the stems (cleaned and conformed), master to the target, export mix.<fmt> (and stems.zip); returns the loudness report.

    ``album_tags`` (album, track number) go into the MP3/WAV/FLAC tags of a track rendered as part of an album.
    """
    from mixing.export import export_audio, zip_files
    from mixing.master import Master
    from mixing.mix import Track, mix

    tags = {"title": arrangement.title, "artist": arrangement.artist or "", **(album_tags or {})}
    tags = {k: v for k, v in tags.items() if v}
    cache, key, record = _cached(paths, "mix", "mix", _mix_inputs(arrangement, stems, paths, tags))
    if record is not None:
        return MixResult.from_json({**record, "reused": True})
    started = time.perf_counter()
    tracks = [Track(s.name, read_audio(paths.stem(s.name)), s.gain_db, s.pan, s.mute, s.solo) for s in stems]
    mixed = mix(tracks, measure_stems=True)
    master = arrangement.master
    result = Master(master.lufs, master.true_peak).master(mixed.audio)
    files = [
        export_audio(
            result.audio, paths.mix(fmt), fmt, master.bit_depth, master.sample_rate, tags, master.mp3_bitrate
        )
        for fmt in dict.fromkeys(["wav", *master.formats])
    ]
    if master.zip_stems:
        files.append(zip_files([paths.stem(s.name) for s in stems], paths.root / STEMS_ZIP))
    done = MixResult(
        mix=MixRecord(
            master=result.report.to_dict(),
            master_gain_db=result.gain_db,
            analysis=analyze_mix(result.audio, arrangement),
            master_iterations=result.iterations,
            files=tuple(Path(f).name for f in files),
        ),
        stems={name: report.to_dict() for name, report in mixed.stem_reports.items()},
        stem_gain_db=mixed.stem_gain_db,
        seconds=round(time.perf_counter() - started, 3),
    )
    cache.store("mix", "mix", key, [Path(f) for f in files], done.to_json())
    return replace(done, reused=False)
