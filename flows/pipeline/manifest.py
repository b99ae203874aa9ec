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

from flows.pipeline.paths import TRACK_MANIFEST
from stems.audio import write_bytes_atomic

PACKAGES = (
    "musicmaker",
    "torch",
    "transformers",
    "demucs",
    "basic-pitch",
    "onnxruntime",
    "prefect",
    "numpy",
    "scipy",
    "pyloudnorm",
    "pydub",
    "soundfile",
    "pretty_midi",
    "mido",
    "pydantic",
)
MANIFEST_VERSION = 1
# Keys that keep the clean stage's earlier names, so that renders made before it was called "clean" still report:
CLEAN_RECORD = "refine"  # a stem's clean-stage record (with its separation inside)
CLEAN_TIMING = "separate_and_clean"  # seconds of separation and cleanup in ``timings``


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


def list_outputs(root: Path, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every finished output file as it is now on disk, but those under the top-level names in ``skip``:
    hidden ones (temp files of a write, the stage cache) are not outputs, and the manifest cannot list itself."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    parts = [(p, p.relative_to(root).parts) for p in files]
    visible = [p for p, rel in parts if rel[0] not in skip and not any(part.startswith(".") for part in rel)]
    return [file_entry(root, p) for p in visible if p.name != TRACK_MANIFEST]


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


def report_files(root: Path, report_name: str, report_dir: str) -> list[Path]:
    """The report page and its images under ``root``, as they are on disk now."""
    images = sorted(p for p in (root / report_dir).rglob("*") if p.is_file())
    return [p for p in [root / report_name, *images] if p.is_file()]


def refresh_files(manifest_path: Path, report: list[Path]) -> None:
    """After a report is rewritten: the manifest lists the files it listed (those still there) and the report's,
    each with the hash it has now, so the manifest stays true."""
    root = manifest_path.parent
    manifest = json.loads(manifest_path.read_text())
    listed = [root / entry["path"] for entry in manifest.get("files", [])]
    paths = dict.fromkeys(p for p in [*listed, *report] if p.is_file())
    manifest["files"] = [file_entry(root, p) for p in paths]
    write_manifest(manifest_path, manifest)
