"""The mixing facade: every public name resolves to its module's object, lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mixing


@pytest.mark.parametrize("name", mixing.__all__)
def test_every_facade_name_is_its_modules_object(name: str) -> None:
    import importlib

    module, attribute = mixing.HOMES[name]
    assert getattr(mixing, name) is getattr(importlib.import_module(module), attribute)
    assert not isinstance(getattr(mixing, name), type(mixing))  # never a submodule under a function's name


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'limiter_gain'"):
        _ = mixing.limiter_gain


def test_the_schemas_targets_load_without_the_dsp_stack() -> None:
    code = (
        "import sys, mixing.targets; print(sorted(m for m in ('mixing.master', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
