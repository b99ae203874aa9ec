"""Content-addressed stage cache: a stage is redone only when its inputs, model, seed, code or upstream outputs change.

Each stage output of a render folder has a record ``.musicmaker/stages/<stage>.<stem>.json`` holding the key it was
made with and the sha256 of every file it wrote. A stage is reused when the key matches and every file is still there
with the same hash, so a render killed at any point resumes with the stages that finished, and an edit to one stem's
prompt redoes that stem and what depends on it only. Records are written after their files, atomically.

A stage's code version hashes the modules it runs, found by reading their import statements (:func:`stage_modules`),
so a helper module added to a stage's library counts without anyone listing it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, get_args

from flows.pipeline.paths import STATE_DIR
from stems.audio import write_bytes_atomic

Stage = Literal["generate", "separate", "clean", "conform", "score", "transcribe", "mix"]
STAGES: tuple[Stage, ...] = get_args(Stage)
# The library packages: every module of theirs a stage imports, inside functions too, is part of its code.
LIBRARY_PACKAGES = ("stems", "mixing")
# The modules each stage runs. A `flows` module counts with its module-level library imports but is not followed
# into other `flows` modules nor into its in-function imports: flows/pipeline/stages.py imports every stage's library
# inside the function that runs it (heavy imports live there), so those libraries are named per stage here.
STAGE_CODE: dict[Stage, tuple[str, ...]] = {
    "generate": (
        "flows.pipeline.generation",
        "flows.pipeline.redo",  # section redos and their splice (stems.musicgen.splice)
        "flows.pipeline.sections",
        "flows.pipeline.score",  # guides and sketch stems
        "stems.score",
        "stems.musicgen.generator",
        "stems.musicgen.plan",
        "stems.musicgen.splice",
        "stems.musicgen.chroma",
        "stems.separation.separator",
        "stems.musicgen.models",
    ),
    "separate": ("flows.pipeline.stages", "flows.pipeline.band", "stems.separation.separator"),
    "clean": ("flows.pipeline.stages", "stems.separation.cleanup"),
    "conform": ("flows.pipeline.stages", "stems.conform"),
    "score": ("flows.pipeline.takes", "stems.takes", "stems.musicgen.models"),  # a take's scores
    "transcribe": (
        "flows.pipeline.stages",
        "stems.transcription.transcriber",
        "stems.transcription.midi",
        "stems.score",  # the track MIDI's chord track and markers (flows.pipeline.stages.write_track_midi)
    ),
    "mix": ("flows.pipeline.stages", "stems.conform", "mixing.mix", "mixing.master", "mixing.export"),
}


def module_file(name: str) -> Path:
    """The source file of first-party module ``name`` (a package's ``__init__.py``); ModuleNotFoundError if none."""
    top, *rest = name.split(".")
    spec = importlib.util.find_spec(top) if top in ("flows", *LIBRARY_PACKAGES) else None
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{name!r} is not a module of musicmaker's flows, stems or mixing packages")
    base = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)
    for file in (base / "__init__.py", base.with_suffix(".py")):
        if file.is_file():
            return file
    raise ModuleNotFoundError(f"no module {name!r} (looked for {base}.py and {base}/__init__.py)")


def _is_module(name: str) -> bool:
    try:
        module_file(name)
    except ModuleNotFoundError:
        return False
    return True


def _imported(name: str, module_level_only: bool) -> set[str]:
    """The first-party modules ``name`` imports (``from a import b`` counts ``a`` and ``a.b`` when a module)."""
    file = module_file(name)
    tree = ast.parse(file.read_bytes(), str(file))
    package = (name if file.name == "__init__.py" else name.rpartition(".")[0]).split(".")
    found: set[str] = set()
    for node in tree.body if module_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parent = ".".join(package[: len(package) + 1 - node.level]) if node.level else ""
            base = ".".join(part for part in (parent, node.module or "") if part)
            found.update([base, *(f"{base}.{alias.name}" for alias in node.names)])
    return {module for module in found if module.split(".")[0] in LIBRARY_PACKAGES and _is_module(module)}


def _package_modules(name: str) -> list[str]:
    """Every module in the folder of package ``name`` (none for a plain module)."""
    file = module_file(name)
    if file.name != "__init__.py":
        return []
    files = sorted(p for p in file.parent.rglob("*.py") if p.name != "__init__.py")
    return [".".join([name, *p.relative_to(file.parent).with_suffix("").parts]) for p in files]


@cache
def stage_modules(stage: Stage) -> tuple[str, ...]:
    """Every module whose code decides ``stage``'s output: its :data:`STAGE_CODE` entries (each must exist), the
    library modules they import, directly or through each other, and every module of a package entry's folder."""
    todo: list[str] = []
    for entry in STAGE_CODE[stage]:
        module_file(entry)  # a missing entry is an error, never skipped
        library = entry.split(".")[0] in LIBRARY_PACKAGES
        todo += [entry, *_package_modules(entry)] if library else _imported(entry, module_level_only=True)
    found = set(STAGE_CODE[stage])
    followed: set[str] = set()
    while todo:
        module = todo.pop()
        if module not in followed:
            followed.add(module)
            todo += _imported(module, module_level_only=False)
    return tuple(sorted(found | followed))


@cache
def code_version(stage: Stage) -> str:
    """Hash of the package version and the source of every module the stage runs (:func:`stage_modules`)."""
    digest = hashlib.sha256(metadata.version("musicmaker").encode())
    for module in stage_modules(stage):
        digest.update(module.encode() + b"\0" + module_file(module).read_bytes())
    return digest.hexdigest()[:16]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_key(stage: Stage, inputs: dict[str, Any]) -> str:
    """The content key: stage code version plus canonical JSON of everything the stage reads."""
    canonical = json.dumps(
        {"stage": stage, "code": code_version(stage), "inputs": inputs}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class StageCache:
    """The records of one render folder."""

    root: Path

    def _record_path(self, stage: Stage, item: str) -> Path:
        return self.root / STATE_DIR / "stages" / f"{stage}.{item}.json"

    def lookup(self, stage: Stage, item: str, key: str) -> dict[str, Any] | None:
        """The stored result of a finished stage with this key, if all its files are intact."""
        record = self._read(stage, item)
        if record is None or record["key"] != key:
            return None
        for rel, digest in record["files"].items():
            file = self.root / rel
            if not file.is_file() or file_digest(file) != digest:
                return None
        return dict(record["result"])

    def _read(self, stage: Stage, item: str) -> dict[str, Any] | None:
        """The record if it is readable and of the shape :meth:`store` writes; anything else means "redo"."""
        try:
            record = json.loads(self._record_path(stage, item).read_bytes())
        except (OSError, ValueError, RecursionError):  # unreadable, not UTF-8, not JSON, nested too deep
            return None
        if not (
            isinstance(record, dict)
            and isinstance(record.get("key"), str)
            and isinstance(record.get("result"), dict)
            and isinstance(record.get("files"), dict)
        ):
            return None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in record["files"].items()):
            return None
        return record

    def forget(self, stage: Stage, item: str) -> None:
        """Drop a stage's record, so that the next render redoes that stage (``--only``)."""
        self._record_path(stage, item).unlink(missing_ok=True)

    def store(self, stage: Stage, item: str, key: str, files: list[Path], result: dict[str, Any]) -> None:
        record = {
            "key": key,
            "files": {p.relative_to(self.root).as_posix(): file_digest(p) for p in files},
            "result": result,
        }
        write_bytes_atomic(self._record_path(stage, item), json.dumps(record, default=str).encode())
