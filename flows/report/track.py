"""The HTML body of a track's report.html, from its manifest and the images of :mod:`flows.report.media`.

Pure formatting: it reads nothing but what it is given (plus which files exist, so it never links a
missing one), and tolerates manifests missing any key (older renders).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.pipeline import Licenses, MidiRecord, StemRecord, TrackManifest
from flows.report.html import clock, esc, image, kv_table, link, number, player, section, size, table
from flows.report.images import TRACK_COLORS
from flows.report.media import AudioView, RollView, Timeline, note_name
from stems.conform.records import Analysis

SILENT_DBFS = -80.0  # the silence threshold the transcriber warns at (stems/transcribe)
LOUDNESS_KEYS = ("integrated_lufs", "loudness_range_lu", "true_peak_dbtp", "sample_peak_dbfs")
NAV = (
    ("mix", "Mix"),
    ("licenses", "Licences"),
    ("sections", "Sections"),
    ("chords", "Chords"),
    ("stems", "Stems"),
    ("grid", "Tempo and key"),
    ("loudness", "Loudness"),
    ("settings", "Generation settings"),
    ("timings", "Timings"),
    ("files", "Files"),
    ("environment", "Environment"),
)


SAFE_TAKE_FILE = re.compile(
    r"takes/[^/\\\x00.][^/\\\x00]*/[0-9]+\.wav"
)  # a take's file as a render writes it


@dataclass(frozen=True)
class StemViews:
    """What the page shows of one stem: its takes (label, audio) and its piano roll."""

    name: str
    takes: tuple[tuple[str, AudioView], ...]
    roll: RollView | None


def subtitle(manifest: TrackManifest) -> str:
    artist = manifest.arrangement.artist
    parts = [f"by {esc(artist)}" if artist else "", f"rendered {esc(manifest.created or '?')}"]
    if manifest.source:
        parts.append(f"from <code>{esc(manifest.source)}</code>")
    return " · ".join(p for p in parts if p)


def overview(manifest: TrackManifest, timeline: Timeline) -> str:
    arrangement = manifest.arrangement
    bpm, seed = arrangement.bpm, manifest.seed if manifest.seed is not None else arrangement.seed
    facts = {
        "Duration": clock(timeline.duration),
        "Tempo": f"{bpm:g} bpm" if bpm is not None else "–",
        "Key": esc(arrangement.key or "–"),
        "Time signature": esc(arrangement.time_signature or "–"),
        "Seed": esc("–" if seed is None else seed),
        "Model": esc(arrangement.model or "–"),
        "Stems": esc(len(arrangement.stems)),
        "Master LUFS": number(manifest.mix.master.get("integrated_lufs")),
    }
    return '<div class="meta">' + "".join(f"<div><b>{k}</b>{v}</div>" for k, v in facts.items()) + "</div>"


def timeline_bar(timeline: Timeline) -> str:
    """Sections as proportional coloured blocks (same time axis as every image of the track)."""
    if not timeline.sections or not timeline.duration:
        return ""
    blocks = []
    for index, span in enumerate(timeline.sections):
        count = round((span.end - span.start) / timeline.bar_seconds) if timeline.bar_seconds else 0
        bars = f" · {count} bar{'' if count == 1 else 's'}" if count else ""
        style = f"flex: {span.end - span.start:.4f} 0 0"
        blocks.append(
            f'<div class="s{index % 6}" style="{style}" title="{esc(span.prompt)}">'
            f"{esc(span.name)}<small>{clock(span.start)}–{clock(span.end)}{bars}</small></div>"
        )
    return f'<div class="timeline">{"".join(blocks)}</div>'


def chord_lane(manifest: TrackManifest, timeline: Timeline) -> str:
    """The score's chords under the sections, on the same time axis: one block per chord as played."""
    score = manifest.score
    if score is None or not score.chords or not timeline.duration:
        return ""
    blocks, last = [], 0.0
    for chord in score.chords:
        if chord.start > last:  # a section without chords
            blocks.append(f'<div class="rest" style="flex: {chord.start - last:.4f} 0 0"></div>')
        title = f"{chord.symbol} · {chord.section} · {clock(chord.start)}–{clock(chord.end)}"
        style = f"flex: {chord.end - chord.start:.4f} 0 0"
        blocks.append(f'<div style="{style}" title="{esc(title)}">{esc(chord.symbol)}</div>')
        last = chord.end
    if timeline.duration > last:
        blocks.append(f'<div class="rest" style="flex: {timeline.duration - last:.4f} 0 0"></div>')
    return f'<div class="chords" aria-label="chord lane">{"".join(blocks)}</div>'


