"""The plan that ``render --dry-run`` prints, and the check that every model's weights can be loaded from here.

Every user mistake that can be seen without generating audio (unknown model, melody on a model that takes none,
unusable melody or continuation audio, a source the separation model lacks, an unknown MIDI instrument) is
reported by the loaders with its file and line (``flows.pipeline.checks``), so a render never fails half-way for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.pipeline import band, generation, stages
from flows.pipeline.paths import RenderPaths
from flows.schema.models import Arrangement, Stem
from flows.schema.score import is_sketch
from stems.score import SKETCH_MODEL, is_midi_file
from stems.separation.catalog import DEBUG_SOURCES


def check_weights(generation_models: set[str], separation_models: set[str]) -> None:
    """Fail fast (exit 2) when a real model's weights are neither cached nor downloadable from here."""
    from stems.errors import ModelUnavailableError
    from stems.musicgen.models import hub_offline, unavailable_message, weights_cached
    from stems.separation.models import hf_cache_has, network_reachable, torch_hub_has
    from stems.separation.models import unavailable_message as separation_message

    missing = [unavailable_message(m) for m in sorted(generation_models) if not weights_cached(m)]
    missing += [
        separation_message(m)
        for m in sorted(separation_models)
        if m not in DEBUG_SOURCES and not (torch_hub_has(m) or hf_cache_has(m))
    ]
    if missing and (hub_offline() or not network_reachable()):
        raise ModelUnavailableError("; ".join(missing))


def check_tools(stems: list[Stem], arrangement: Arrangement | None = None) -> None:
    """Programs a render runs besides Python: Rubber Band for stems that conform, FluidSynth and its soundfont
    for sketch stems, which are on the grid and in key as played (before any model loads)."""
    from stems.conform.warp import require_rubberband
    from stems.score import check_sketch_tools

    sketch = [s for s in stems if arrangement is not None and is_sketch(arrangement, s)]
    if any((s.conform.tempo or s.conform.key) and s not in sketch for s in stems):
        require_rubberband()
    if sketch:
        check_sketch_tools()


def check(
    arrangement: Arrangement, only: list[str] | None = None, weights: bool = True, folder: Path | None = None
) -> dict[str, Any]:
    """The plan of a render of ``arrangement`` (plain JSON-able data); with ``weights``, also make sure every
    model can be loaded from here (a cache look-up, and a short network probe only when something is missing).

    ``arrangement`` comes from the loaders, which have run every input check (``flows.pipeline.checks``) already.
    ``folder`` is the track's render folder, whose stems an ``--only`` render keeps (see
    ``generation.render_stems``).
    """
    from stems.musicgen.models import describe_model, model_info, vram_gb
    from stems.musicgen.plan import plan_windows
    from stems.musicgen.speed import estimates

    stems = generation.render_stems(arrangement, only, RenderPaths(folder or Path("."), ""))
    batches = []
    sketch: list[str] = []
    for model, names in generation.generation_batches(arrangement, stems):
        if model == SKETCH_MODEL:  # played by FluidSynth: no model, no weights, no batch
            sketch += names
            continue
        batches.append(
            {
                "model": model,
                "about": describe_model(model),
                "stems": names,
                "params_m": model_info(model).params_m,
                "vram_gb": vram_gb(model, len(names)),
                "time_estimates": estimates(model, len(names), arrangement.duration),
            }
        )
    separation_models = {m for m in (stages.separation_model(arrangement, s) for s in stems) if m is not None}
    separation_models |= {m for m in (_melody_separation(arrangement, s) for s in stems) if m is not None}
    band_plan = _band_plan(arrangement, stems)
    separation_models |= (
        {band_plan["separation_model"]} if band_plan and band_plan["separation_model"] else set()
    )
    take = [generation.band_take(arrangement)] if band_plan else []
    separation_models |= {m for m in (_melody_separation(arrangement, s) for s in take) if m is not None}
    if weights:
        check_weights({str(b["model"]) for b in batches}, separation_models)
        check_tools(stems, arrangement)
    windows = plan_windows(arrangement.duration, arrangement.generation.extend_stride)
    spans = generation.section_spans(arrangement)
    return {
        "title": arrangement.title,
        "duration": arrangement.duration,
        "batches": batches,
        "windows": [
            {"index": w.index, "start": w.start, "new_start": w.new_start, "end": w.end} for w in windows
        ],
        "sections": [{"name": s.name, "start": s.start, "end": s.end, "prompt": s.prompt} for s in spans],
        "band": band_plan,
        "sketch": sketch,
        "stems": {
            s.name: {
                "model": arrangement.stem_model(s),
                "from": s.from_,
                "source": s.source,
                "follow": s.follow,
                "separate": s.separate,
                "midi": stages.midi_instrument(s),
                "takes": arrangement.stem_takes(s),
            }
            for s in stems
        },
    }


