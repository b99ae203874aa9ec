"""The ``musicmaker`` command line. Owns printing, progress bars and exit codes (0 ok, 2 user error, 1 internal).

Heavy imports (torch, transformers, prefect) happen inside the commands, after argument parsing, so ``--help``
and ``validate`` stay fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flows.pipeline import ALBUM_MANIFEST, REPORT_NAME, TRACK_MANIFEST, AlbumManifest, TrackManifest
from flows.schema import Arrangement, Note, slugify
from mixing.targets import DEFAULT_LUFS, DEFAULT_TRUE_PEAK

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2


def _load(file: str, seed: int | None = None, notes: list[Note] | None = None) -> Arrangement:
    """The arrangement in ``file``; its notes are added to ``notes`` when given."""
    from flows.schema import read_arrangement

    loaded = read_arrangement(Path(file))
    arrangement = loaded.arrangement
    if seed is not None:
        arrangement = arrangement.model_copy(update={"seed": seed})
    if notes is not None:
        notes.extend(loaded.notes)
    return arrangement


def _print_notes(args: argparse.Namespace, notes: Sequence[Note]) -> None:
    """Notes go to stderr as FILE:LINE:COL: note: lines, as compilers print warnings; --quiet leaves them out."""
    if not args.quiet:
        for note in notes:
            print(note, file=sys.stderr)


def _emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    elif not args.quiet:
        print(text)


def _validate_file(file: str, notes: list[Note]) -> str:
    """Run the checks ``render`` runs on an arrangement, or on an album (a mapping with ``tracks:``) and each of
    its tracks; returns what to add to "ok", and adds the notes on them to ``notes``."""
    from flows.schema import is_album_file, read_album

    if is_album_file(Path(file)):
        loaded = read_album(Path(file))
        tracks = loaded.tracks
        found = f" (album of {len(tracks)} track{'s' if len(tracks) > 1 else ''})"
        notes.extend(loaded.notes)
    else:
        tracks = [_load(file, notes=notes)]
        found = ""
    return found + "".join(f"\n  model {line}" for line in _local_models(tracks))


def _local_models(tracks: list[Any]) -> list[str]:
    """What the local checkpoint folders that ``tracks`` use hold (read from their config.json)."""
    from stems.musicgen.models import describe_model, is_local_checkpoint
    from stems.score import SKETCH_MODEL

    names = dict.fromkeys(t.stem_model(s) for t in tracks for s in t.stems)
    return [describe_model(n) for n in names if n != SKETCH_MODEL and is_local_checkpoint(n)]


def _cmd_validate(args: argparse.Namespace) -> int:
    from flows.schema import SchemaError

    status = EXIT_OK
    for file in args.files:
        notes: list[Note] = []
        try:
            found = _validate_file(file, notes)
        except SchemaError as err:
            for problem in err.problems:
                print(problem, file=sys.stderr)
            status = EXIT_USER
        else:
            if not args.quiet:
                print(f"{file}: ok{found}")
            _print_notes(args, notes)
    return status


def _cmd_render(args: argparse.Namespace) -> int:
    from flows.cli.settings import apply_prefect_defaults, claim_stop_signals
    from flows.pipeline import check_render_folder, preflight, refuse_running_album

    claim_stop_signals()
    notes: list[Note] = []
    arrangement = _load(args.file, args.seed, notes)
    _print_notes(args, notes)
    folder = Path(args.output) / slugify(arrangement.title)
    plan = preflight.check(arrangement, args.only, weights=not args.dry_run, folder=folder)
    if args.dry_run:
        _emit(args, plan, preflight.describe(plan))
        return EXIT_OK
    from stems.audio import ensure_folder

    ensure_folder(args.output)
    refuse_running_album(args.output)  # the refusals that need no Prefect, before Prefect starts
    check_render_folder(folder, args.force)
    apply_prefect_defaults()
    from flows.cli.console import render_progress
    from flows.orchestration import render_arrangement
    from flows.orchestration.lifecycle import stoppable

    with stoppable(), render_progress(quiet=args.quiet or args.json):
        root = render_arrangement(arrangement, out_dir=str(args.output), force=args.force, only=args.only)
    written = TrackManifest.from_json(json.loads((Path(root) / TRACK_MANIFEST).read_text())).files
    files = "\n".join(f"  {f.path}" for f in written)
    _emit(
        args,
        {"folder": root, "files": [asdict(f) for f in written], "report": str(Path(root) / REPORT_NAME)},
        f"Rendered '{arrangement.title}' into {root}/\n{files}\nOpen {Path(root) / REPORT_NAME} to listen and look.",
    )
    return EXIT_OK


def _cmd_album_render(args: argparse.Namespace) -> int:
    from flows.cli.settings import apply_prefect_defaults, claim_stop_signals
    from flows.schema import read_album, track_slug

    claim_stop_signals()
    loaded = read_album(Path(args.album))
    album, tracks = loaded.album, loaded.tracks
    _print_notes(args, loaded.notes)
    from flows.pipeline import check_render_folder, preflight

    plans = [preflight.check(track, weights=not args.dry_run) for track in tracks]
    if args.dry_run:
        _emit(
            args, {"album": album.title, "tracks": plans}, "\n\n".join(preflight.describe(p) for p in plans)
        )
        return EXIT_OK
    from stems.audio import ensure_folder

    ensure_folder(args.output)
    # The refusals that need no Prefect, before Prefect starts.
    folder = Path(args.output) / slugify(album.title)
    check_render_folder(folder, args.force, ALBUM_MANIFEST)
    for i, track in enumerate(tracks):
        check_render_folder(folder / track_slug(album, i, track), args.force, manifest=None)
    apply_prefect_defaults()
    from flows.cli.console import render_progress
    from flows.orchestration import render_album
    from flows.orchestration.lifecycle import stoppable

    with stoppable(), render_progress(quiet=args.quiet or args.json):
        root = render_album(str(Path(args.album)), out_dir=str(args.output), force=args.force)
    manifest = json.loads((Path(root) / ALBUM_MANIFEST).read_text())
    listed = AlbumManifest.from_json(manifest).tracks
    listing = "\n".join(f"  {t.number or 0:2d}. {t.title} ({t.folder}/)" for t in listed)
    report = Path(root) / REPORT_NAME
    _emit(
        args,
        {"folder": root, "report": str(report), **manifest},
        f"Rendered album '{album.title}' into {root}/\n{listing}\nOpen {report} to listen and look.",
    )
    return EXIT_OK


def _cmd_album_schedule(args: argparse.Namespace) -> int:
    from flows.cli.settings import apply_prefect_defaults

    apply_prefect_defaults()
    from flows.orchestration import schedule

    plan = schedule.make_schedule(Path(args.album), args.cron, args.timezone, args.output, args.name)
    schedule.check_server(args.pool)  # a server that keeps running, and the pool: before anything is made
    if args.pool:
        names = schedule.deploy_to_pool(plan, args.pool)
        _emit(
            args,
            {"deployments": names, "pool": args.pool, "cron": plan.cron, "timezone": plan.timezone},
            f"Deployed {', '.join(names)} to work pool '{args.pool}' ({plan.cron}, {plan.timezone}).\n"
            f"Start a worker per GPU: CUDA_VISIBLE_DEVICES=0 prefect worker start --pool {args.pool}",
        )
        return EXIT_OK
    schedule.serve_here(plan)  # blocks until interrupted
    return EXIT_OK


def _cmd_transcribe(args: argparse.Namespace) -> int:
    from stems.audio import check_output_file
    from stems.transcription.transcriber import transcribe_file

    default = Path(args.audio).with_suffix(".mid")
    out = Path(args.output) if args.output else default
    check_output_file(out, _example(out, default))
    track = transcribe_file(Path(args.audio), args.instrument, out)
    result = {"midi": str(out), "notes": len(track.notes), "warnings": list(track.warnings)}
    _emit(args, result, f"Wrote {out} ({len(track.notes)} notes)")
    for warning in track.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _example(out: Path, default: Path) -> Path:
    """The file to suggest when ``out`` cannot be written: the command's own file name, inside ``out`` when
    that is a folder (``-o stems/`` -> ``-o stems/bass.mid``)."""
    return out / default.name if out.is_dir() else Path(default.name)


def _cmd_master(args: argparse.Namespace) -> int:
    from mixing.master import master_file
    from stems.audio import check_output_file

    out = (
        Path(args.output)
        if args.output
        else Path(args.audio).with_name(Path(args.audio).stem + ".master.wav")
    )
    check_output_file(out, _example(out, Path(args.audio).with_name(Path(args.audio).stem + ".master.wav")))
    result = master_file(Path(args.audio), out, lufs=args.lufs, true_peak=args.true_peak)
    report = result.report.to_dict()
    _emit(
        args,
        {"output": str(out), **report},
        f"Wrote {out}: " + ", ".join(f"{k} {v}" for k, v in report.items()),
    )
    return EXIT_OK


def _analysis_text(a: Any) -> str:
    tempo = "no steady beat" if a.tempo_bpm is None else f"{a.tempo_bpm:.2f} bpm"
    downbeat = "none" if a.downbeat is None else f"{a.downbeat:.3f} s"
    lines = [
        f"tempo     {tempo} (confidence {a.tempo_confidence:.2f}), {len(a.beats)} beats",
        f"downbeat  {downbeat} (confidence {a.downbeat_confidence:.2f})",
        f"key       {a.key or 'unknown'} (confidence {a.key_confidence:.2f})",
        f"tuning    {a.tuning_cents:+.1f} cents from A440 (confidence {a.tuning_confidence:.2f})",
    ]
    return "\n".join(lines + [f"note      {w}" for w in a.warnings])


def _cmd_analyze(args: argparse.Namespace) -> int:
    from stems.conform.files import analyze_file, chords_file

    analysis = analyze_file(
        Path(args.audio), bpm_hint=args.bpm, beats_per_bar=args.time_signature, instrument=args.instrument
    )
    result, text = {"audio": args.audio, **analysis.to_dict()}, _analysis_text(analysis)
    if args.chords:
        chords = chords_file(Path(args.audio), analysis.beats, analysis.tuning_cents)
        result["chords"] = [{"time": c.time, "end": c.end, "chord": c.label} for c in chords]
        text += "\n" + _chords_text(chords, args.time_signature)
    _emit(args, result, text)
    return EXIT_OK


def _chords_text(chords: Sequence[Any], beats_per_bar: int) -> str:
    """One line per bar of the recognised beats: its start and each beat's chord (``-``: the beat before's)."""
    if not chords:
        return "chords    none (no beats found)"
    lines, last = [], None
    for bar in range(0, len(chords), beats_per_bar):
        cells: list[str] = []
        for chord in chords[bar : bar + beats_per_bar]:
            cells.append("-" if chord.label == last and cells else chord.label)
            last = chord.label
        lines.append(f"chords    {chords[bar].time:7.2f} s  " + " ".join(f"{c:6}" for c in cells).rstrip())
    return "\n".join(lines)


def _cmd_conform(args: argparse.Namespace) -> int:
    from mixing.export import export_file, format_for_path
    from stems.audio import check_output_file
    from stems.conform.files import OUTPUT_BIT_DEPTH, conform_file, conform_file_to_score
    from stems.errors import AudioInputError, UserInputError

    audio = Path(args.audio)
    default = audio.with_name(audio.stem + ".conformed.wav")
    out = Path(args.output) if args.output else default
    if args.score is None and args.bpm is None:
        raise UserInputError(
            "conform needs --bpm N (the grid's tempo), or --score FILE.mid to take the score's"
        )
    if args.score is not None and args.keep_lead_in:
        raise UserInputError(
            "--keep-lead-in is for conforming by beats; with --score each note goes to its grid time"
        )
    check_output_file(out, _example(out, default))
    fmt = format_for_path(out)  # .wav, .flac or .mp3 as the suffix says; anything else refused before work
    common = {
        "key": args.key,
        "instrument": args.instrument,
        "export": lambda src, dst: export_file(src, dst, fmt, OUTPUT_BIT_DEPTH[fmt]),
    }
    if args.score is not None:
        result = conform_file_to_score(
            audio, out, Path(args.score), bpm=args.bpm, beats_per_bar=args.time_signature, **common
        )
    else:
        result = conform_file(
            audio,
            out,
            bpm=args.bpm,
            beats_per_bar=args.time_signature or DEFAULT_BEATS_PER_BAR,
            keep_lead_in=args.keep_lead_in,
            **common,
        )
    if not result.applied:
        raise AudioInputError(f"{audio}: not conformed, {result.reason}; nothing written")
    _emit(args, {"output": str(out), **result.to_dict()}, f"Wrote {out}: {result.reason}")
    return EXIT_OK


DEFAULT_BEATS_PER_BAR = 4  # conform's grid without --time-signature (or the score's meter with --score)


def _add_instrument_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--instrument",
        help="what the audio plays (a family such as strings or drums, or a General MIDI "
        "name): bowed strings' onsets are timed later, drums are never retuned (default: a mix)",
    )


def _bpm(text: str) -> float:
    """``--bpm`` takes what the arrangement's ``bpm:`` takes."""
    from flows.schema import BPM_RANGE

    bpm = float(text)
    if not BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
        raise argparse.ArgumentTypeError(
            f"{text} is out of range; give a tempo from {BPM_RANGE[0]:g} to {BPM_RANGE[1]:g} bpm"
        )
    return bpm