def chords_section(manifest: TrackManifest) -> str:
    """How the stems and the mix follow the planned chords (beats on the planned triad), and the melody."""
    score = manifest.score
    if score is None:
        return section("chords", "Chords", '<p class="muted">the arrangement has no chords</p>')
    rows = [("mix", _fraction(score.mix_on_chord))]
    rows += [(esc(name), _fraction(value)) for name, value in score.stems_on_chord.items()]
    if score.melody_on_chord is not None:
        rows.append(("melody file (chroma frames)", _fraction(score.melody_on_chord)))
    table_html = table(("audio", "on the planned chord"), rows, (1,))
    parts = "".join(f"<li>{esc(name)}: {link(path)}</li>" for name, path in score.parts.items())
    notes = "".join(f'<div class="warn">⚠ {esc(note)}</div>' for note in score.notes)
    if score.melody_on_chord is not None and score.melody_on_chord < MELODY_AGREES:
        notes += (
            f'<div class="warn">⚠ the melody file sits on the planned chords on only '
            f"{score.melody_on_chord:.0%} of its frames: it contradicts the chord chart</div>"
        )
    beats = f"<p>{score.beats or 0} beats with a planned major or minor chord are counted.</p>"
    return section("chords", "Chords", beats + table_html + notes + f'<ul class="downloads">{parts}</ul>')


# Below this fraction of frames on the planned chords, the report says the melody contradicts the chart
# (a melody written over the chart sits on chord tones on most strong beats, passing notes between).
MELODY_AGREES = 0.5


