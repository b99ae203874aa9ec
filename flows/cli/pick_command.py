"""``musicmaker pick DIR STEM K``: make take K of a stem rendered with takes the stem, and redo only what
depends on it (its MIDI, the mix, the sessions, the report; the stems that follow it have none: a followed stem
has one take). Nothing is generated: every take is in the stage cache, so the render reuses them all."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from flows.cli.common import EXIT_OK, add_output_flags, emit


def _cmd_pick(args: argparse.Namespace) -> int:
    from flows.cli.settings import apply_prefect_defaults, claim_stop_signals
    from flows.pipeline import REPORT_NAME, TRACK_MANIFEST, TrackManifest, takes

    claim_stop_signals()
    folder = Path(args.folder).resolve()
    arrangement = takes.record_pick(folder, args.stem, args.take)  # the refusals, before Prefect starts
    apply_prefect_defaults()
    from flows.cli.console import render_progress
    from flows.orchestration import render_arrangement
    from flows.orchestration.lifecycle import stoppable

    with stoppable(), render_progress(quiet=args.quiet or args.json):
        root = render_arrangement(arrangement, out_dir=str(folder.parent), force=True, slug=folder.name)
    manifest = TrackManifest.from_json(json.loads((Path(root) / TRACK_MANIFEST).read_text()))
    record = manifest.stems[args.stem]
    result = {
        "folder": root,
        "stem": args.stem,
        "take": args.take,
        "takes": [t.to_json() for t in record.takes],
        "reused": manifest.reused.to_json(),
    }
    emit(
        args,
        result,
        f"Take {args.take} is now stem '{args.stem}' of {root}/ (stems/{args.stem}.wav); its MIDI, the mix, "
        f"the sessions and the report were redone.\nOpen {Path(root) / REPORT_NAME} to listen.",
    )
    return EXIT_OK


def _take(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a take is a whole number from 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a take is a whole number from 1, got {text!r}")
    return value


def add_pick_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "pick",
        help="make another take of a stem rendered with takes the stem",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  musicmaker pick renders/night-drive bass 2   # take 2 of bass: MIDI, mix, report redone\n"
        "  musicmaker pick renders/night-drive bass 2 --json",
    )
    p.add_argument("folder", metavar="DIR", help="a finished track render")
    p.add_argument("stem", metavar="STEM", help="a stem rendered with takes: K")
    p.add_argument("take", metavar="K", type=_take, help="the take to keep, 1..K (the report lists them)")
    add_output_flags(p)
    p.set_defaults(func=_cmd_pick)