def _beats_per_bar(text: str) -> int:
    """``4/4`` -> 4: the numerator counts the beats ``--bpm`` counts, as the arrangement's time_signature."""
    from flows.schema import parse_time_signature

    try:
        return parse_time_signature(text)[0]
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _cmd_rank(args: argparse.Namespace) -> int:
    from stems.audio import read_audio
    from stems.streaming import checked_info
    from stems.takes import measure, rank

    files = list(args.audio)
    durations = [checked_info(Path(f)).duration for f in files]  # every file's header before any work
    target = _rank_target(args, max(durations))
    taken = [measure(read_audio(f), target) for f in files]  # one file in memory at a time
    order = rank(taken)
    if args.json:
        rows = [
            {"file": files[i], "scores": taken[i].to_json(), "total": round(taken[i].total, 4)} for i in order
        ]
        print(json.dumps(rows, indent=2))
    elif not args.quiet:
        print(_rank_text(files, taken, order))
    return EXIT_OK


def _rank_target(args: argparse.Namespace, duration: float) -> Any:
    """The ``stems.takes.Target`` the flags describe: --chords laid out over ``duration`` (the longest file's)
    from 0 s, or --score's notes at --bpm (default: the score's tempo, as ``conform --score``)."""
    from stems.conform import parse_key
    from stems.errors import UserInputError
    from stems.instruments import resolve_instrument
    from stems.score import ChordChartError, lay_out, read_midi_score
    from stems.takes import Target
    from stems.transcription.midi import TempoMap

    if args.chords is not None and args.score is not None:
        raise UserInputError(
            "--chords and --score both say what the takes should play; give one: --chords to judge each beat's "
            "chord against the chart, or --score FILE.mid to judge it against the score's notes"
        )
    if args.key is not None:
        parse_key(args.key)  # a typo in --key is the user's to fix before any work
    family = None if args.instrument is None else resolve_instrument(args.instrument).family
    if args.score is not None:
        written = read_midi_score(Path(args.score))
        bpm = args.bpm or written.bpm
        meter = args.time_signature or written.beats_per_bar
        return Target(bpm, meter, args.key, part=written.notes(bpm), family=family)
    if args.bpm is None:
        raise UserInputError("rank needs --bpm N (the takes' tempo), or --score FILE.mid to take the score's")
    meter = args.time_signature or DEFAULT_BEATS_PER_BAR
    chords = None
    if args.chords is not None:
        try:
            score = lay_out(TempoMap(args.bpm, meter), duration, [], default_chords=args.chords)
        except ChordChartError as err:
            raise UserInputError(f"--chords {args.chords!r}: {err}") from None
        if not args.quiet:
            for note in score.notes:
                print(f"note: --chords: {note}", file=sys.stderr)
        chords = score.chords
    return Target(args.bpm, meter, args.key, chords, family=family)


