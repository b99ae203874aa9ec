"""Content-addressed stage cache: a stage is redone only when its inputs, model, seed, code or upstream outputs change.

Each stage output of a render folder has a record ``.musicmaker/stages/<stage>.<stem>.json`` holding the key it was
made with and the sha256 of every file it wrote. A stage is reused when the key matches and every file is still there
with the same hash, so a render killed at any point resumes with the stages that finished, and an edit to one stem's
prompt redoes that stem and what depends on it only. Records are written after their files, atomically.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from stems.audio import write_bytes_atomic

# The modules whose code decides each stage's output: editing one invalidates that stage (and, through the output
# hashes, everything downstream of it).
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "generate": ("flows/generation.py", "stems/generate.py", "stems/musicgen_load.py", "stems/musicgen_sampling.py",
                 "stems/musicgen_windows.py", "stems/chroma.py", "stems/plan.py", "stems/debug_models.py",
                 "stems/models.py"),
    "separate": ("flows/stages.py", "flows/band.py", "stems/separate.py", "stems/demucs_models.py",
                 "stems/demucs_debug.py", "stems/audio.py"),
    "refine": ("flows/stages.py", "stems/clean.py", "stems/audio.py"),
    "conform": ("flows/stages.py", "stems/conform", "stems/audio.py"),
    "transcribe": ("flows/stages.py", "stems/transcribe.py", "stems/transcribe_notes.py",
                   "stems/transcribe_settings.py", "stems/instruments.py", "stems/drums.py", "stems/midi.py"),
    "mix": ("flows/stages.py", "stems/conform", "mixing/loudness.py", "mixing/mix.py", "mixing/master.py",
            "mixing/limiter.py", "mixing/export.py", "mixing/truepeak.py", "mixing/_kernels.py", "mixing/ffmpeg.py",
            "mixing/_parallel.py"),
}  # fmt: skip
_REPO = Path(__file__).resolve().parents[1]


@cache
def code_version(stage: str) -> str:
    """Hash of the package version and the source of the stage's modules (those that exist)."""
    digest = hashlib.sha256(metadata.version("musicmaker").encode())
    for rel in STAGE_CODE[stage]:
        path = _REPO / rel
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []:
            digest.update(file.relative_to(_REPO).as_posix().encode() + file.read_bytes())
    return digest.hexdigest()[:16]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_key(stage: str, inputs: dict[str, Any]) -> str:
    """The content key: stage code version plus canonical JSON of everything the stage reads."""
    canonical = json.dumps({"stage": stage, "code": code_version(stage), "inputs": inputs}, sort_keys=True,
                           default=str)  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class StageCache:
    """The records of one render folder."""

    root: Path

    def _record_path(self, stage: str, item: str) -> Path:
        return self.root / ".musicmaker" / "stages" / f"{stage}.{item}.json"

    def lookup(self, stage: str, item: str, key: str) -> dict[str, Any] | None:
        """The stored result of a finished stage with this key, if all its files are intact."""
        record = self._read(stage, item)
        if record is None or record["key"] != key:
            return None
        for rel, digest in record["files"].items():
            file = self.root / rel
            if not file.is_file() or file_digest(file) != digest:
                return None
        return dict(record["result"])

    def _read(self, stage: str, item: str) -> dict[str, Any] | None:
        """The record if it is readable and of the shape :meth:`store` writes; anything else means "redo"."""
        try:
            record = json.loads(self._record_path(stage, item).read_bytes())
        except (OSError, ValueError, RecursionError):  # unreadable, not UTF-8, not JSON, nested too deep
            return None
        if not (isinstance(record, dict) and isinstance(record.get("key"), str)
                and isinstance(record.get("result"), dict) and isinstance(record.get("files"), dict)):  # fmt: skip
            return None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in record["files"].items()):
            return None
        return record

    def forget(self, stage: str, item: str) -> None:
        """Drop a stage's record, so that the next render redoes that stage (``--only``)."""
        self._record_path(stage, item).unlink(missing_ok=True)

    def store(self, stage: str, item: str, key: str, files: list[Path], result: dict[str, Any]) -> None:
        record = {
            "key": key,
            "files": {p.relative_to(self.root).as_posix(): file_digest(p) for p in files},
            "result": result,
        }
        write_bytes_atomic(self._record_path(stage, item), json.dumps(record, default=str).encode())
