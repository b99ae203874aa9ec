"""Takes of a stem (issue 25), without Prefect: a stem with ``takes: K`` is generated as K rows of one batch
(``flows.pipeline.generation.take_items``), and here each take is separated, cleaned and conformed on its
own (its files and stage records its own: ``RenderPaths`` of ``<stem>#<k>``), scored (``stems.takes``) and
the best, or the one ``musicmaker pick`` chose, is installed as the stem: raw/<stem>.wav and stems/<stem>.wav
are its files, so transcription, the mix, the sessions and the report go on as for any stem.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flows.pipeline.cache import StageCache, file_digest, stage_key
from flows.pipeline.generation import item_seed, take_items
from flows.pipeline.paths import (
    PICKS,
    TAKES_DIR,
    TRACK_MANIFEST,
    RenderPaths,
    refuse_while_rendering,
    take_item,
)
from flows.pipeline.records import CleanRecord, ConformRecord, SeparationRecord, TakeRecord, TrackManifest
from flows.pipeline.score import guide_key, part_digest, stem_guide, stem_part
from flows.pipeline.stages import clean_stem, conform_stem, separate_items
from flows.schema.models import MAX_TAKES, Arrangement, Stem
from flows.schema.score import arrangement_score, instrument_family
from stems.audio import copy_file_atomic, read_audio, write_bytes_atomic
from stems.errors import UserInputError
from stems.takes import TakeScores, Target, rank

# Who chose a stem's take (TakeRecord.picked_by): its best total, or `musicmaker pick`.
PICKED_BY_SCORE, PICKED_BY_USER = "score", "pick"


@dataclass(frozen=True)
class TakesResult:
    """The installed take's cleanup and conform records (the stem's, in the manifest) and every take."""

    clean: CleanRecord
    conform: ConformRecord
    takes: tuple[TakeRecord, ...]

    @property
    def picked(self) -> int:
        return next(t.take for t in self.takes if t.picked)


def has_takes(arrangement: Arrangement, stem: Stem) -> bool:
    return arrangement.stem_takes(stem) > 1


def separate_takes(arrangement: Arrangement, stem: Stem, paths: RenderPaths) -> dict[str, SeparationRecord]:
    """Demucs on every take of ``stem`` (with `separate:`; none without), in one call: a record per take item."""
    items = take_items(arrangement, stem.name)
    return separate_items(arrangement, [(stem, item) for item in items], paths)


def render_takes(
    arrangement: Arrangement, stem: Stem, paths: RenderPaths, separated: dict[str, SeparationRecord]
) -> TakesResult:
    """Clean, conform and score every take of ``stem`` (``separated``: :func:`separate_takes`); install the
    picked one (the user's pick, else the best total, the first of equals)."""
    items = take_items(arrangement, stem.name)
    cleaned = [clean_stem(arrangement, stem, paths, separated.get(item), item) for item in items]
    conformed = [conform_stem(arrangement, stem, paths, item) for item in items]
    judge = TakeJudge.of(arrangement, stem)
    scores = [score_take(judge, paths, item) for item in items]
    best = rank(scores)[0] + 1  # the first of equal totals
    chosen = picks(paths).get(stem.name)
    picked = chosen if chosen is not None and 1 <= chosen <= len(items) else best
    install(paths, stem.name, picked)
    records = tuple(
        TakeRecord(
            take=k,
            seed=item_seed(arrangement.seed, item),
            file=paths.stem(item).relative_to(paths.root).as_posix(),
            scores=scores[k - 1].to_json(),
            total=round(scores[k - 1].total, 4),
            picked=k == picked,
            picked_by=(PICKED_BY_USER if picked == chosen else PICKED_BY_SCORE) if k == picked else None,
        )
        for k, item in enumerate(items, start=1)
    )
    return TakesResult(cleaned[picked - 1], conformed[picked - 1], records)


@dataclass(frozen=True)
class TakeJudge:
    """What every take of one stem is measured against, made once per stem: the target (its part, else the
    chords), the stem's melody guide, and the part of the score cache key they give."""

    arrangement: Arrangement
    stem: Stem
    target: Target
    key: dict[str, Any]
    takes_melody: bool

    @classmethod
    def of(cls, arrangement: Arrangement, stem: Stem) -> TakeJudge:
        from stems.musicgen.models import model_info

        score = arrangement_score(arrangement)
        part = stem_part(arrangement, stem, score) if score is not None else None
        target = Target(
            arrangement.bpm,
            arrangement.beats_per_bar,
            arrangement.key,
            chords=score.chords if score is not None and part is None else None,
            part=part.notes if part is not None else None,
            family=instrument_family(stem),
        )
        takes_melody = model_info(arrangement.stem_model(stem)).takes_melody
        key = {
            "target": [target.bpm, target.beats_per_bar, target.key, target.family],
            "chords": [[c.start, c.end, c.root_pc, c.quality] for c in target.chords or ()],
            "part": part_digest(part) if part is not None else None,
            "guide": guide_key(arrangement, stem, takes_melody),
            "duration": arrangement.duration,
        }
        return cls(arrangement, stem, target, key, takes_melody)

    @functools.cached_property
    def guide(self) -> np.ndarray | None:
        """The one-hot chroma the stem was conditioned on, over the whole track (None: no guide)."""
        guide = stem_guide(self.arrangement, self.stem, self.takes_melody)
        return guide.window(0.0, self.arrangement.duration) if guide is not None else None


def score_take(judge: TakeJudge, paths: RenderPaths, item: str) -> TakeScores:
    """A take's terms (``stems.takes.measure``) as it stood before conform (its cleaned file): against its part
    when it has one, else the chords; with the share of energy Demucs removed and its melody guide. Cached
    (stage ``score``) on those inputs, so a pick or a re-render does not measure every take again."""
    from stems.takes import measure

    separated = [paths.kept(item), paths.residual(item)] if judge.stem.separate else []
    inputs = {
        "audio": file_digest(paths.cleaned(item)),
        "separated": [file_digest(p) for p in separated],
        **judge.key,
    }
    cache = StageCache(paths.root)
    key = stage_key("score", inputs)
    if (hit := cache.lookup("score", item, key)) is not None:
        return TakeScores.from_json(hit)
    removed = removed_share(paths, item) if judge.stem.separate else None
    found = measure(read_audio(paths.cleaned(item)), judge.target, removed=removed, guide=judge.guide)
    cache.store("score", item, key, [], found.to_json())
    return found


def removed_share(paths: RenderPaths, item: str) -> float:
    """The share of the take's energy Demucs took out: residual over kept plus residual."""
    kept, residual = (_energy(read_audio(path).samples) for path in (paths.kept(item), paths.residual(item)))
    return residual / (kept + residual) if kept + residual > 0 else 0.0


def _energy(samples: np.ndarray) -> float:
    return float(np.sum(np.square(samples, dtype=np.float64)))


def install(paths: RenderPaths, stem: str, take: int) -> None:
    """Take ``take``'s files become the stem's: stems/<stem>.wav, raw/<stem>.wav and, when separated, what
    Demucs removed (raw/<stem>.residual.wav)."""
    item = take_item(stem, take)
    pairs = [(paths.stem(item), paths.stem(stem)), (paths.raw(item), paths.raw(stem))]
    if paths.residual(item).is_file():
        pairs.append((paths.residual(item), paths.residual(stem)))
    for source, target in pairs:
        copy_file_atomic(source, target)


def record_pick(folder: Path, stem: str, take: int) -> Arrangement:
    """Check that ``folder`` is a finished render, not being rendered, whose ``stem`` has take ``take``; record
    the pick (``PICKS``) and return the arrangement the render was made from (its manifest's)."""
    refuse_while_rendering(folder)
    manifest_path = folder / TRACK_MANIFEST
    if not manifest_path.is_file():
        raise UserInputError(
            f"{folder} is not a finished track render (it has no {TRACK_MANIFEST}); pick works on the folder "
            "a render wrote, e.g. renders/night-drive"
        )
    manifest = TrackManifest.from_json(json.loads(manifest_path.read_text()))
    with_takes = sorted(name for name, record in manifest.stems.items() if record.takes)
    record = manifest.stems.get(stem)
    if record is None:
        raise UserInputError(
            f"{folder} has no stem {stem!r}; its stems are {', '.join(sorted(manifest.stems))}"
            + (f" (with takes: {', '.join(with_takes)})" if with_takes else "")
        )
    if not record.takes:
        raise UserInputError(
            f"stem {stem!r} of {folder} was rendered without takes; give it takes: K (2-{MAX_TAKES}) in the "
            f"arrangement and render again"
        )
    if not 1 <= take <= len(record.takes):
        raise UserInputError(f"stem {stem!r} has takes 1-{len(record.takes)}; there is no take {take}")
    chosen = picks(RenderPaths(folder, folder.name)) | {stem: take}
    write_bytes_atomic(folder / PICKS, json.dumps(chosen, indent=2, sort_keys=True).encode())
    return Arrangement.model_validate(manifest.arrangement.document)


def remove_stale_takes(arrangement: Arrangement, stems: list[Stem], paths: RenderPaths) -> None:
    """Take files an earlier render of the folder left that this one does not make (a stem given fewer takes,
    or none): they would pass for outputs of this render."""
    for stem in stems:
        count = arrangement.stem_takes(stem)
        folder = paths.root / TAKES_DIR / stem.name
        for path in folder.glob("*.wav") if folder.is_dir() else ():
            if count == 1 or not path.stem.isdigit() or int(path.stem) > count:
                path.unlink()


def picks(paths: RenderPaths) -> dict[str, int]:
    """The takes ``musicmaker pick`` chose in this folder: {stem: take}."""
    path = paths.root / PICKS
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}