def _rank_text(files: Sequence[str], taken: Sequence[Any], order: Sequence[int]) -> str:
    """A row per file, best first: its place, total and name, then each term measured on some file, in
    ``WEIGHTS`` order, under a header that gives its weight (``-``: not measured on that file)."""
    from stems.takes import WEIGHTS

    names = [n for n in WEIGHTS if any(t.terms[n].value is not None for t in taken)]
    heads = [f"{n} x{WEIGHTS[n]:g}" for n in names]
    width = max(len("file"), *map(len, files))
    lines = ["rank  total  " + "file".ljust(width) + "  " + "  ".join(heads)]
    for place, i in enumerate(order, start=1):
        values = [taken[i].terms[n].value for n in names]
        cells = ["-" if v is None else f"{v:.3f}" for v in values]
        row = "  ".join(c.rjust(len(h)) for c, h in zip(cells, heads))
        lines.append(f"{place:4d}  {taken[i].total:.3f}  {files[i].ljust(width)}  {row}")
    lines.append("total: the weighted mean of the terms measured (x: the weight), 0 to 1, higher is better")
    return "\n".join(lines)


def _cmd_models(args: argparse.Namespace) -> int:
    from stems.musicgen.models import known_models, model_license, weights_cached
    from stems.score import SKETCH_LICENSE, SKETCH_MODEL

    rows = [
        {
            **m.__dict__,
            "vram_gb": m.vram_gb,
            "cached": weights_cached(m.name),
            "license": model_license(m.name).name,
        }
        for m in known_models()
    ]
    sketch = {"name": SKETCH_MODEL, "license": SKETCH_LICENSE.name, "what": SKETCH_LICENSE.source}
    if args.json:
        print(json.dumps(rows + [sketch], indent=2))
        return EXIT_OK
    print(f"{'name':40} {'params':>8} {'ch':>3} {'VRAM GiB':>8}  {'cached':6}  licence")
    for r in rows:
        cached = "yes" if r["cached"] else "no"
        print(
            f"{r['name']:40} {r['params_m']:>7g}M {r['channels']:>3} {r['vram_gb']:>8g}  {cached:6}  {r['license']}"
        )
    print(f"{SKETCH_MODEL:40} no model (the stem's part): {SKETCH_LICENSE.name}, {SKETCH_LICENSE.source}")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from flows.report import write_report

    path = write_report(Path(args.folder))
    _emit(args, {"report": str(path)}, f"Wrote {path}")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from flows.pipeline import export_folder
    from mixing.sessions import SESSION_FORMATS

    formats = list(SESSION_FORMATS) if args.format == "all" else [args.format]
    written = export_folder(Path(args.folder), formats)
    files = "\n".join(f"  {Path(args.folder) / f}" for f in written["files"])
    _emit(args, written, f"Wrote\n{files}")
    for note in written["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    if args.kind == "album":
        from flows.schema.album import album_json_schema as make
    else:
        from flows.schema import arrangement_json_schema as make
    text = json.dumps(make(), indent=2) + "\n"
    if args.output:
        from stems.audio import check_output_file, write_bytes_atomic

        check_output_file(args.output, _example(args.output, Path(f"{args.kind}.schema.json")))
        write_bytes_atomic(args.output, text.encode())
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from flows.cli.bench import run_benchmarks

    generate = [
        *(["--model", args.model] if args.model else []),
        *(["--device", args.device] if args.device else []),
        *(["--record"] if args.record else []),
    ]
    report = run_benchmarks(quick=args.quick, only=args.only, generate=generate)
    print(json.dumps(report, indent=2))
    return EXIT_OK if all("error" not in r for r in report["benchmarks"].values()) else EXIT_INTERNAL


def _seed(text: str) -> int:
    """``--seed`` takes what the schema's ``seed:`` takes (argparse turns the ValueError into exit 2)."""
    from flows.schema import MAX_SEED

    seed = int(text)
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text} is out of range; use a whole number from 0 to {MAX_SEED}")
    return seed


