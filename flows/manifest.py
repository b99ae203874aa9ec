"""manifest.json: every parameter, seed, model, package version, timing and loudness figure of a render."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from stems.audio import write_bytes_atomic

PACKAGES = (
    "musicmaker", "torch", "transformers", "demucs", "basic-pitch", "onnxruntime", "prefect", "numpy", "scipy",
    "pyloudnorm", "pydub", "soundfile", "pretty_midi", "mido", "pydantic",
)  # fmt: skip
MANIFEST_VERSION = 1


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def file_entry(root: Path, path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {
        "path": path.relative_to(root).as_posix(),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def list_outputs(root: Path) -> list[dict[str, Any]]:
    """Every finished output file: hidden ones (temp files of a write, the stage cache) are not outputs."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    visible = [p for p in files if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return [file_entry(root, p) for p in visible if p.name != "manifest.json"]


def build_manifest(**sections: Any) -> dict[str, Any]:
    """The manifest document: the caller's sections plus versions, platform and creation time."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **sections,
        "packages": package_versions(),
        "platform": {
            "python": sys.version.split()[0],
            "system": platform.platform(),
            "machine": platform.machine(),
        },
    }


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Written last and atomically: its presence marks the render as finished."""
    write_bytes_atomic(path, (json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n").encode())
