"""The ``musicmaker`` command line. Owns printing, progress bars and exit codes (0 ok, 2 user error, 1 internal).

Heavy imports (torch, transformers, prefect) happen inside the commands, after argument parsing, so ``--help``
and ``validate`` stay fast. The commands that work on any audio file (transcribe, master, analyze, conform, rank)
are in :mod:`flows.cli.file_commands`; what all commands share is in :mod:`flows.cli.common`.
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

from flows.cli.common import EXIT_INTERNAL, EXIT_OK, EXIT_USER, add_output_flags, emit, output_example
from flows.cli.file_commands import add_file_commands
from flows.cli.pick_command import add_pick_command
from flows.cli.redo_command import add_redo_flags, redo_album, redo_asked, redo_track
from flows.pipeline import ALBUM_MANIFEST, REPORT_NAME, TRACK_MANIFEST, AlbumManifest, TrackManifest
from flows.schema import Arrangement, Note, slugify


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
    from flows.cli.settings import claim_stop_signals
    from flows.pipeline import check_render_folder, preflight, refuse_running_album

    claim_stop_signals()
    notes: list[Note] = []
    redoing = redo_asked(args)  # then --seed seeds the redo, not the track
    arrangement = _load(args.file, None if redoing else args.seed, notes)
    _print_notes(args, notes)
    folder = Path(args.output) / slugify(arrangement.title)
    plan = preflight.check(arrangement, args.only, weights=not args.dry_run, folder=folder)
    if redoing:
        return redo_track(args, arrangement, folder, lambda: _render(args, arrangement, keep_stages=True))
    if args.dry_run:
        emit(args, plan, preflight.describe(plan))
        return EXIT_OK
    from stems.audio import ensure_folder

    ensure_folder(args.output)
    refuse_running_album(args.output)  # the refusals that need no Prefect, before Prefect starts
    check_render_folder(folder, args.force)
    root = _render(args, arrangement)
    written = TrackManifest.from_json(json.loads((Path(root) / TRACK_MANIFEST).read_text())).files
    files = "\n".join(f"  {f.path}" for f in written)
    emit(
        args,
        {"folder": root, "files": [asdict(f) for f in written], "report": str(Path(root) / REPORT_NAME)},
        f"Rendered '{arrangement.title}' into {root}/\n{files}\nOpen {Path(root) / REPORT_NAME} to listen and look.",
    )
    return EXIT_OK


def _render(args: argparse.Namespace, arrangement: Arrangement, keep_stages: bool = False) -> str:
    """The track render through Prefect, with progress bars and Ctrl-C handling; returns its folder."""
    from flows.cli.settings import apply_prefect_defaults

    apply_prefect_defaults()
    from flows.cli.console import render_progress
    from flows.orchestration import render_arrangement
    from flows.orchestration.lifecycle import stoppable

    with stoppable(), render_progress(quiet=args.quiet or args.json):
        return str(
            render_arrangement(
                arrangement,
                out_dir=str(args.output),
                force=args.force,
                only=args.only,
                keep_stages=keep_stages,
            )
        )


def _cmd_album_render(args: argparse.Namespace) -> int:
    from flows.cli.settings import claim_stop_signals
    from flows.schema import read_album, track_slug

    claim_stop_signals()
    loaded = read_album(Path(args.album))
    album, tracks = loaded.album, loaded.tracks
    _print_notes(args, loaded.notes)
    from flows.pipeline import check_render_folder, preflight

    plans = [preflight.check(track, weights=not args.dry_run) for track in tracks]
    folder = Path(args.output) / slugify(album.title)
    if args.only or args.seed is not None or redo_asked(args):
        return redo_album(args, album, tracks, folder, lambda: _render_album(args, args.force))
    if args.dry_run:
        emit(args, {"album": album.title, "tracks": plans}, "\n\n".join(preflight.describe(p) for p in plans))
        return EXIT_OK
    from stems.audio import ensure_folder

    ensure_folder(args.output)
    # The refusals that need no Prefect, before Prefect starts.
    check_render_folder(folder, args.force, ALBUM_MANIFEST)
    for i, track in enumerate(tracks):
        check_render_folder(folder / track_slug(album, i, track), args.force, manifest=None)
    root = _render_album(args, args.force)
    manifest = json.loads((Path(root) / ALBUM_MANIFEST).read_text())
    listed = AlbumManifest.from_json(manifest).tracks
    listing = "\n".join(f"  {t.number or 0:2d}. {t.title} ({t.folder}/)" for t in listed)
    report = Path(root) / REPORT_NAME
    emit(
        args,
        {"folder": root, "report": str(report), **manifest},
        f"Rendered album '{album.title}' into {root}/\n{listing}\nOpen {report} to listen and look.",
    )
    return EXIT_OK


def _render_album(args: argparse.Namespace, force: bool) -> str:
    from flows.cli.settings import apply_prefect_defaults

    apply_prefect_defaults()
    from flows.cli.console import render_progress
    from flows.orchestration import render_album
    from flows.orchestration.lifecycle import stoppable

    with stoppable(), render_progress(quiet=args.quiet or args.json):
        return str(render_album(str(Path(args.album)), out_dir=str(args.output), force=force))


def _cmd_album_schedule(args: argparse.Namespace) -> int:
    from flows.cli.settings import apply_prefect_defaults

    apply_prefect_defaults()
    from flows.orchestration import schedule

    plan = schedule.make_schedule(Path(args.album), args.cron, args.timezone, args.output, args.name)
    schedule.check_server(args.pool)  # a server that keeps running, and the pool: before anything is made
    if args.pool:
        names = schedule.deploy_to_pool(plan, args.pool)
        emit(
            args,
            {"deployments": names, "pool": args.pool, "cron": plan.cron, "timezone": plan.timezone},
            f"Deployed {', '.join(names)} to work pool '{args.pool}' ({plan.cron}, {plan.timezone}).\n"
            f"Start a worker per GPU: CUDA_VISIBLE_DEVICES=0 prefect worker start --pool {args.pool}",
        )
        return EXIT_OK
    schedule.serve_here(plan)  # blocks until interrupted
    return EXIT_OK


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
    emit(args, {"report": str(path)}, f"Wrote {path}")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from flows.pipeline import export_folder
    from mixing.sessions import SESSION_FORMATS

    formats = list(SESSION_FORMATS) if args.format == "all" else [args.format]
    written = export_folder(Path(args.folder), formats)
    files = "\n".join(f"  {Path(args.folder) / f}" for f in written["files"])
    emit(args, written, f"Wrote\n{files}")
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

        check_output_file(args.output, output_example(args.output, Path(f"{args.kind}.schema.json")))
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
        "  musicmaker render song.yaml --dry-run\n  musicmaker render song.yaml --only bass --force\n"
        "  musicmaker render song.yaml --force --only bass --section chorus:2 --seed 7   # that chorus only",
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
    add_redo_flags(p)
    add_output_flags(p)
    p.set_defaults(func=_cmd_render)

    album = sub.add_parser("album", help="render or schedule albums").add_subparsers(
        dest="album_command", required=True, metavar="COMMAND"
    )
    p = album.add_parser(
        "render",
        help="render every track of an album and the album files",
        formatter_class=fmt,
        epilog="examples:\n  musicmaker album render arrangements/album.yaml -o renders\n"
        "  musicmaker album render album.yaml --force   # after an edit: redoes only what changed\n"
        "  musicmaker album render album.yaml --force --only 2:bass --section chorus   # one section of one stem",
    )
    p.add_argument("album", metavar="ALBUM.yaml")
    p.add_argument("-o", "--output", default="renders", type=Path, help="output folder (default: renders)")
    p.add_argument(
        "--force", action="store_true", help="render again over a finished album (reuses unchanged stages)"
    )
    p.add_argument("--dry-run", action="store_true", help="print each track's plan without loading any model")
    p.add_argument(
        "--only",
        nargs="+",
        metavar="TRACK:STEM",
        help="with --section/--bars: the stems to redo, by track number or folder",
    )
    p.add_argument("--seed", type=_seed, help="with --section/--bars: the redo's seed")
    add_redo_flags(p, preview=False)
    add_output_flags(p)
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
    add_output_flags(p)
    p.set_defaults(func=_cmd_album_schedule)

    add_file_commands(sub)
    add_pick_command(sub)

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
    add_output_flags(p)
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
    add_output_flags(p)
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
