"""The loudness targets a master may aim at, defined once for the mastering code, the schema and the CLI. Light (no
numpy), so the arrangement schema checks the same ranges before any audio exists.
"""

from __future__ import annotations

DEFAULT_LUFS = -14.0  # integrated loudness (ITU-R BS.1770-4) of the streaming services (Spotify, YouTube)
DEFAULT_TRUE_PEAK = -1.0  # dBTP ceiling of EBU R128 and the streaming services' delivery specs
LUFS_RANGE = (-40.0, -5.0)
TRUE_PEAK_RANGE = (-9.0, 0.0)  # dBTP; below -9 only wastes headroom (delivery specs ask -1 to -3)
MIN_PEAK_TO_LOUDNESS = 1.0  # the target stays at least this many LU below the ceiling
# Common delivery targets: streaming (-14, e.g. Spotify/YouTube), Apple Music (-16), EBU R128 (-23).
PRESETS_LUFS: dict[str, float] = {"streaming": DEFAULT_LUFS, "apple": -16.0, "ebu-r128": -23.0}


def _shown(value: float) -> str:
    return f"{value:g}"


def target_problem(lufs: float, true_peak: float) -> str | None:
    """Why a master cannot aim at ``lufs`` under a ``true_peak`` ceiling (None when it can)."""
    low, high = LUFS_RANGE
    if not low <= lufs <= high:  # False for NaN too
        return f"loudness target {lufs} LUFS is out of range; use {_shown(low)} to {_shown(high)} (-14, -16 or -23)"
    low, high = TRUE_PEAK_RANGE
    if not low <= true_peak <= high:
        return f"true-peak ceiling {true_peak} dBTP is out of range; use {_shown(low)} to {_shown(high)} (e.g. -1)"
    if lufs > true_peak - MIN_PEAK_TO_LOUDNESS:
        return (
            f"loudness target {lufs} LUFS is too close to the {true_peak} dBTP ceiling; keep the target at "
            "least 1 LU below the ceiling (e.g. --lufs -14 --true-peak -1)"
        )
    return None
