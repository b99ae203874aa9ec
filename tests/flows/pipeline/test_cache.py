"""The stage cache on its own: when a record is reused, when it is not, and what a stage's code version covers.

The end-to-end side (a render that resumes, redoes a corrupt stage, keeps unchanged stems) is in
tests/e2e/test_render_folder.py; here every case is one call, without Prefect or audio.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.pipeline import cache
from flows.pipeline.cache import (
    STAGE_CODE,
    STAGES,
    StageCache,
    code_version,
    file_digest,
    stage_key,
    stage_modules,
)


@pytest.fixture(autouse=True)
def _fresh_versions() -> Iterator[None]:
    """Code versions are cached per process; a test that moves a module must not leak its version."""
    code_version.cache_clear()
    stage_modules.cache_clear()
    yield
    code_version.cache_clear()
    stage_modules.cache_clear()


def _stored(root: Path, content: bytes = b"audio") -> tuple[StageCache, Path]:
    out = root / "stems" / "keys.wav"
    out.parent.mkdir(parents=True)
    out.write_bytes(content)
    store = StageCache(root)
    store.store("clean", "keys", "K", [out], {"cleaned": True, "samples": 5})
    return store, out


def test_a_stored_result_is_found_with_its_key(tmp_path: Path) -> None:
    store, out = _stored(tmp_path)
    assert store.lookup("clean", "keys", "K") == {"cleaned": True, "samples": 5}
    record = json.loads((tmp_path / ".musicmaker" / "stages" / "clean.keys.json").read_text())
    assert record["files"] == {"stems/keys.wav": file_digest(out)}
    assert store.lookup("clean", "keys", "other key") is None
    assert store.lookup("clean", "lead", "K") is None and store.lookup("conform", "keys", "K") is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"null",
        b'{"key": "K"}',
        b'{"key": 1, "files": {}, "result": {}}',
        b'{"key": "K", "files": {"stems/keys.wav": 7}, "result": {}}',
        b'{"key": "K", "files": {}, "result": [1]}',
        b"[" * 100_000,
    ],
)
def test_a_corrupt_record_means_redo(tmp_path: Path, content: bytes) -> None:
    store, _ = _stored(tmp_path)
    (tmp_path / ".musicmaker" / "stages" / "clean.keys.json").write_bytes(content)
    assert store.lookup("clean", "keys", "K") is None


def test_a_missing_or_changed_output_file_means_redo(tmp_path: Path) -> None:
    store, out = _stored(tmp_path)
    out.write_bytes(b"audiO")  # same size, other bytes
    assert store.lookup("clean", "keys", "K") is None
    out.write_bytes(b"audio")
    assert store.lookup("clean", "keys", "K") is not None
    out.unlink()
    assert store.lookup("clean", "keys", "K") is None


def test_forget_drops_the_record_only(tmp_path: Path) -> None:
    store, out = _stored(tmp_path)
    store.forget("clean", "keys")
    assert store.lookup("clean", "keys", "K") is None and out.is_file()
    store.forget("clean", "keys")  # forgetting twice is fine


def test_a_changed_upstream_output_changes_the_key(tmp_path: Path) -> None:
    upstream = tmp_path / "raw.wav"
    upstream.write_bytes(b"take one")
    key = stage_key("clean", {"audio": file_digest(upstream), "family": "keys"})
    assert key == stage_key("clean", {"family": "keys", "audio": file_digest(upstream)})  # canonical JSON
    upstream.write_bytes(b"take two")
    assert stage_key("clean", {"audio": file_digest(upstream), "family": "keys"}) != key
    assert stage_key("conform", {"audio": file_digest(upstream), "family": "keys"}) != stage_key(
        "clean", {"audio": file_digest(upstream), "family": "keys"}
    )


def _moved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> Path:
    """Serve module ``name`` from a copy under ``tmp_path``, as if its file were edited there."""
    real = cache.module_file
    copy = tmp_path / f"{name}.py"
    copy.write_bytes(real(name).read_bytes())
    monkeypatch.setattr(cache, "module_file", lambda module: copy if module == name else real(module))
    return copy


def test_changed_code_changes_the_stages_that_run_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = _moved(monkeypatch, tmp_path, "stems.separation.cleanup")
    before = {stage: code_version(stage) for stage in STAGES}
    key = stage_key("clean", {"audio": "abc"})
    copy.write_bytes(copy.read_bytes() + b"\n# an edit\n")
    code_version.cache_clear()
    after = {stage: code_version(stage) for stage in STAGES}
    assert before["clean"] != after["clean"] and stage_key("clean", {"audio": "abc"}) != key
    assert {s for s in STAGES if before[s] != after[s]} == {
        s for s in STAGES if "stems.separation.cleanup" in stage_modules(s)
    }


def test_a_helper_module_counts_without_being_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """stems.musicgen.windows is named nowhere in STAGE_CODE: generation reaches it through stems.musicgen.generator."""
    assert "stems.musicgen.windows" not in STAGE_CODE["generate"]
    assert "stems.musicgen.windows" in stage_modules("generate")
    copy = _moved(monkeypatch, tmp_path, "stems.musicgen.windows")
    before = code_version("generate")
    copy.write_bytes(copy.read_bytes() + b"\n# an edit\n")
    code_version.cache_clear()
    assert code_version("generate") != before


def test_stage_modules_follow_the_library_not_the_flows_layer() -> None:
    clean = stage_modules("clean")
    assert {
        "flows.pipeline.stages",
        "stems.separation.cleanup",
        "stems.audio",
        "stems.errors",
        "stems.instruments",
    } <= set(clean)
    assert not any(
        m.startswith("mixing") for m in clean
    )  # flows/pipeline/stages.py imports mixing only for the mix
    assert "flows.schema" not in clean and "flows.pipeline.cache" not in clean
    assert {"mixing.master", "mixing.limiter", "mixing.truepeak", "stems.conform.analysis"} <= set(
        stage_modules("mix")
    )
    conform = stage_modules("conform")  # a package entry brings its whole folder
    assert {
        f"stems.conform.{p.stem}" for p in cache.module_file("stems.conform").parent.glob("[!_]*.py")
    } <= set(conform)


def test_every_library_a_flows_stage_module_imports_counts() -> None:
    """A flows module's in-function imports are its stages' libraries: each must count for a stage that names it."""
    for entry in {m for modules in STAGE_CODE.values() for m in modules if m.startswith("flows.")}:
        counted = set().union(*(stage_modules(s) for s in STAGES if entry in STAGE_CODE[s]))
        assert cache._imported(entry, module_level_only=False) <= counted, entry


def test_every_stage_has_code_and_a_missing_module_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(STAGE_CODE) == set(STAGES)
    assert all(len(code_version(stage)) == 16 for stage in STAGES)
    monkeypatch.setitem(STAGE_CODE, "clean", ("flows.pipeline.stages", "stems.cleanup"))  # a renamed module
    stage_modules.cache_clear()
    code_version.cache_clear()
    with pytest.raises(ModuleNotFoundError, match="stems.cleanup"):
        code_version("clean")
    with pytest.raises(ModuleNotFoundError, match="numpy"):
        cache.module_file("numpy")


def test_relative_imports_resolve_in_their_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = cache.module_file
    fake = tmp_path / "fake.py"
    fake.write_text("from . import keys\nfrom .records import Grid\nfrom .. import audio\nimport numpy\n")
    name = "stems.conform.fake"
    monkeypatch.setattr(cache, "module_file", lambda module: fake if module == name else real(module))
    found = cache._imported(name, module_level_only=True)
    assert found == {"stems.conform", "stems.conform.keys", "stems.conform.records", "stems", "stems.audio"}
