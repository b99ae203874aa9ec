"""Property tests: no YAML text or structure, however odd, makes `musicmaker validate` crash.

Every run must exit 0 or 2, print no traceback, and on exit 2 print only `FILE:LINE:COL: field: message`
lines whose line numbers exist in the file. ~260 examples in all, a few seconds.
"""

from __future__ import annotations

import contextlib
import io
import re
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.cli import main
from flows.schema import SchemaError, parse_arrangement

LINE_RE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<field>\S+): (?P<message>.+)$")
VALID = {
    "title": "Fuzz",
    "bpm": 120,
    "key": "A minor",
    "duration": 30,
    "sections": [{"name": "intro", "bars": 4, "prompt": "soft"}],
    "stems": [
        {"name": "drums", "prompt": "drums", "midi": "drums"},
        {"name": "bass", "prompt": "bass", "follow": "drums", "model": "facebook/musicgen-melody"},
    ],
    "generation": {"temperature": 1.0},
    "master": {"formats": ["wav"]},
    "midi": {"quantize": "1/8"},
}
SCHEMA_KEYS = [
    "title",
    "bpm",
    "key",
    "duration",
    "stems",
    "name",
    "prompt",
    "follow",
    "melody",
    "sections",
    "bars",
    "master",
    "formats",
    "midi",
    "generation",
    "$schema",
    "source",
    "pan",
    "<<",
]
FUZZ = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["drums", "A minor", "4/4", "wav", "1/8", "", " ", "x" * 300]),
)
keys = st.one_of(st.sampled_from(SCHEMA_KEYS), st.text(max_size=12))
structures = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)
yamlish = st.text(
    alphabet=string.ascii_letters[:6] + string.digits[:4] + ":-[]{}&*!|>'\"#,?%@ \n\t\\", max_size=160
)
texts = st.one_of(yamlish, st.text(max_size=160))


@pytest.fixture(scope="module")
def song_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "song.yaml"


def _validate_bytes(path: Path, data: bytes) -> int:
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", str(path)])
    assert code in (0, 2), err.getvalue()
    assert "Traceback" not in err.getvalue()
    if code == 0:
        assert out.getvalue() == f"{path}: ok\n" and err.getvalue() == ""
        return code
    rows = err.getvalue().splitlines()
    # YAML 1.1 also breaks lines at \r, NEL, LS and PS (and editors count those lines too)
    n_lines = len(re.split("\r\n|[\n\r\x85\u2028\u2029]", data.decode("utf-8", "replace")))
    for row in rows:
        match = LINE_RE.match(row)
        assert match and match["file"] == str(path), row
        assert 1 <= int(match["line"]) <= n_lines and int(match["col"]) >= 1, row
    return code


@FUZZ
@given(text=texts)
def test_random_text_never_crashes(song_path: Path, text: str) -> None:
    _validate_bytes(song_path, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(data=structures)
def test_random_structures_never_crash(song_path: Path, data: Any) -> None:
    _validate_bytes(song_path, yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogatepass"))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        found += [p for k, v in value.items() for p in _paths(v, prefix + (k,))]
    elif isinstance(value, list):
        found += [p for i, v in enumerate(value) for p in _paths(v, prefix + (i,))]
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, 10_000), new=structures)
def test_valid_arrangement_with_one_value_replaced_never_crashes(
    song_path: Path, index: int, new: Any
) -> None:
    paths = _paths(VALID)
    mutated = _replace(VALID, paths[index % len(paths)], new)
    _validate_bytes(song_path, yaml.safe_dump(mutated, allow_unicode=True).encode("utf-8", "surrogatepass"))


def test_the_unmutated_base_is_valid(song_path: Path) -> None:
    assert _validate_bytes(song_path, yaml.safe_dump(VALID).encode()) == 0


@settings(max_examples=40, deadline=None)
@given(text=st.one_of(texts, st.text(alphabet=st.characters(codec=None), max_size=80)))
def test_parse_arrangement_raises_only_schema_error(text: str) -> None:
    """The text API too (lone surrogates included): a valid Arrangement or a SchemaError, nothing else."""
    try:
        song = parse_arrangement(text, Path("fuzz.yaml"))
    except SchemaError as err:
        assert err.problems and all(p.line >= 1 and p.col >= 1 for p in err.problems)
    else:
        assert song.stems
