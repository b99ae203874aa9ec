"""How long generation takes, per model and device: the table behind ``render --dry-run``'s time estimates.

A row holds what ``bench/generate.py`` measured for one model on one device:

- ``frame_s``: seconds per generated frame (50 frames = 1 s of audio) for one stem rendered through windows, so
  text encoding, the continuation prefill of every window and the codec decode are all included;
- ``batch`` and ``batch_ratio``: K stems batched in one window took ``batch_ratio`` times as long as one stem.

A batch of b stems is estimated at ``frames x frame_s x (1 + (batch_ratio - 1) (b - 1) / (K - 1))``: linear
between the two measured points, never below one stem's time (a row without a batch measurement, K = 1, counts
stems as sequential).

Rows shipped here were measured on the machines they name, or cited (``source`` says which). Running
``musicmaker bench --only generate --model NAME --record`` on the machine that will render adds its own row to
``$XDG_CACHE_HOME/musicmaker/speed.json`` (default ``~/.cache``), which the dry run lists first. Pure Python:
the dry run imports no torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stems.musicgen.models import FRAME_RATE, RANDOM_PREFIX, model_info


@dataclass(frozen=True)
class SpeedRow:
    model: str  # checkpoint name: a random-init build of NAME is measured and recorded as NAME
    device: str  # e.g. "NVIDIA H200" or "cpu: AMD EPYC 7B13, 2 threads"
    frame_s: float
    batch: int
    batch_ratio: float
    source: str

    def seconds(self, stems: int, duration: float) -> float:
        """Estimated generation time for ``stems`` stems of ``duration`` s batched together."""
        frames = duration * FRAME_RATE
        if self.batch <= 1:
            return frames * self.frame_s * stems
        # A measured ratio under 1 is noise (a batch is never faster than one of its stems alone).
        scale = 1.0 + max(0.0, self.batch_ratio - 1.0) * (stems - 1) / (self.batch - 1)
        return frames * self.frame_s * scale


_CPU = "cpu: AMD EPYC, 2 threads"  # the dev/CI machine kind, as bench/generate.py labels it


def _cpu(model: str, frame_s: float, batch_ratio: float) -> SpeedRow:
    """A full-size row measured on the dev machine with random weights (same architecture and arithmetic)."""
    command = (
        f"bench/generate.py --model random:{model} --device cpu --window 2 --stride 1.5 --long 4 --stems 2"
    )
    return SpeedRow(model, _CPU, frame_s, 2, batch_ratio, f"measured 2026-11-21 `{command}`")


def _debug(model: str, frame_s: float, batch_ratio: float) -> SpeedRow:
    command = f"bench/generate.py --quick --model {model} --device cpu --record"
    return SpeedRow(model, _CPU, frame_s, 4, batch_ratio, f"measured 2026-11-21 `{command}`")


# Shipped rows. The full-size CPU rows use 2 s windows to stay affordable on 2 cores: at 30 s windows attention
# reads a longer context, a few percent more per step for these sizes. The A100 row is cited: issue #3's starting
# figure for audiocraft's musicgen-stereo-large, about 180 s for one 300 s stem (15 000 frames), with no batch
# measurement. Rows for GPUs come from running the bench with --record on them.
SHIPPED: tuple[SpeedRow, ...] = (
    _cpu("facebook/musicgen-small", 0.21952, 0.989),
    _cpu("facebook/musicgen-stereo-small", 0.212795, 0.917),
    _cpu("facebook/musicgen-medium", 0.8199, 0.976),
    _cpu("facebook/musicgen-melody", 0.815855, 1.142),
    _cpu("facebook/musicgen-large", 1.30545, 1.13),
    _debug("debug", 0.001468, 1.134),
    _debug("debug-stereo", 0.001989, 1.306),
    _debug("debug-melody", 0.00121, 1.299),
    SpeedRow(
        "facebook/musicgen-stereo-large",
        "NVIDIA A100 (audiocraft)",
        180.0 / 15_000,
        1,
        1.0,
        "cited: issue #3's baseline, about 180 s for one 300 s stem",
    ),
)


def speed_file() -> Path:
    """Where this machine's own measurements live."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "musicmaker" / "speed.json"


def _canonical(model: str) -> str:
    return model.removeprefix(RANDOM_PREFIX)


def recorded_rows(path: Path | None = None) -> list[SpeedRow]:
    """This machine's rows; an unreadable file counts as none (it is only a cache of measurements)."""
    path = path or speed_file()
    try:
        rows = json.loads(path.read_text())["rows"]
        return [SpeedRow(**row) for row in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def record(row: SpeedRow, path: Path | None = None) -> Path:
    """Add ``row`` to this machine's table, replacing an earlier row for the same model and device."""
    from stems.audio import write_bytes_atomic

    path = path or speed_file()
    row = SpeedRow(**{**asdict(row), "model": _canonical(row.model)})
    kept = [r for r in recorded_rows(path) if (r.model, r.device) != (row.model, row.device)]
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"rows": [asdict(r) for r in [*kept, row]]}
    write_bytes_atomic(path, (json.dumps(document, indent=2) + "\n").encode())
    return path


def rows_for(model: str) -> list[SpeedRow]:
    """Rows for ``model``: this machine's measurements first, then shipped ones for other devices."""
    model_info(model)
    name = _canonical(model)
    own = [r for r in recorded_rows() if r.model == name]
    return own + [r for r in SHIPPED if r.model == name and r.device not in {o.device for o in own}]


def estimates(model: str, stems: int, duration: float) -> list[dict[str, Any]]:
    """One estimate per known row of ``model``: device, seconds and where the figure comes from."""
    return [
        {"device": r.device, "seconds": round(r.seconds(stems, duration), 1), "source": r.source}
        for r in rows_for(model)
    ]
