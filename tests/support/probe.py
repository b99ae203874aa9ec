"""ffprobe's view of a written file: an independent reader for the export tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def ffprobe(path: Path, section: str) -> Any:
    """ffprobe's JSON for ``section`` ("format" or "streams") of a file."""
    out = subprocess.run(
        ["ffprobe", "-v", "quiet", "-print_format", "json", f"-show_{section}", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)[section]


def ffprobe_tags(path: Path) -> dict[str, str]:
    """The file's container tags, keys lower-cased."""
    return {k.lower(): v for k, v in ffprobe(path, "format").get("tags", {}).items()}