def _fraction(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def audio_figure(label: str, view: AudioView) -> str:
    """Caption, player, waveform and spectrogram of one audio file."""
    if view.sample_rate and view.channels:
        info = f"{number(view.duration, 2)} s · {view.sample_rate / 1000:g} kHz · {view.channels} ch · " + (
            f"peak {number(view.peak_dbfs)} dBFS"
            if view.peak_dbfs is not None and view.peak_dbfs > SILENT_DBFS
            else '<span class="warn">silent</span>'
        )
    else:
        info = f'<span class="bad">{esc(view.error)}</span>'
    parts = [f"<figcaption><b>{esc(label)}</b> · {link(view.path)} · {info}</figcaption>", player(view.path)]
    if view.wave:
        parts.append(image(view.wave, f"waveform of {view.path}", "wave"))
    if view.spec:
        parts.append(image(view.spec, f"spectrogram of {view.path} (30 Hz–20 kHz, log)", "spec"))
    return "<figure>" + "".join(parts) + "</figure>"


def roll_figure(roll: RollView, midi: MidiRecord | None) -> str:
    if roll.image is None:
        problem = f'<span class="bad">{esc(roll.error)}</span>'
        return f"<figure><figcaption>{link(roll.path)} · {problem}</figcaption></figure>"
    warnings = midi.warnings if midi else ()
    drums = midi is not None and midi.drums
    shown = (
        f"GM drum keys {roll.low}–{roll.high}" if drums else f"{note_name(roll.low)}–{note_name(roll.high)}"
    )
    notes = f"{roll.notes} note{'' if roll.notes == 1 else 's'}, {shown}"
    instrument = (midi.instrument if midi else None) or ""
    caption = f"<b>piano roll</b> · {link(roll.path)} · {esc(instrument)} · {notes}"
    warn = "".join(f'<div class="warn">⚠ {esc(w)}</div>' for w in warnings)
    alt = f"piano roll of {roll.path}; bar lines and section starts"
    return f"<figure><figcaption>{caption}</figcaption>{image(roll.image, alt, 'roll')}{warn}</figure>"


def arrangement_figure(roll: RollView | None) -> str:
    """The all-stems MIDI file as one piano roll, a colour per instrument, with its legend."""
    if roll is None or roll.image is None:
        return ""
    legend = "".join(
        f'<span class="chip" style="background: {TRACK_COLORS[i % len(TRACK_COLORS)]}"></span>{esc(name)}'
        for i, name in enumerate(roll.tracks)
    )
    caption = (
        f"<b>all stems</b> · {link(roll.path)} · {roll.notes} note{'' if roll.notes == 1 else 's'} · {legend}"
    )
    picture = image(roll.image, "piano roll of every stem", "roll")
    return f"<figure><figcaption>{caption}</figcaption>{picture}</figure>"


def mix_section(
    folder: Path,
    manifest: TrackManifest,
    timeline: Timeline,
    mix: AudioView | None,
    roll: RollView | None,
) -> str:
    extras = [
        f for f in ("mix.flac", "mix.mp3", "mix.wav", f"midi/{folder.name}.mid") if (folder / f).is_file()
    ]
    downloads = '<ul class="downloads">' + "".join(f"<li>{link(f)}</li>" for f in extras) + "</ul>"
    figure = audio_figure("master", mix) if mix else '<p class="muted">no mix file in this render</p>'
    lanes = timeline_bar(timeline) + chord_lane(manifest, timeline)
    content = overview(manifest, timeline) + lanes + figure + arrangement_figure(roll)
    return section("mix", "Mix", content + downloads)


_COMMERCIAL = {
    True: "allowed",
    False: '<span class="bad">forbidden</span>',
    None: '<span class="warn">unknown: check the licence</span>',
}


def licenses_section(licenses: Licenses) -> str:
    """Which models made the render and their licences, before anyone publishes it: MusicGen's weights are
    non-commercial."""
    from stems.licenses import COMMERCIAL_USE

    rows = [
        (esc(role), esc(model), esc(lic), _COMMERCIAL[COMMERCIAL_USE.get(lic)])
        for role, model, lic in licenses.rows()
    ]
    if not rows:
        empty = "the manifest records no model licences (a render made before they were recorded); render it again"
        return section("licenses", "Licences", f'<p class="muted">{empty}</p>')
    note = (
        '<p class="muted">Licences as SPDX ids. With <code>commercial_use: true</code> in the arrangement, '
        "validate and render refuse every model whose licence forbids commercial use or is unknown.</p>"
    )
    body = (
        f"<p>{esc(licenses.note())}</p>" + table(("role", "model", "licence", "commercial use"), rows) + note
    )
    return section("licenses", "Licences", body)


def sections_section(manifest: TrackManifest, timeline: Timeline) -> str:
    if not timeline.sections:
        return section("sections", "Sections", '<p class="muted">no sections in the manifest</p>')
    declared = manifest.arrangement.section_bars
    rows = []
    for index, span in enumerate(timeline.sections):
        bars = esc(declared[index] if index < len(declared) else "–")
        if timeline.bar_seconds and index == len(timeline.sections) - 1:
            heard = round((span.end - span.start) / timeline.bar_seconds, 1)
            bars += f' <span class="muted">({heard:g} heard)</span>' if f"{heard:g}" != bars else ""
        rows.append((esc(span.name), bars, clock(span.start), clock(span.end), esc(span.prompt)))
    return section(
        "sections", "Sections", table(("section", "bars", "start", "end", "prompt"), rows, (1, 2, 3))
    )


def stem_card(stem: StemViews, prompt: str | None, record: StemRecord) -> str:
    separation = record.clean.separation if record.clean else None
    guide = record.generation.guide if record.generation else None
    tags = [
        record.generation.model if record.generation else None,
        separation.source if separation else None,
        f"guide: {guide}" if guide else None,
    ]
    tag_html = "".join(f'<span class="tag">{esc(t)}</span>' for t in tags if t)
    head = f"<h3>{esc(stem.name)}{tag_html}</h3>" + (f'<p class="prompt">{esc(prompt)}</p>' if prompt else "")
    takes = '<div class="takes">' + "".join(audio_figure(label, v) for label, v in stem.takes) + "</div>"
    roll = roll_figure(stem.roll, record.midi) if stem.roll else ""
    scores = takes_table(record)
    redone = sections_table(record)
    body = f"{head}{takes}{scores}{redone}{roll}{windows_details(record)}"
    return f'<div class="card" id="stem-{esc(stem.name)}">{body}</div>'


def sections_table(record: StemRecord) -> str:
    """The stem's section redos (``render --section``), in the order asked; empty without any."""
    done = record.generation.sections if record.generation else ()
    if not done:
        return ""
    rows = [
        (
            esc(s.section or "–"),
            "–" if s.bars is None else f"{s.bars[0]}-{s.bars[1]}",
            esc(s.seed),
            f"{number(s.start, 2)}-{number(s.end, 2)}",
            esc(", ".join(f"{a:.3f}-{b:.3f}" for a, b in s.seams) or "–"),
        )
        for s in done
    ]
    body = table(("section", "bars", "seed", "seconds", "seams (crossfades, s)"), rows, (1, 2, 3))
    return (
        f'<div class="sections-redone"><p>Sections generated again, kept outside their bars:</p>{body}</div>'
    )


def takes_table(record: StemRecord) -> str:
    """The scores of every take of a stem rendered with takes (term values 0..1, weights in the header), the
    picked one marked; empty for a stem without takes."""
    from stems.takes import WEIGHTS

    if not record.takes:
        return ""
    terms = [n for n in WEIGHTS if any(_term(t.scores, n) is not None for t in record.takes)]
    headers = ("take", "total", *(f"{n.replace('_', ' ')} x{WEIGHTS[n]:g}" for n in terms))
    rows = [
        (
            f"{t.take}{' ✓ picked' if t.picked else ''}",
            number(t.total, 3),
            *("–" if (v := _term(t.scores, n)) is None else number(v, 2) for n in terms),
        )
        for t in record.takes
    ]
    marks = ["picked" if t.picked else "" for t in record.takes]
    body = table(headers, rows, range(1, len(headers)), row_classes=marks)
    return f'<div class="takes-scores"><p>Takes and their scores (0..1; total: the weighted mean of the terms measured):</p>{body}</div>'


def _term(scores: Mapping[str, Any], name: str) -> float | None:
    term = scores.get(name)
    value = term.get("value") if isinstance(term, Mapping) else None
    return float(value) if isinstance(value, int | float) else None


def windows_details(record: StemRecord) -> str:
    windows = record.generation.windows if record.generation else ()
    if not windows:
        return ""
    rows = [
        (esc(i if w.index is None else w.index), number(w.start, 2), number(w.end, 2), esc(w.text))
        for i, w in enumerate(windows)
    ]
    body = table(("window", "start s", "end s", "text prompt"), rows, (0, 1, 2))
    return f"<details><summary>{len(windows)} generation window(s)</summary>{body}</details>"


def stems_section(stems: Sequence[StemViews], manifest: TrackManifest) -> str:
    prompts = {s.name: s.prompt for s in manifest.arrangement.stems}
    empty = StemRecord(None, None, None, None)
    cards = [stem_card(s, prompts.get(s.name), manifest.stems.get(s.name, empty)) for s in stems]
    return section("stems", "Stems", "".join(cards) or '<p class="muted">no stems</p>')


def _analysis_cells(found: Analysis) -> list[str]:
    """Measured tempo (confidence), first downbeat, key (confidence), tuning of one analysis record."""
    tempo = number(found.tempo_bpm)
    if tempo != "–":
        tempo += f' <span class="muted">({number(found.tempo_confidence, 2)})</span>'
    key = esc(found.key or "–")
    if found.key:
        key += f' <span class="muted">({number(found.key_confidence, 2)})</span>'
    return [tempo, number(found.downbeat, 3, "s"), key, number(found.tuning_cents, 0)]


def grid_section(manifest: TrackManifest) -> str:
    """Each stem and the mix against the arrangement's grid: what was measured, the beat alignment error
    before and after conform, and what conform did or why it left the stem as it was."""
    arrangement = manifest.arrangement
    rows = []
    for name, rec in manifest.stems.items():
        done = rec.conform
        if done is None:  # a render made before the conform stage
            continue
        rows.append(
            (
                esc(name),
                *_analysis_cells(done.before),
                number(done.error_before_ms, 0),
                number(done.error_after_ms, 0),
                esc(done.method or "–"),
                number(done.moved_ms, 0),
                esc(done.reason),
            )
        )
    if (mix := manifest.mix.analysis) is not None:
        rows.append(("mix", *_analysis_cells(mix), "–", "–", "–", "–", "measured on the master"))
    if not rows:
        return ""
    headers = (
        "stem",
        "tempo bpm",
        "first downbeat",
        "key",
        "tuning ¢",
        "beat error before ms",
        "after ms",
        "placed by",
        "moved ms",
        "conform",
    )
    note = (
        f'<p class="muted">Arranged: {number(arrangement.bpm)} bpm, {esc(arrangement.key or "–")},'
        f" {esc(arrangement.time_signature or '4/4')}. Beat error: mean distance from each measured beat"
        " to the nearest beat of the arrangement's grid; confidence in brackets (0 to 1). Placed by: the stem's part"
        " (each note aligned to where the part puts it) or its beats; moved: the mean distance its time map moved"
        " a point of the stem.</p>"
    )
    return section("grid", "Tempo and key", table(headers, rows, (1, 2, 4, 5, 6, 8), "grid") + note)


def _loudness_cells(values: Mapping[str, float | None], target_tp: object) -> list[str]:
    # LoudnessReport writes None for digital silence; a key absent from an old manifest shows '–'.
    cells = ["silent" if k in values and values[k] is None else number(values.get(k)) for k in LOUDNESS_KEYS]
    peak = values.get("true_peak_dbtp")
    if isinstance(peak, (int, float)) and isinstance(target_tp, (int, float)) and peak > target_tp + 0.05:
        cells[2] = f'<span class="bad" title="above the {target_tp} dBTP ceiling">{cells[2]}</span>'
    return cells


def loudness_section(manifest: TrackManifest) -> str:
    master = manifest.arrangement.master
    rows = [
        (esc(name), *_loudness_cells(rec.loudness, None), number(rec.gain_db_applied))
        for name, rec in manifest.stems.items()
    ]
    mix = manifest.mix
    rows.append(("master", *_loudness_cells(mix.master, master.get("true_peak")), number(mix.master_gain_db)))
    headers = ("stem", "integrated LUFS", "LRA LU", "true peak dBTP", "sample peak dBFS", "gain dB")
    target = (
        f"Target {number(master.get('lufs'))} LUFS, true-peak ceiling {number(master.get('true_peak'))} dBTP"
    )
    note = f'<p class="muted">{target} (ITU-R BS.1770-4 loudness and true peak, EBU Tech 3342 range).</p>'
    classes = [""] * (len(rows) - 1) + ["master"]
    return section("loudness", "Loudness", table(headers, rows, (1, 2, 3, 4, 5), "loudness", classes) + note)


def settings_section(manifest: TrackManifest) -> str:
    arrangement = manifest.arrangement
    rows = []
    for name, rec in manifest.stems.items():
        gen, clean, midi = rec.generation, rec.clean, rec.midi
        sep = clean.separation if clean else None
        cells = (
            gen and gen.model,
            gen and gen.seed,
            gen and gen.melody,
            sep and f"{sep.model} → {sep.source}",
            clean and clean.cleaned,
            midi and midi.instrument,
            midi and midi.notes,
        )
        rows.append((esc(name), *(esc("–" if c is None or c == "" else c) for c in cells)))
    headers = ("stem", "model", "seed", "melody", "separation", "cleaned", "MIDI instrument", "notes")
    top = kv_table({"model": arrangement.model, **arrangement.generation})
    master = kv_table(arrangement.master)
    cols = f'<div class="cols"><div><h3>Sampling</h3>{top}</div><div><h3>Master</h3>{master}</div></div>'
    return section(
        "settings", "Generation settings", cols + "<h3>Per stem</h3>" + table(headers, rows, (2, 7))
    )


def timings_section(manifest: TrackManifest) -> str:
    timings = manifest.timings
    longest = max(timings.values(), default=0.0) or 1.0
    rows = [
        (esc(stage), number(sec, 2), f'<span class="bar" style="width: {200 * sec / longest:.0f}px"></span>')
        for stage, sec in timings.items()
    ]
    rows.append(("<b>total</b>", f"<b>{number(sum(timings.values()), 2)}</b>", ""))
    per_stem = [
        (
            esc(name),
            number(rec.generation.seconds if rec.generation else None, 2),
            number(rec.clean.seconds if rec.clean else None, 2),
            number(rec.clean.separation.seconds if rec.clean and rec.clean.separation else None, 2),
            number(rec.midi.seconds if rec.midi else None, 2),
        )
        for name, rec in manifest.stems.items()
    ]
    stage_table = table(("stage", "seconds", ""), rows, (1,))
    stem_table = table(
        ("stem", "generate s (batch)", "separate+clean s", "of which separate s", "transcribe s"),
        per_stem,
        (1, 2, 3, 4),
    )
    return section(
        "timings", "Timings", f'<div class="cols"><div>{stage_table}</div><div>{stem_table}</div></div>'
    )


def files_section(folder: Path, manifest: TrackManifest) -> str:
    rows = []
    for entry in manifest.files:
        path = entry.path
        shown = link(path) if path and (folder / path).is_file() else esc(path)
        rows.append((shown, size(entry.bytes), f"<code>{esc(entry.sha256[:16])}</code>"))
    # A render writes this page just before manifest.json (whose presence marks it finished): link it anyway.
    manifest_link = f"<p>Every figure on this page comes from {link('manifest.json')}.</p>"
    return section("files", "Files", manifest_link + table(("file", "size", "sha256 (first 16)"), rows, (1,)))


def environment_section(manifest: TrackManifest) -> str:
    packages = kv_table({k: v or "not installed" for k, v in manifest.packages.items()})
    platform = kv_table(manifest.platform)
    arrangement = esc(json.dumps(manifest.arrangement.document, indent=2))
    cols = (
        f"<div class=cols><div><h3>Packages</h3>{packages}</div><div><h3>Platform</h3>{platform}</div></div>"
    )
    details = f"<details><summary>arrangement as rendered</summary><pre>{arrangement}</pre></details>"
    return section("environment", "Environment", cols + details)
