"""Transcription accuracy on real music: public-domain scores of the music21 corpus rendered by FluidSynth.

``SET`` holds 38 excerpts of about 20 s across the families a producer meets: piano solo, string quartets
and chorales (ensemble strings, guitar), monophonic woodwind, brass and string lines, bass lines. Each is
transcribed as its GM instrument is named (``--instrument clarinet``: the family's settings, as a new user
would) and with basic-pitch's defaults, and scored with ``mir_eval.transcription`` (``eval_transcription
.score``: onset-only F1 at 50 ms, and with offsets within max(20 %, 50 ms)).

Two splits: ``tune`` is what thresholds and note-tracking steps were chosen on; ``report`` (other scores,
no score shared with ``tune``) is what the README gives. Renderings and basic-pitch's posteriorgrams are cached
under ``--cache`` (default a temporary folder) so tuning reruns only the note tracking.

    .venv/bin/python bench/real_music.py --split report        # JSON per excerpt, per group, means
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stems.audio import Audio, convert_audio
from stems.transcription.midi import Note
from stems.transcription.notes import notes_from_posteriors
from stems.transcription.settings import BASIC_PITCH_DEFAULTS, TranscriptionSettings
from stems.transcription.transcriber import get_transcriber, settings_for
from tests.support.bench_scripts import load_bench

corpus = load_bench("corpus")
SECONDS = 20.0
FIXTURE_RATE = 16000
LEAD = 0.3  # seconds of silence before bar 1, as a stem rarely starts on its first sample


@dataclass(frozen=True)
class Case:
    """One excerpt: the piece as played, the group it reports under, the instrument it is transcribed as."""

    piece: object  # corpus.Piece (a bench script's type, so not importable for the annotation)
    group: str
    instrument: str
    split: str


def _case(
    path: str,
    bpm: float,
    programs: tuple[int, ...],
    group: str,
    instrument: str,
    split: str,
    parts: tuple[int, ...] | None = None,
    transpose: int = 0,
) -> Case:
    piece = corpus.Piece(path, bpm, programs, parts, transpose)
    return Case(piece, group, instrument, split)


QUARTET = (40, 40, 41, 42)  # violin, violin, viola, cello
# fmt: off
SET: tuple[Case, ...] = (
    # tuning split
    _case("bach/bwv66.6", 96, (0,), "piano", "acoustic grand piano", "tune"),
    _case("beach/prayer_of_a_tired_child", 80, (0,), "piano", "acoustic grand piano", "tune", parts=(4, 5)),
    _case("haydn/opus74no1/movement3", 138, QUARTET, "quartet", "strings", "tune"),
    _case("mozart/k155/movement1", 126, QUARTET, "quartet", "strings", "tune"),
    _case("bach/bwv269", 88, (48, 48, 49, 48), "quartet", "string ensemble 1", "tune"),
    _case("bach/bwv84.5", 92, (24, 25, 24, 25), "guitar", "acoustic guitar (nylon)", "tune"),
    _case("ryansMammoth/AmazonHornpipe", 100, (24,), "guitar", "acoustic guitar (nylon)", "tune"),
    _case("ryansMammoth/AmericanHornpipe", 100, (73,), "woodwind", "flute", "tune"),
    _case("ryansMammoth/ArbanaReel", 100, (71,), "woodwind", "clarinet", "tune"),
    _case("bach/bwv7.7", 92, (68,), "woodwind", "oboe", "tune", parts=(0,)),
    _case("bach/bwv269", 88, (73,), "woodwind", "flute", "tune", parts=(0,), transpose=12),  # flute's top
    _case("bach/bwv7.7", 92, (56,), "brass", "trumpet", "tune", parts=(0,), transpose=-12),
    _case("bach/bwv66.6", 96, (57,), "brass", "trombone", "tune", parts=(3,)),
    _case("haydn/opus74no1/movement3", 138, (40,), "string line", "violin", "tune", parts=(0,)),
    _case("mozart/k155/movement1", 126, (40,), "string line", "violin", "tune", parts=(0,)),
    _case("bach/bwv269", 88, (42,), "string line", "cello", "tune", parts=(3,)),
    # repeated bowed eighths (22 and 44 re-onsets of a held pitch), which the lines above barely have
    _case("mozart/k155/movement1", 126, (40,), "string line", "violin", "tune", parts=(1,)),
    _case("mozart/k155/movement1", 126, (41,), "string line", "viola", "tune", parts=(2,)),
    _case("bach/bwv84.5", 92, (33,), "bass", "electric bass (finger)", "tune", parts=(3,), transpose=-12),
    _case("mozart/k155/movement1", 126, (32,), "bass", "acoustic bass", "tune", parts=(3,), transpose=-12),
    # report split: other scores
    _case("mozart/k545/movement1_exposition", 132, (0,), "piano", "acoustic grand piano", "report"),
    _case("joplin/maple_leaf_rag", 100, (0,), "piano", "acoustic grand piano", "report"),
    _case("cpebach/h186", 100, (1,), "piano", "bright acoustic piano", "report"),
    _case("mozart/k458/movement2", 132, QUARTET, "quartet", "strings", "report"),
    _case("haydn/opus74no1/movement1", 120, QUARTET, "quartet", "strings", "report"),
    _case("mozart/k156/movement2", 72, QUARTET, "quartet", "strings", "report"),
    _case("bach/bwv26.6", 92, (48, 49, 48, 48), "quartet", "string ensemble 1", "report"),
    _case("bach/bwv1.6", 92, (24, 25, 24, 25), "guitar", "acoustic guitar (nylon)", "report",
          parts=(1, 2, 3, 4)),
    _case("ryansMammoth/AcrobatsHornpipe", 100, (25,), "guitar", "acoustic guitar (steel)", "report"),
    _case("ryansMammoth/AlbemarleHornpipe", 100, (71,), "woodwind", "clarinet", "report"),
    _case("bach/bwv26.6", 92, (73,), "woodwind", "flute", "report", parts=(0,), transpose=12),
    _case("ryansMammoth/ArkansasTravellerReel", 100, (68,), "woodwind", "oboe", "report"),
    _case("bach/bwv1.6", 92, (56,), "brass", "trumpet", "report", parts=(1,)),
    _case("bach/bwv26.6", 92, (60,), "brass", "french horn", "report", parts=(2,)),
    _case("mozart/k458/movement2", 132, (40,), "string line", "violin", "report", parts=(0,)),
    _case("haydn/opus74no1/movement1", 120, (42,), "string line", "cello", "report", parts=(3,)),
    _case("bach/bwv1.6", 92, (33,), "bass", "electric bass (finger)", "report", parts=(4,), transpose=-12),
    _case("mozart/k156/movement2", 72, (34,), "bass", "electric bass (pick)", "report", parts=(3,),
          transpose=-12),
)
# fmt: on
GROUPS = ("piano", "quartet", "guitar", "woodwind", "brass", "string line", "bass")


@dataclass(frozen=True)
class Prepared:
    """A case rendered and run through basic-pitch once: what note tracking starts from."""

    case: Case
    reference: tuple[Note, ...]
    posteriors: dict[str, np.ndarray]


def _slug(case: Case) -> str:
    p = case.piece
    return "".join(c if c.isalnum() else "_" for c in f"{p.name}_{p.transpose}")  # type: ignore[attr-defined]


def prepare(case: Case, cache: Path, seconds: float = SECONDS) -> Prepared:
    """Reference notes and posteriorgrams of a case, from ``cache`` when there."""
    file = cache / f"{_slug(case)}_{seconds:g}.npz"
    if not file.is_file():
        ex = corpus.excerpt(case.piece, seconds)
        reference = corpus.reference_notes(case.piece, ex, LEAD)
        audio = corpus.play(case.piece, ex, LEAD)
        post = get_transcriber().posteriors(audio)
        table = np.array([[n.start, n.end, n.pitch, n.velocity] for n in reference])
        np.savez_compressed(
            file, reference=table, note=post["note"], onset=post["onset"], contour=post["contour"]
        )
    data = np.load(file)
    ref = tuple(Note(float(s), float(e), int(p), int(v)) for s, e, p, v in data["reference"])
    return Prepared(case, ref, {k: data[k] for k in ("note", "onset", "contour")})


def render_case(case: Case, seconds: float = SECONDS) -> tuple[Audio, tuple[Note, ...]]:
    """The audio and reference notes of a case (no cache): for fixtures and listening."""
    ex = corpus.excerpt(case.piece, seconds)
    return corpus.play(case.piece, ex, LEAD), corpus.reference_notes(case.piece, ex, LEAD)


def score_prepared(item: Prepared, settings: TranscriptionSettings) -> dict[str, float]:
    notes, _ = notes_from_posteriors(item.posteriors, settings)
    return load_bench("eval_transcription").score(item.reference, notes)  # type: ignore[no-any-return]


def cases(split: str | None) -> tuple[Case, ...]:
    return tuple(c for c in SET if split in (None, "all", c.split))


def evaluate(items: Iterable[Prepared]) -> dict[str, object]:
    """Per excerpt, per group and overall: ours (the instrument's settings) and basic-pitch's defaults."""
    rows: list[dict[str, Any]] = []
    for item in items:
        ours = score_prepared(item, settings_for(item.case.instrument))
        default = score_prepared(item, BASIC_PITCH_DEFAULTS)
        rows.append(
            {
                "piece": item.case.piece.name,
                "group": item.case.group,  # type: ignore[attr-defined]
                "instrument": item.case.instrument,
                "split": item.case.split,
                "notes": len(item.reference),
                **{f"ours_{k}": round(v, 4) for k, v in ours.items()},
                **{f"default_{k}": round(v, 4) for k, v in default.items()},
            }
        )
    return {"excerpts": rows, "groups": _means(rows, by_group=True), "summary": _means(rows, by_group=False)}


KEYS = ("default_onset_f1", "ours_onset_f1", "default_offset_f1", "ours_offset_f1")


def _means(rows: list[dict[str, Any]], by_group: bool) -> dict[str, Any]:
    def mean(sub: list[dict[str, Any]]) -> dict[str, float]:
        out = {k: round(float(np.mean([r[k] for r in sub])), 4) for k in KEYS}
        out["min_ours_onset_f1"] = round(float(min(r["ours_onset_f1"] for r in sub)), 4)
        out["excerpts"] = len(sub)
        return out

    if not by_group:
        return mean(rows) if rows else {}
    return {
        g: mean([r for r in rows if r["group"] == g]) for g in GROUPS if any(r["group"] == g for r in rows)
    }


# What each note-tracking step adds, cumulatively, over the rows before issue 17 (basic-pitch's note creation
# with the old per-family thresholds): each step switches on more fields of today's rows.
STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "onset peaks + next-onset ends (thresholds retuned)",
        (
            "note_tracking",
            "onset_threshold",
            "frame_threshold",
            "min_note_ms",
            "min_velocity",
            "octave_ghosts",
            "monophonic",
            "onset_backtrack_ms",
            "melodia_trick",
            "pitch_bends",
        ),
    ),
    ("+ onsets from the note activation's rise", ("rise_weight",)),
    ("+ hysteresis on the decay (release_ratio)", ("release_ratio",)),
    ("+ reverb-tail compensation (release_ms)", ("release_ms",)),
    ("+ re-onsets of a held bowed pitch (reonset_threshold)", ("reonset_threshold",)),
)


def ablation(items: list[Prepared], before: dict[str, TranscriptionSettings]) -> list[dict[str, object]]:
    """Mean onset and with-offset F1 after each of ``STEPS``; ``before`` maps an instrument to its old row."""
    rows = []
    current = {i.case.instrument: before[i.case.instrument] for i in items}
    for label, fields in (("before (basic-pitch note creation, old rows)", ()), *STEPS):
        for name, old in current.items():
            new = settings_for(name)
            current[name] = dataclasses.replace(old, **{f: getattr(new, f) for f in fields})
        scores = [score_prepared(i, current[i.case.instrument]) for i in items]
        rows.append(
            {"step": label, **{k: round(float(np.mean([s[k] for s in scores])), 4) for k in scores[0]}}
        )
    return rows


def write_fixture(case: Case, seconds: float, folder: Path) -> tuple[Path, Path]:
    """A short rendering (FLAC, 16 kHz mono, 16 bit, cut 0.4 s after the last note) and its reference MIDI,
    for tests/data: small enough to commit, and basic-pitch hears nothing above 8 kHz it needs for pitch."""
    import pretty_midi
    import soundfile as sf

    audio, reference = render_case(case, seconds)
    audio = convert_audio(audio, FIXTURE_RATE, 1)
    audio = Audio(audio.samples[:, : int((max(n.end for n in reference) + 0.4) * FIXTURE_RATE)], FIXTURE_RATE)
    base = folder / _slug(case)
    flac, mid = base.with_suffix(".flac"), base.with_suffix(".mid")
    sf.write(str(flac), audio.samples[0], audio.sample_rate, subtype="PCM_16", format="FLAC")
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=case.piece.programs[0])  # type: ignore[attr-defined]
    inst.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start, n.end) for n in reference]
    midi.instruments.append(inst)
    midi.write(str(mid))
    return flac, mid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("tune", "report", "all"), default="report")
    parser.add_argument("--cache", type=Path, default=None, help="folder for renderings + posteriorgrams")
    parser.add_argument("--steps-from", metavar="GIT_REV", help="also measure STEPS over that commit's rows")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        items = [prepare(c, cache) for c in cases(args.split)]
        result = evaluate(items)
        if args.steps_from:
            old = _settings_at(args.steps_from, Path(tmp))
            result["steps"] = ablation(items, {i.case.instrument: old(i.case.instrument) for i in items})
    print(json.dumps(result, indent=2))


def _settings_at(rev: str, folder: Path) -> Any:
    """``settings_for`` of stems/transcription/settings.py as it was at git revision ``rev``."""
    import importlib.util
    import subprocess

    text = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:stems/transcription/settings.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (folder / "old_settings.py").write_text(text)
    spec = importlib.util.spec_from_file_location("old_settings", folder / "old_settings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_settings"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return lambda name: TranscriptionSettings(**dataclasses.asdict(module.settings_for(name)))


if __name__ == "__main__":
    main()
