"""The ``musicmaker`` commands that work on any audio file, not on an arrangement or a render: ``transcribe``,
``master``, ``analyze``, ``conform`` and ``rank``; their handlers and :func:`add_file_commands`, which adds their
subcommands to the parser. As in the rest of the CLI, heavy imports happen inside the handlers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flows.cli.common import EXIT_OK, add_output_flags, emit, output_example
from mixing.targets import DEFAULT_LUFS, DEFAULT_TRUE_PEAK


def _cmd_transcribe(args: argparse.Namespace) -> int:
    from stems.audio import check_output_file
    from stems.transcription.transcriber import transcribe_file

    default = Path(args.audio).with_suffix(".mid")
    out = Path(args.output) if args.output else default
    check_output_file(out, output_example(out, default))
    track = transcribe_file(Path(args.audio), args.instrument, out)
    result = {"midi": str(out), "notes": len(track.notes), "warnings": list(track.warnings)}
    emit(args, result, f"Wrote {out} ({len(track.notes)} notes)")
    for warning in track.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _cmd_master(args: argparse.Namespace) -> int:
    from mixing.master import master_file
    from stems.audio import check_output_file

    out = (
        Path(args.output)
        if args.output
        else Path(args.audio).with_name(Path(args.audio).stem + ".master.wav")
    )
    check_output_file(
        out, output_example(out, Path(args.audio).with_name(Path(args.audio).stem + ".master.wav"))
    )
    result = master_file(Path(args.audio), out, lufs=args.lufs, true_peak=args.true_peak)
    report = result.report.to_dict()
    emit(
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
    emit(args, result, text)
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
    check_output_file(out, output_example(out, default))
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
    emit(args, {"output": str(out), **result.to_dict()}, f"Wrote {out}: {result.reason}")
    return EXIT_OK


DEFAULT_BEATS_PER_BAR = 4  # conform's grid without --time-signature (or the score's meter with --score)


def _add_time_signature_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--time-signature",
        type=_beats_per_bar,
        default=None,
        metavar="N/D",
        help="beats per bar of the grid (default 4/4, or the score's with --score)",
    )


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


def add_file_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``transcribe``, ``master``, ``analyze``, ``conform`` and ``rank`` to the parser's subcommands."""
    fmt = argparse.RawDescriptionHelpFormatter

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
    add_output_flags(p)
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
    add_output_flags(p)
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
    add_output_flags(p)
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
    _add_time_signature_flag(p)
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
    add_output_flags(p)
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
    _add_time_signature_flag(p)
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
    add_output_flags(p)
    p.set_defaults(func=_cmd_rank)
