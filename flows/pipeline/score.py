"""The score stage of a track render, without Prefect: the arrangement's chords as a part per stem
(score/<stem>.mid), the chroma guide a melody model's stem is conditioned on, and sketch stems played from their
parts through FluidSynth. The music itself is :mod:`stems.score`; this module decides which stem gets what.

Which condition a generated stem gets (``stems.<name>.generation.guide`` in the manifest):

- ``"follow"``: it follows another stem (that stem's raw audio is its melody);
- ``"melody"``: its own ``melody`` file; a MIDI file is turned into chroma from its notes, as a part is;
- ``"part"``: the arrangement has chords, the model takes a melody, ``guide`` is not false and the stem plays
  a pitched part; this comes before the arrangement's own ``melody``, which is not the stem's own;
- ``"melody"`` again: the arrangement's ``melody`` file, for a melody model;
- None: no melody condition.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from flows.pipeline.paths import RenderPaths
from flows.schema.checks import BAND
from flows.schema.models import Arrangement, Stem
from flows.schema.score import arrangement_score, stem_instrument, tempo_map
from stems.instruments import resolve_instrument
from stems.score import is_midi_file

if TYPE_CHECKING:
    from stems.audio import Audio
    from stems.score import Part, PartGuide, Score
    from stems.transcription.midi import Note

GuideSource = Literal["part", "melody", "follow"]
GUIDE_PART: GuideSource = "part"
GUIDE_MELODY: GuideSource = "melody"
GUIDE_FOLLOW: GuideSource = "follow"
# A sketch stem is rendered at the arrangement's export rate, else at FluidSynth's default rate, in stereo.
SKETCH_RATE = 44_100
SKETCH_CHANNELS = 2


def melody_file(arrangement: Arrangement, stem: Stem) -> Path | None:
    """The MIDI melody a lead part plays: the stem's own ``melody``, else the arrangement's, when it is MIDI."""
    for path in (stem.melody, arrangement.melody):
        if path is not None:
            return path if is_midi_file(path) else None
    return None


def stem_part(arrangement: Arrangement, stem: Stem, score: Score | None = None) -> Part | None:
    """The part ``stem`` plays over the arrangement's chords (the same for the same seed), or None without
    chords, for the band take and for ``midi: false``."""
    from stems.score import make_part

    score = score if score is not None else arrangement_score(arrangement)
    instrument = stem_instrument(stem) if stem.name != BAND else None
    if score is None or instrument is None:
        return None
    midi = melody_file(arrangement, stem)
    melody = melody_notes(arrangement, midi) if midi is not None else None
    return make_part(stem.name, instrument, score, part_seed(arrangement.seed, stem.name), melody)


def melody_notes(arrangement: Arrangement, path: Path) -> tuple[Note, ...]:
    """A MIDI melody's notes in seconds, looped in whole bars to the track's end with ``melody_loop`` (as an
    audio melody loops under the windows, audiocraft's way)."""
    from stems.score import read_midi_melody
    from stems.transcription.midi import Note

    notes = read_midi_melody(path).notes
    if not arrangement.melody_loop:
        return notes
    bar = tempo_map(arrangement).bar_seconds
    length = math.ceil(max(n.end for n in notes) / bar - 1e-9) * bar
    return tuple(
        Note(n.start + k * length, n.end + k * length, n.pitch, n.velocity)
        for k in range(math.ceil(arrangement.duration / length))
        for n in notes
    )


def part_seed(seed: int, stem: str) -> int:
    """A seed per part derived from the track seed, apart from the stem's generation seed."""
    digest = hashlib.sha256(f"{seed}:{stem}:part".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def part_digest(part: Part) -> str:
    """A part's content, for the cache keys of what it conditions or plays."""
    notes = [asdict(n) for n in part.notes]
    text = json.dumps({"instrument": asdict(part.instrument), "notes": notes}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def write_parts(arrangement: Arrangement, stems: list[Stem], paths: RenderPaths) -> dict[str, Path]:
    """score/<stem>.mid for every stem that plays a part; {} without chords."""
    from stems.score import write_part

    score = arrangement_score(arrangement)
    if score is None:
        return {}
    written: dict[str, Path] = {}
    for stem in stems:
        part = stem_part(arrangement, stem, score)
        if part is not None:
            write_part(paths.part(stem.name), part, score)
            written[stem.name] = paths.part(stem.name)
    return written


def guide_source(arrangement: Arrangement, stem: Stem, takes_melody: bool) -> GuideSource | None:
    """Where a generated stem's melody condition comes from (see the module docstring)."""
    if stem.follow:
        return GUIDE_FOLLOW
    if not takes_melody:
        return None
    if stem.melody is not None:
        return GUIDE_MELODY
    if stem.name != BAND and stem.guide and _pitched_part(arrangement, stem):
        return GUIDE_PART
    return GUIDE_MELODY if arrangement.melody is not None else None


def _pitched_part(arrangement: Arrangement, stem: Stem) -> bool:
    instrument = stem_instrument(stem)
    return arrangement_score(arrangement) is not None and instrument is not None and not instrument.is_drum


def stem_guide(arrangement: Arrangement, stem: Stem, takes_melody: bool) -> PartGuide | None:
    """The chroma guide of a generated stem: its part, or its MIDI melody file's notes; None when it is
    conditioned on audio (a melody audio file, a followed stem) or not at all."""
    from stems.score import PartGuide, make_part

    source = guide_source(arrangement, stem, takes_melody)
    if source == GUIDE_PART:
        part = stem_part(arrangement, stem)
        return None if part is None else PartGuide(part)
    midi = melody_file(arrangement, stem) if source == GUIDE_MELODY else None
    if midi is None:
        return None
    score = _melody_score(arrangement)
    lead = resolve_instrument("lead")
    return PartGuide(make_part(stem.name, lead, score, 0, melody_notes(arrangement, midi)))


def _melody_score(arrangement: Arrangement) -> Score:
    """A MIDI melody without chords still needs a time line (its notes are placed in seconds)."""
    from stems.score import lay_out

    return arrangement_score(arrangement) or lay_out(tempo_map(arrangement), arrangement.duration, [])


def guide_key(arrangement: Arrangement, stem: Stem, takes_melody: bool) -> str | None:
    """What a part guide adds to the generation cache key (a MIDI melody counts by its file already)."""
    if guide_source(arrangement, stem, takes_melody) != GUIDE_PART:
        return None
    return part_key(arrangement, stem)


def part_key(arrangement: Arrangement, stem: Stem) -> str | None:
    """The digest of the stem's part, None when it plays none."""
    part = stem_part(arrangement, stem)
    return None if part is None else part_digest(part)


def sketch_rate(arrangement: Arrangement) -> int:
    return arrangement.sample_rate or SKETCH_RATE


def render_sketch(arrangement: Arrangement, stem: Stem) -> tuple[Audio, float]:
    """A sketch stem's raw audio: its part through FluidSynth, dry (centre, 0 dB: the mix applies the stem's
    pan and gain, as it does to every stem), and the seconds it took."""
    from stems.errors import UserInputError
    from stems.score import render_part

    started = time.perf_counter()
    score = arrangement_score(arrangement)
    part = stem_part(arrangement, stem, score)
    if score is None or part is None:  # the schema refuses both; a guard for callers that skip it
        raise UserInputError(f"stem {stem.name!r}: model sketch plays the stem's part; add chords and midi:")
    audio = render_part(part, score, sketch_rate(arrangement), SKETCH_CHANNELS)
    return audio, round(time.perf_counter() - started, 3)
