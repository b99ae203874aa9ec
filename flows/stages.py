"""Post-generation stages of a track render, without Prefect: separate + clean, transcribe, mix + master.

Each stage reads what the previous one wrote in the render folder and is skipped when the stage cache holds a
result made from the same inputs (see :mod:`flows.cache`).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from flows.cache import StageCache, file_digest, stage_key
from flows.paths import RenderPaths
from flows.schema import Arrangement, Stem
from stems.audio import Audio, check_finite, convert_audio, read_audio, write_wav
from stems.transcribe_settings import INSTRUMENT_FAMILIES

# What a stem's `separate:` source says about the instrument when `midi:` does not say it.
_FAMILY_BY_SOURCE = {
    "drums": "drums",
    "bass": "bass",
    "vocals": "vocals",
    "guitar": "guitar",
    "piano": "piano",
}


def instrument_family(stem: Stem) -> str | None:
    """The instrument family used for cleanup and MIDI: `midi:` if given, else from `separate:` or the name."""
    if isinstance(stem.midi, str):
        return stem.midi
    if stem.separate in _FAMILY_BY_SOURCE:
        return _FAMILY_BY_SOURCE[stem.separate]
    return next((w for w in INSTRUMENT_FAMILIES if w.rstrip("s") in stem.name), None)


def midi_instrument(stem: Stem) -> str | None:
    """The transcription family of a stem, or None for `midi: false`; stems of unknown family transcribe as keys."""
    if stem.midi is False:
        return None
    return instrument_family(stem) or "keys"


def fit_length(audio: Audio, num_samples: int) -> Audio:
    """Exactly ``num_samples`` long: resampling may round by a sample, never more."""
    x = audio.samples[:, :num_samples]
    if x.shape[1] < num_samples:
        x = np.pad(x, ((0, 0), (0, num_samples - x.shape[1])))
    return Audio(x, audio.sample_rate)


def _cached(
    paths: RenderPaths, stage: str, item: str, inputs: dict[str, Any]
) -> tuple[StageCache, str, dict[str, Any] | None]:
    cache = StageCache(paths.root)
    key = stage_key(stage, inputs)
    record = cache.lookup(stage, item, key)
    return cache, key, (None if record is None else {**record, "reused": True})


def refine_stem(arrangement: Arrangement, stem: Stem, paths: RenderPaths) -> dict[str, Any]:
    """Separate (keep the stem's source, save the residual), clean, and write stems/<stem>.wav exactly aligned."""
    from stems.clean import clean, settings_for

    separation = None
    if stem.separate:
        from stems.separate import model_for

        separation = model_for(stem.separate, stem.separation_model or arrangement.separation_model)
    inputs = {"raw": file_digest(paths.raw(stem.name)), "source": stem.separate, "model": separation,
              "clean": stem.clean.model_dump(), "family": instrument_family(stem),
              "rate": arrangement.sample_rate, "duration": arrangement.duration}  # fmt: skip
    cache, key, record = _cached(paths, "refine", stem.name, inputs)
    if record is not None:
        return record
    started, began = time.perf_counter(), time.time()
    audio = read_audio(paths.raw(stem.name))
    check_finite(audio, f"stem '{stem.name}'")
    files = [paths.stem(stem.name)]
    record = {"separation": None, "cleaned": stem.clean.enabled}
    if separation:
        from stems.separate import get_separator

        result = get_separator(separation).separate(audio, stem.separate or "", name=f"stem '{stem.name}'")
        write_wav(paths.residual(stem.name), result.residual)
        files.append(paths.residual(stem.name))
        audio = result.kept
        record["separation"] = {
            "model": separation,
            "source": stem.separate,
            "seconds": round(result.seconds, 3),
        }
    if stem.clean.enabled:
        audio = clean(audio, settings_for(instrument_family(stem), **stem.clean.overrides()), name=stem.name)
    rate = arrangement.sample_rate or audio.sample_rate
    audio = fit_length(convert_audio(audio, rate, audio.channels), round(arrangement.duration * rate))
    write_wav(paths.stem(stem.name), audio)
    seconds = round(time.perf_counter() - started, 3)
    record.update(
        sample_rate=rate, samples=audio.num_samples, seconds=seconds, started=began, finished=time.time()
    )
    cache.store("refine", stem.name, key, files, record)
    return {**record, "reused": False}


def tempo_map(arrangement: Arrangement) -> Any:
    from stems.midi import TempoMap

    return TempoMap(arrangement.bpm, arrangement.beats_per_bar, arrangement.beat_unit)


def _track_from_dict(data: dict[str, Any]) -> Any:
    from stems.midi import Note, NoteTrack, PitchBend

    return NoteTrack(
        name=data["name"], instrument=data["instrument"], program=data["program"], is_drum=data["is_drum"],
        notes=tuple(Note(**n) for n in data["notes"]), warnings=tuple(data["warnings"]),
        pitch_bends=tuple(PitchBend(**b) for b in data["pitch_bends"]), seconds=data["seconds"],
    )  # fmt: skip


def transcribe_stem(arrangement: Arrangement, stem: Stem, paths: RenderPaths) -> tuple[Any, bool]:
    """Transcribe stems/<stem>.wav to midi/<stem>.mid; returns (NoteTrack or None for `midi: false`, reused)."""
    from stems.midi import write_midi
    from stems.transcribe import get_transcriber, settings_for

    family = midi_instrument(stem)
    if family is None:
        return None, False
    tempo = tempo_map(arrangement)
    overrides = stem.transcription.overrides()
    inputs = {"stem": file_digest(paths.stem(stem.name)), "family": family, "tempo": asdict(tempo),
              "quantize": arrangement.midi.quantize, "overrides": overrides}  # fmt: skip
    cache, key, record = _cached(paths, "transcribe", stem.name, inputs)
    if record is not None:
        return _track_from_dict(record["track"]), True
    audio = read_audio(paths.stem(stem.name))
    settings = settings_for(family, **overrides)
    track = get_transcriber().transcribe(
        audio, family, stem.name, settings=settings, tempo=tempo, quantize=arrangement.midi.quantize
    )
    write_midi(paths.midi(stem.name), [track], tempo)
    cache.store("transcribe", stem.name, key, [paths.midi(stem.name)], {"track": asdict(track)})
    return track, False


def write_track_midi(arrangement: Arrangement, tracks: list[Any], paths: RenderPaths) -> Path:
    """One multi-track MIDI file of every transcribed stem, sharing the arrangement's tempo map."""
    from stems.midi import write_midi

    write_midi(paths.track_midi, [t for t in tracks if t is not None], tempo_map(arrangement))
    return paths.track_midi


def _mix_inputs(
    arrangement: Arrangement, stems: list[Stem], paths: RenderPaths, tags: dict
) -> dict[str, Any]:
    return {"tags": tags,
        "stems": [{"digest": file_digest(paths.stem(s.name)), "gain_db": s.gain_db, "pan": s.pan, "mute": s.mute,
                   "solo": s.solo} for s in stems],
        "master": arrangement.master.model_dump(), "title": arrangement.title, "artist": arrangement.artist,
    }  # fmt: skip


def mix_and_master(
    arrangement: Arrangement, stems: list[Stem], paths: RenderPaths, album_tags: dict[str, str] | None = None
) -> dict[str, Any]:
    """Mix the cleaned stems, master to the target, export mix.<fmt> (and stems.zip); returns the loudness report.

    ``album_tags`` (album, track number) go into the MP3/WAV/FLAC tags of a track rendered as part of an album.
    """
    from mixing.export import export_audio, zip_files
    from mixing.master import Master
    from mixing.mix import Track, mix

    tags = {"title": arrangement.title, "artist": arrangement.artist or "", **(album_tags or {})}
    tags = {k: v for k, v in tags.items() if v}
    cache, key, record = _cached(paths, "mix", "mix", _mix_inputs(arrangement, stems, paths, tags))
    if record is not None:
        return record
    started = time.perf_counter()
    tracks = [Track(s.name, read_audio(paths.stem(s.name)), s.gain_db, s.pan, s.mute, s.solo) for s in stems]
    mixed = mix(tracks, measure_stems=True)
    master = arrangement.master
    result = Master(master.lufs, master.true_peak).master(mixed.audio)
    files = [
        export_audio(result.audio, paths.mix(fmt), fmt, master.bit_depth, master.sample_rate, tags,
                     master.mp3_bitrate)
        for fmt in dict.fromkeys(["wav", *master.formats])
    ]  # fmt: skip
    if master.zip_stems:
        files.append(zip_files([paths.stem(s.name) for s in stems], paths.root / "stems.zip"))
    record = {
        "stems": {name: report.to_dict() for name, report in mixed.stem_reports.items()},
        "stem_gain_db": mixed.stem_gain_db,
        "master": result.report.to_dict(),
        "master_gain_db": result.gain_db,
        "master_iterations": result.iterations,
        "files": [Path(f).name for f in files],
        "seconds": round(time.perf_counter() - started, 3),
    }
    cache.store("mix", "mix", key, [Path(f) for f in files], record)
    return {**record, "reused": False}
