"""Section redos from the command line (issue 26): ``render FILE --force --only STEM --section NAME [--seed N]``,
``--bars A-B``, ``--reset-sections``, and ``album render --only TRACK:STEM --section NAME``.

The command checks the request (``flows.pipeline.redo.ask_redos``: the one check, for ``--dry-run`` too), records
it in the render folder (``flows.pipeline.sections``) and renders with the stage cache: the redone bars are
generated, everything after them is redone because its input changed, and everything else is reused. Should the
render fail or be stopped, the folder's recorded redos are put back as they were.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flows.cli.common import EXIT_OK, emit
from flows.pipeline import SECTIONS, TRACK_MANIFEST, TrackManifest, redo, sections
from flows.schema import Album, Arrangement
from stems.audio import write_bytes_atomic
from stems.errors import UserInputError

TRACK_MARK = ":"  # album render --only TRACK:STEM


def add_redo_flags(p: argparse.ArgumentParser, preview: bool = True) -> None:
    """The section-redo flags of ``render`` (and, without ``--preview``, of ``album render``)."""
    p.add_argument(
        "--section",
        action="append",
        default=[],
        metavar="NAME",
        help="with --only: generate this section of the stems again, keeping every other sample (NAME:N for the "
        "N-th section of that name; repeatable); --seed then seeds the redo",
    )
    p.add_argument(
        "--bars",
        action="append",
        default=[],
        metavar="A-B",
        help="with --only: generate bars A to B (from 1) again, as --section does",
    )
    if preview:
        p.add_argument(
            "--preview",
            action="store_true",
            help="with one --section: generate just that section of every stem into a scratch folder "
            "(<out>/previews/), going on from the finished render's audio where there is one; nothing else is "
            "touched",
        )
    p.add_argument(
        "--reset-sections",
        action="store_true",
        help="drop the section redos of the --only stems (of every stem without --only) and render",
    )


def redo_asked(args: argparse.Namespace) -> bool:
    return bool(args.section or args.bars or args.reset_sections or getattr(args, "preview", False))


def asked_redos(
    args: argparse.Namespace, arrangement: Arrangement, folder: Path, only: list[str] | None
) -> sections.Redos:
    """The folder's redos once this command's are in (or dropped): the one check of a redo request."""
    if args.reset_sections:
        if args.section or args.bars:
            raise UserInputError("--reset-sections drops section redos; give it without --section or --bars")
        return redo.reset_redos(arrangement, folder, only)
    return redo.ask_redos(arrangement, folder, only, args.section, args.bars, args.seed)


@contextmanager
def recorded(writes: dict[Path, sections.Redos]) -> Iterator[None]:
    """Record each folder's redos for the render inside; put every folder's back as it was if it fails."""
    files = {folder / SECTIONS: redos for folder, redos in writes.items()}
    before = {file: file.read_bytes() if file.is_file() else None for file in files}
    for folder, redos in writes.items():
        sections.write_redos(folder, redos)
    try:
        yield
    except BaseException:
        for file, old in before.items():
            if old is None:
                file.unlink(missing_ok=True)
            else:
                write_bytes_atomic(file, old)
        raise


def redo_track(
    args: argparse.Namespace, arrangement: Arrangement, folder: Path, render: Callable[[], str]
) -> int:
    """``render FILE --only STEM --section NAME``: check, record, render from the cache, say what was redone."""
    from flows.pipeline import check_render_folder, refuse_running_album, refuse_while_rendering

    if args.preview:
        return preview_track(args, arrangement, folder)
    redos = asked_redos(args, arrangement, folder, args.only)
    if args.dry_run:
        emit(args, _plan(redos), _describe(folder, redos))
        return EXIT_OK
    refuse_running_album(args.output)
    refuse_while_rendering(folder)
    check_render_folder(folder, args.force)
    with recorded({folder: redos}):
        root = render()
    return _report(args, Path(root))


def _plan(redos: sections.Redos) -> dict[str, Any]:
    return {"sections": {item: [r.to_json() for r in entries] for item, entries in redos.items()}}


def _describe(folder: Path, redos: sections.Redos) -> str:
    if not redos:
        return f"{folder}: no section redos; every stem is its base generation"
    lines = [
        f"{item}: " + ", ".join(f"{r.label} seed {r.seed}" for r in entries)
        for item, entries in redos.items()
    ]
    return f"{folder}: section redos after this render\n  " + "\n  ".join(lines)


def _report(args: argparse.Namespace, root: Path) -> int:
    data, text = _redone(root)
    emit(args, {"folder": str(root), **data}, text)
    return EXIT_OK


def _redone(root: Path) -> tuple[dict[str, Any], str]:
    """What a render folder's manifest says of its section redos: JSON and lines."""
    manifest = TrackManifest.from_json(json.loads((root / TRACK_MANIFEST).read_text()))
    generated = {name: record.generation for name, record in manifest.stems.items()}
    if manifest.band is not None:
        generated["band"] = manifest.band.generation
    redone = {name: g.sections for name, g in generated.items() if g is not None and g.sections}
    lines = [f"  {name}: " + "; ".join(_said(s) for s in done) for name, done in redone.items()]
    data = {
        "sections": {name: [s.to_json() for s in done] for name, done in redone.items()},
        "reused": manifest.reused.to_json(),
    }
    text = f"Rendered {root}/ with its section redos:\n" + ("\n".join(lines) or "  none")
    return data, text + "\nEverything before and after them was kept."


