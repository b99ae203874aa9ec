"""The import graph of flows/, stems/ and mixing/, read from the source (function-level imports included):
no cycles, and the layering ARCHITECTURE.md promises (stems and mixing never import flows; Prefect only in
flows.orchestration; no private name imported from another module)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import REPO

PACKAGES = ("flows", "stems", "mixing")


def module_files(root: Path) -> dict[str, Path]:
    """Every module of the project's packages under ``root``, by dotted name (a package by its ``__init__``)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for file in sorted((root / package).rglob("*.py")):
            parts = file.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return found


def imports(
    name: str, file: Path, modules: dict[str, Path]
) -> Iterator[tuple[str, ast.ImportFrom | ast.Import]]:
    """(imported project module, node) for every import statement of ``file``, at any depth."""
    package = name.split(".") if file.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, node
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) + 1 - node.level], *([base] if base else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in modules:
                    yield target, node
                elif base in modules:
                    yield base, node


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = module_files(root)
    return {
        name: {target for target, _ in imports(name, file, modules) if target != name}
        for name, file in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_project_has_no_import_cycle() -> None:
    assert find_cycle(import_graph(REPO)) is None


def test_a_function_level_import_cycle_is_found(tmp_path: Path) -> None:
    """The check is able to fail: the cycle the restructure removed (generate imported the window renderer
    inside a method, the renderer imported generate's types inside its functions) is reported."""
    (tmp_path / "stems").mkdir()
    (tmp_path / "stems" / "__init__.py").write_text("")
    (tmp_path / "stems" / "generate.py").write_text(
        "class Generator:\n    def generate(self):\n        from stems.musicgen_windows import render\n"
    )
    (tmp_path / "stems" / "musicgen_windows.py").write_text(
        "def render():\n    from stems.generate import GeneratedStem\n"
    )
    assert find_cycle(import_graph(tmp_path)) == [
        "stems.generate",
        "stems.musicgen_windows",
        "stems.generate",
    ]


def test_libraries_never_import_flows() -> None:
    graph = import_graph(REPO)
    wrong = {
        (m, t)
        for m, targets in graph.items()
        for t in targets
        if m.split(".")[0] in ("stems", "mixing") and t.split(".")[0] == "flows"
    }
    assert not wrong


@pytest.mark.parametrize("library", ["prefect"])
def test_only_orchestration_imports_prefect(library: str) -> None:
    users = set()
    for name, file in module_files(REPO).items():
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            if any(n.split(".")[0] == library for n in names):
                users.add(name)
    assert users and all(name.startswith("flows.orchestration") for name in users), sorted(users)


def test_no_module_imports_a_private_name_of_another() -> None:
    """``from a.b import _name`` across modules is a hidden dependency (tests and bench scripts included); a
    package's private module (``from mixing import _kernels`` inside mixing) is its own business."""
    modules = module_files(REPO)
    scripts = {
        ".".join(f.relative_to(REPO).with_suffix("").parts): f
        for d in ("tests", "bench")
        for f in sorted((REPO / d).rglob("*.py"))
        if "data" not in f.relative_to(REPO).parts
    }
    wrong = []
    for name, file in {**modules, **scripts}.items():
        package = name.split(".") if file.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or (node.module or "").split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                module = f"{node.module}.{alias.name}"
                own_private_module = module in modules and node.module == ".".join(package)
                if alias.name.startswith("_") and not own_private_module:
                    wrong.append(f"{name}: from {node.module} import {alias.name}")
    assert not wrong


def test_no_facade_name_hides_a_submodule() -> None:
    """A facade that exports a function named like one of its modules (``clean`` from ``clean.py``) makes
    ``import pkg.clean as m`` and ``monkeypatch.setattr("pkg.clean.x", ...)`` reach the function instead."""
    import importlib
    import types

    modules = module_files(REPO)
    hidden = []
    for name in modules:
        package, _, leaf = name.rpartition(".")
        if package in modules and modules[package].name == "__init__.py":
            value = getattr(importlib.import_module(package), leaf, None)
            if value is not None and not isinstance(value, types.ModuleType):
                hidden.append(name)
    assert not hidden