def _add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print the result as JSON (for scripts)")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="musicmaker", description="Render YAML arrangements into songs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "validate",
        help="check arrangement and album files as render does",
        formatter_class=fmt,
        epilog="examples:\n  musicmaker validate arrangements/demo.yaml\n"
        "  musicmaker validate arrangements/album.yaml   # the album and each of its tracks",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--quiet", action="store_true", help="print only problems")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "render",
        help="render one arrangement",
        formatter_class=fmt,
        epilog="examples:\n  musicmaker render arrangements/demo.yaml -o renders\n"
        "  musicmaker render song.yaml --dry-run\n  musicmaker render song.yaml --only bass --force",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", default="renders", type=Path, help="output folder (default: renders)")
    p.add_argument("--seed", type=_seed, help="override the arrangement's seed (0 to 2^32-1)")
    p.add_argument("--dry-run", action="store_true", help="print the plan without loading any model")
    p.add_argument(
        "--only",
        nargs="+",
        metavar="STEM",
        help="redo these stems, the stems that follow them and the mix; other stems of an earlier render in the "
        "folder are kept (a fresh folder gets these stems and those they follow)",
    )
    p.add_argument("--force", action="store_true", help="overwrite a finished render in the output folder")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_render)

    album = sub.add_parser("album", help="render or schedule albums").add_subparsers(
        dest="album_command", required=True, metavar="COMMAND"
    )
    p = album.add_parser(
        "render",
        help="render every track of an album and the album files",
        formatter_class=fmt,
        epilog="examples:\n  musicmaker album render arrangements/album.yaml -o renders\n"
        "  musicmaker album render album.yaml --force   # after an edit: redoes only what changed",
    )
    p.add_argument("album", metavar="ALBUM.yaml")
    p.add_argument("-o", "--output", default="renders", type=Path, help="output folder (default: renders)")
    p.add_argument(
        "--force", action="store_true", help="render again over a finished album (reuses unchanged stages)"
    )
    p.add_argument("--dry-run", action="store_true", help="print each track's plan without loading any model")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_album_render)
    p = album.add_parser(
        "schedule",
        help="render an album on a cron schedule (Prefect deployment)",
        formatter_class=fmt,
        epilog="examples:\n"
        '  musicmaker album schedule album.yaml --cron "0 3 * * *"            # serve here\n'
        '  musicmaker album schedule album.yaml --cron "0 3 * * *" --pool gpus  # on a work pool',
    )
    p.add_argument("album", metavar="ALBUM.yaml")
    p.add_argument("--cron", required=True, help='cron expression, e.g. "0 3 * * *"')
    p.add_argument("--timezone", default="UTC", help="IANA time zone of the cron (default UTC)")
    p.add_argument("--pool", help="deploy to this Prefect work pool instead of serving from this process")
    p.add_argument("--name", help="deployment name (default: the album's slug)")
    p.add_argument(
        "-o", "--output", default="renders", type=Path, help="output folder (shared storage on a pool)"
    )
    _add_output_flags(p)
    p.set_defaults(func=_cmd_album_schedule)

    p = sub.add_parser(
        "transcribe",
        help="transcribe any audio file to MIDI",
        formatter_class=fmt,
        epilog="example:\n  musicmaker transcribe bass.wav --instrument bass -o bass.mid",
    )
    p.add_argument("audio", metavar="AUDIO")
    p.add_argument(
        "--instrument",
        required=True,
        help="a family (drums, bass, piano, keys, ...), a General MIDI instrument name (clarinet, "
        "'acoustic grand piano') or a GM program number 1-128 as the GM tables number them "
        "(72: clarinet); the family picks the transcription settings, the name the MIDI program",
    )
    p.add_argument("-o", "--output", help="output .mid (default: next to AUDIO)")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_transcribe)

    p = sub.add_parser(
        "master",
        help="master any audio file to a loudness target",
        formatter_class=fmt,
        epilog="example:\n  musicmaker master mix.wav -o master.wav --lufs -14 --true-peak -1",
    )
    p.add_argument("audio", metavar="AUDIO")
    p.add_argument("-o", "--output", help="output WAV (default: AUDIO.master.wav)")
    p.add_argument(
        "--lufs",
        type=float,
        default=DEFAULT_LUFS,
        help=f"integrated loudness target (default {DEFAULT_LUFS:g})",
    )
    p.add_argument(
        "--true-peak",
        type=float,
        default=DEFAULT_TRUE_PEAK,
        help=f"true-peak ceiling in dBTP (default {DEFAULT_TRUE_PEAK:g})",
    )
    _add_output_flags(p)
    p.set_defaults(func=_cmd_master)

    p = sub.add_parser(
        "analyze",
        help="tempo, beats, downbeat, key and tuning of any audio file (and its chords)",
        formatter_class=fmt,
        epilog="examples:\n  musicmaker analyze bass.wav\n"
        "  musicmaker analyze mix.wav --bpm 120 --json   # beats at the level nearest 120\n"
        "  musicmaker analyze mix.wav --bpm 120 --chords # a major or minor triad per beat (N: none)",
    )
    p.add_argument("audio", metavar="AUDIO")
    p.add_argument(
        "--bpm", type=_bpm, help="expected tempo: beats are reported at the metrical level nearest it"
    )
    p.add_argument(
        "--time-signature",
        type=_beats_per_bar,
        default=4,
        metavar="N/D",
        help="its numerator is the beats per bar the downbeat is found with (default 4/4)",
    )
    p.add_argument(
        "--chords",
        action="store_true",
        help="recognise a major or minor triad on every beat (chroma of an approximate note transcription "
        "against chord templates, smoothed; README: measured on Bach chorales)",
    )
    _add_instrument_flag(p)
    _add_output_flags(p)
    p.set_defaults(func=_cmd_analyze)

    p = sub.add_parser(
        "conform",
        help="warp any audio file onto a tempo grid (and retune it to a key)",
        formatter_class=fmt,
        epilog="Each beat goes to its grid beat (a time map, Rubber Band R3), so "
        "drift and phase are corrected too.\nThe output keeps the input's sample rate and channels; "
        "its bar lines fall at k x bar from 0 s, as in a DAW:\nthe first downbeat goes to the first bar "
        "line that leaves room for the beats played before it\n(a pickup); a lead-in shorter than a beat is "
        "cut. With --keep-lead-in bar 1 comes right after\nthe input's lead-in instead. The reason says "
        "where the first downbeat went.\nWithout --key only the tempo changes; with --key the audio is also "
        "retuned to A440 and\nmoved by the fewest semitones to that key's notes (even when the tempo is left "
        "as is).\n"
        "Audio without a steady beat, silent or shorter than two bars is not conformed (exit 2).\n"
        "With --score the audio is aligned to the notes of a MIDI file instead (no steady beat needed: strings,\n"
        "pads) and each note goes where the score's grid puts it, at --bpm or the score's own tempo; a passage\n"
        "that does not match the score follows the local tempo, and the reason says which.\n"
        "examples:\n  musicmaker conform guitar.wav --bpm 120 -o guitar.120.wav\n"
        '  musicmaker conform keys.wav --bpm 96 --time-signature 3/4 --key "A minor"\n'
        "  musicmaker conform strings.wav --score strings.mid -o strings.on-grid.wav",
    )
    p.add_argument("audio", metavar="AUDIO")
    p.add_argument(
        "--bpm",
        type=_bpm,
        help="target tempo in beats per minute (required without --score; with it: the score's)",
    )
    p.add_argument(
        "--score",
        metavar="FILE.mid",
        help="align the audio to this MIDI score's notes and put each where the score's grid puts it",
    )
    p.add_argument(
        "--time-signature",
        type=_beats_per_bar,
        default=None,
        metavar="N/D",
        help="beats per bar of the grid (default 4/4, or the score's with --score)",
    )
    p.add_argument("--key", help='retune toward this key, e.g. "A minor" (default: no retuning)')
    p.add_argument(
        "--keep-lead-in",
        action="store_true",
        help="put bar 1 right after the input's lead-in, not on a bar line from 0 s (default: a grid from 0 s)",
    )
    p.add_argument(
        "-o", "--output", help="output .wav (float), .flac (24-bit) or .mp3 (default: AUDIO.conformed.wav)"
    )
    _add_instrument_flag(p)
    _add_output_flags(p)
    p.set_defaults(func=_cmd_conform)

    p = sub.add_parser(
        "rank",
        help="score takes of a part (any audio files) on the same measures and rank them, best first",
        formatter_class=fmt,
        epilog="Each file is measured as a render measures its takes (stems.takes): the beat's stability and "
        "the tempo\nbefore any conform, harmony against --chords (or the --score's notes), the key against "
        "--key,\ntuning, clipping, silence and dropouts; each term 0 to 1 with its weight, the total their "
        "weighted\nmean. Terms without what they need (harmony without --chords or --score, the key without "
        "--key)\nare left out. --json prints a list of {file, scores, total}, best first.\n"
        'examples:\n  musicmaker rank take1.wav take2.wav take3.wav --bpm 96 --chords "Am | F | C | G"\n'
        '  musicmaker rank bass*.wav --bpm 120 --time-signature 3/4 --key "E minor" --json\n'
        "  musicmaker rank strings*.wav --score strings.mid --instrument strings",
    )
    p.add_argument("audio", metavar="AUDIO", nargs="+", help="the takes: audio files (WAV, FLAC, OGG, ...)")
    p.add_argument(
        "--bpm",
        type=_bpm,
        help="the tempo the takes should keep (required without --score; with it: the score's)",
    )
    p.add_argument(
        "--time-signature",
        type=_beats_per_bar,
        default=None,
        metavar="N/D",
        help="beats per bar of the grid (default 4/4, or the score's with --score)",
    )
    p.add_argument("--key", help='the key they should be in, e.g. "A minor" (default: the key is not scored)')
    p.add_argument(
        "--chords",
        metavar="CHART",
        help='the chord chart they should play from 0 s, bars between |, e.g. "Am | F | C | G" (repeated '
        "to the longest file's end)",
    )
    p.add_argument(
        "--score",
        metavar="FILE.mid",
        help="judge each beat against this MIDI score's notes instead of a chart (placed from 0 s)",
    )
    _add_instrument_flag(p)
    _add_output_flags(p)
    p.set_defaults(func=_cmd_rank)

    p = sub.add_parser(
        "models", help="list known models", epilog="example:\n  musicmaker models --json", formatter_class=fmt
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser(
        "report",
        help="(re)write report.html of a track or album render",
        formatter_class=fmt,
        epilog="example:\n  musicmaker report renders/demo-groove",
    )
    p.add_argument("folder", metavar="DIR")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "export",
        help="write DAW sessions (DAWproject, REAPER) of a track or album render",
        formatter_class=fmt,
        epilog="Writes DIR/session/<slug>.dawproject (Bitwig Studio, Studio One, "
        "Cubase: the audio inside)\nand DIR/session/<slug>.rpp (REAPER: the render's files by "
        "relative path).\nA part whose file is missing is left out, and a note says so.\n"
        "examples:\n  musicmaker export renders/demo-groove\n"
        "  musicmaker export renders/demo-album --format reaper",
    )
    p.add_argument("folder", metavar="DIR")
    p.add_argument(
        "--format",
        choices=["dawproject", "reaper", "all"],
        default="all",
        help="which session to write (default: all)",
    )
    _add_output_flags(p)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of the arrangement format",
        formatter_class=fmt,
        epilog="examples:\n  musicmaker schema -o arrangements/arrangement.schema.json\n"
        "  musicmaker schema album -o arrangements/album.schema.json",
    )
    p.add_argument(
        "kind",
        nargs="?",
        choices=["arrangement", "album"],
        default="arrangement",
        help="which format (default: arrangement)",
    )
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    p.set_defaults(func=_cmd_schema)

    p = sub.add_parser(
        "bench",
        help="run the benchmarks in bench/ and print one JSON document",
        formatter_class=fmt,
        epilog="examples:\n  musicmaker bench --quick\n"
        "  musicmaker bench --only mix\n"
        "  musicmaker bench --only generate --model "
        "random:facebook/musicgen-medium --device cuda --record",
    )
    p.add_argument("--quick", action="store_true", help="CI-sized inputs (about a minute in all)")
    p.add_argument("--only", nargs="+", choices=["generate", "postprocess", "mix"], help="run only these")
    p.add_argument("--model", help="generation benchmark: model to measure (random:NAME needs no weights)")
    p.add_argument(
        "--device", help="generation benchmark: cpu, cuda or cuda:N (default: cuda when available)"
    )
    p.add_argument(
        "--record",
        action="store_true",
        help="generation benchmark: save the speed to this machine's table, which render --dry-run "
        "uses for its time estimates",
    )
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from stems.errors import UserInputError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except UserInputError as err:
        for line in getattr(err, "problems", None) or [f"error: {err}"]:
            print(line, file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as err:  # our writers raise StorageError; this is a path met elsewhere, read or written
        from stems.audio import STORAGE_ADVICE

        if err.errno not in STORAGE_ADVICE:
            return _internal_error()
        print(
            f"error: {err.filename or 'a path you gave'}: {os.strerror(err.errno or 0)}; check the paths you "
            "gave: that they exist, their permissions and the free space where outputs go",
            file=sys.stderr,
        )
        return EXIT_USER
    except Exception:  # noqa: BLE001 - an internal failure: show everything, exit 1
        return _internal_error()


def _internal_error() -> int:
    traceback.print_exc()
    print("musicmaker: internal error (exit 1); please report it with the traceback above", file=sys.stderr)
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