def _band_plan(arrangement: Arrangement, stems: list[Stem]) -> dict[str, Any] | None:
    """The band take of a render of ``stems`` (its prompt, models and the stems split out of it), or None."""
    items = generation.generated_items(arrangement, stems) if arrangement.band is not None else []
    take = next(
        (i for i in items if i.name == generation.BAND), None
    )  # a stem may be called band without one
    if take is None:
        return None
    split = {s.name: s.source for s in stems if s.from_band}  # none when only a stem that follows the take
    return {
        "prompt": take.prompt,
        "model": arrangement.stem_model(take),
        "separation_model": band.band_separation_model(arrangement) if split else None,
        "stems": split,
    }


def _melody_separation(arrangement: Arrangement, stem: Stem) -> str | None:
    """The Demucs model that splits ``stem``'s melody file (``melody_stems``), None when it is used as it is."""
    from stems.musicgen.models import model_info

    model = arrangement.stem_model(stem)
    melody = stem.melody or arrangement.melody
    if stem.follow or melody is None or is_midi_file(melody) or is_sketch(arrangement, stem):
        return None  # a MIDI melody's notes need no Demucs
    if not model_info(model).takes_melody:
        return None
    keep = generation.melody_stems(arrangement, stem)
    return generation.melody_separation_model(arrangement, keep) if keep else None


def _clock(seconds: float) -> str:
    """Seconds as people read a duration: 42 s, 3 min 05 s, 2 h 07 min."""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _time_lines(batches: list[dict[str, Any]]) -> list[str]:
    """Estimated generation time per batch and device, the total on each device every batch has a figure for,
    and how to measure the models without one."""
    from stems.musicgen.models import RANDOM_PREFIX, is_offline_model

    lines = [
        f"  batch {i} on {e['device']}: ~{_clock(e['seconds'])}  ({e['source']})"
        for i, batch in enumerate(batches, 1)
        for e in batch["time_estimates"]
    ]
    per_batch = [{e["device"]: e["seconds"] for e in b["time_estimates"]} for b in batches]
    for device in per_batch[0] if len(per_batch) > 1 else []:
        if all(device in times for times in per_batch):
            lines.append(f"  all batches on {device}: ~{_clock(sum(t[device] for t in per_batch))}")
    for model in dict.fromkeys(b["model"] for b in batches if not b["time_estimates"]):
        offline = is_offline_model(model)
        lines.append(
            f"  no speed measured for {model} yet: on the machine that will render, run `musicmaker bench "
            f"--only generate --model {model if offline else RANDOM_PREFIX + model} --record`"
            + ("" if offline else " (random weights of the same size run at the same speed)")
        )
    return lines


def describe(plan: dict[str, Any]) -> str:
    """The plan as text for people."""
    lines = [
        f"Plan for '{plan['title']}' ({plan['duration']:g} s, {len(plan['windows'])} window(s) per stem)"
    ]
    for i, batch in enumerate(plan["batches"], 1):
        memory = f"~{batch['vram_gb']:g} GiB VRAM" if batch["vram_gb"] else "no GPU needed"
        lines.append(
            f"  batch {i}: {batch['model']} ({batch['params_m']:g}M params, {memory})"
            f" -> {', '.join(batch['stems'])}\n    {batch['about']}"
        )
    if plan["batches"]:
        lines.append("Estimated generation time (model loading not included):")
        lines += _time_lines(plan["batches"])
    for w in plan["windows"]:
        lines.append(
            f"  window {w['index']}: {w['start']:.1f}-{w['end']:.1f} s (new audio from {w['new_start']:.1f} s)"
        )
    for s in plan["sections"]:
        lines.append(f"  section {s['name']}: {s['start']:.1f}-{s['end']:.1f} s  {s['prompt']}")
    if plan["sketch"]:
        lines.append(f"  sketch (FluidSynth, no model): {', '.join(plan['sketch'])}")
    if plan["band"]:
        split = ", ".join(f"{name} ({source})" for name, source in plan["band"]["stems"].items())
        lines.append(
            f"  band take: {plan['band']['model']}, prompt {plan['band']['prompt']!r}\n"
            f"    split by {plan['band']['separation_model']} into {split or 'no stem (only followed)'}"
        )
    for name, stem in plan["stems"].items():
        if stem["from"] == generation.BAND:
            lines.append(f"  stem {name}: from the band take (source {stem['source']}), midi {stem['midi']}")
            continue
        lines.append(
            f"  stem {name}: model {stem['model']}, follow {stem['follow']}, "
            f"separate {stem['separate']}, midi {stem['midi']}"
            + (f", {stem['takes']} takes (the best kept)" if stem["takes"] > 1 else "")
        )
    return "\n".join(lines)