def _said(done: Any) -> str:
    bars = f"bars {done.bars[0]}-{done.bars[1]}" if done.bars else "bars"
    seams = ", ".join(f"{a:.3f}-{b:.3f}" for a, b in done.seams) or "none"
    return f"{done.section or bars} ({bars}, seed {done.seed}; seams {seams} s)"


def split_track_stem(text: str) -> tuple[str, str]:
    track, mark, stem = text.partition(TRACK_MARK)
    if not mark or not track or not stem:
        raise UserInputError(
            f"--only {text}: an album's stem is TRACK:STEM, the track by its number or folder name, e.g. 2:bass"
        )
    return track, stem


def redo_album(
    args: argparse.Namespace, album: Album, tracks: list[Arrangement], folder: Path, render: Callable[[], str]
) -> int:
    """``album render --only TRACK:STEM --section NAME``: each named track's redos recorded, the album rendered
    (every track from its stage cache), each redone track's sections said."""
    from flows.pipeline import ALBUM_MANIFEST, check_render_folder, refuse_while_rendering
    from flows.schema import track_slug

    if not redo_asked(args):
        raise UserInputError(
            "album render --only TRACK:STEM and --seed redo part of a stem: give --section NAME or --bars A-B "
            "with them, e.g. --only 2:bass --section chorus"
        )
    wanted: dict[int, list[str]] = {}
    for text in args.only or []:
        track, stem = split_track_stem(text)
        wanted.setdefault(_track_index(album, tracks, track), []).append(stem)
    if not wanted and args.reset_sections:
        wanted = {index: [] for index in range(len(tracks))}
    if not wanted:
        raise UserInputError(
            "--section and --bars on an album name the stem with --only TRACK:STEM, e.g. --only 2:bass"
        )
    writes = {
        folder / track_slug(album, i, tracks[i]): asked_redos(
            args, tracks[i], folder / track_slug(album, i, tracks[i]), stems or None
        )
        for i, stems in sorted(wanted.items())
    }
    if args.dry_run:
        emit(
            args,
            {str(f): _plan(r) for f, r in writes.items()},
            "\n".join(_describe(f, r) for f, r in writes.items()),
        )
        return EXIT_OK
    check_render_folder(folder, args.force, ALBUM_MANIFEST)
    for track_folder in writes:
        refuse_while_rendering(track_folder)
    with recorded(writes):
        root = render()
    said = {str(f): _redone(f) for f in writes}
    emit(
        args,
        {"folder": root, "tracks": {f: data for f, (data, _) in said.items()}},
        "\n".join(text for _, text in said.values()) + f"\nAlbum rendered into {root}/.",
    )
    return EXIT_OK


def _track_index(album: Album, tracks: list[Arrangement], name: str) -> int:
    """A track of the album by its number (from 1) or its folder name."""
    from flows.schema import track_slug

    slugs = [track_slug(album, i, t) for i, t in enumerate(tracks)]
    if name.isdigit() and 1 <= int(name) <= len(tracks):
        return int(name) - 1
    if name in slugs:
        return slugs.index(name)
    raise UserInputError(
        f"--only {name}:...: the album has no track {name!r}; name one by number 1-{len(tracks)} or folder: "
        + ", ".join(slugs)
    )


def preview_track(args: argparse.Namespace, arrangement: Arrangement, folder: Path) -> int:
    """``render FILE --section NAME --preview``: that section of every stem, into a scratch folder."""
    from flows.pipeline import refuse_while_rendering
    from flows.pipeline.preview import preview_folder, preview_section
    from flows.pipeline.sections import section_bars

    if len(args.section) != 1 or args.bars or args.reset_sections or args.only:
        raise UserInputError(
            "--preview renders one section of every stem: give it one --section NAME, without --only, --bars or "
            "--reset-sections"
        )
    label = section_bars(arrangement, args.section[0])[2]
    scratch = preview_folder(args.output, folder.name, label)
    if args.dry_run:
        emit(args, {"preview": str(scratch), "section": label}, f"would preview {label} into {scratch}/")
        return EXIT_OK
    if folder.is_dir():
        refuse_while_rendering(folder)
    preview = preview_section(arrangement, args.output, folder.name, args.section[0], args.seed, None)
    went_on = (
        ", ".join(preview.from_render) or "none (no finished render: the sections before it were generated)"
    )
    emit(
        args,
        {
            "folder": str(preview.folder),
            "section": preview.section,
            "start": preview.start,
            "end": preview.end,
            "from_render": list(preview.from_render),
            "stems": [str(p) for p in preview.stems],
            "mix": str(preview.mix),
            "seconds": preview.seconds,
        },
        f"Previewed {preview.section} ({preview.start:.2f}-{preview.end:.2f} s) of every stem in {preview.seconds:.1f} s "
        f"into {preview.folder}/\n  going on from the render: {went_on}\n  listen: {preview.mix}",
    )
    return EXIT_OK
