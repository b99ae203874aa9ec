"""Where a test finds the checkout: the repository root, the committed test data and the bench scripts."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
BENCH = REPO / "bench"
