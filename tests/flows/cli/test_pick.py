"""``musicmaker pick`` refusals (issue 25 point 3), before any Prefect work: exit 2 and one line naming what
is wrong. The pick itself, on a real render: tests/e2e/test_takes_render.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.cli import main
from flows.pipeline import TRACK_MANIFEST, render_lock

TAKE = {"take": 1, "seed": 5, "file": "takes/bass/1.wav", "scores": {}, "total": 0.5, "picked": True}


def render_folder(tmp_path: Path) -> Path:
    """A finished render's folder as far as pick reads it: a manifest with a stem with two takes and one without."""
    folder = tmp_path / "song"
    folder.mkdir()
    stems = {"bass": {"takes": [TAKE, {**TAKE, "take": 2, "picked": False}]}, "drums": {}}
    (folder / TRACK_MANIFEST).write_text(json.dumps({"stems": stems}))
    return folder


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nowhere", "bass", "1"], "is not a finished track render"),
        (["{folder}", "keys", "1"], "has no stem 'keys'; its stems are bass, drums (with takes: bass)"),
        (["{folder}", "drums", "1"], "stem 'drums' of"),
        (["{folder}", "bass", "3"], "stem 'bass' has takes 1-2; there is no take 3"),
    ],
)
def test_a_pick_that_cannot_be_made_exits_2_and_says_why(
    args: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = render_folder(tmp_path)
    argv = [a.format(folder=folder) if a != "nowhere" else str(tmp_path / "nowhere") for a in args]
    assert main(["pick", *argv]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err, err
    assert not (folder / ".musicmaker" / "picks.json").exists()  # nothing recorded


@pytest.mark.parametrize("take", ["0", "two"])
def test_a_take_that_is_not_a_number_from_1_is_a_usage_error(
    take: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["pick", str(render_folder(tmp_path)), "bass", take])
    assert (
        done.value.code == 2 and f"a take is a whole number from 1, got '{take}'" in capsys.readouterr().err
    )


def test_a_pick_during_a_render_into_the_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = render_folder(tmp_path)
    with render_lock(folder):
        assert main(["pick", str(folder), "bass", "2"]) == 2
    assert "is being rendered right now" in capsys.readouterr().err
    assert not (folder / ".musicmaker" / "picks.json").exists()
