"""``render --dry-run``'s plan and the checks before a render: weights reachable from here, programs installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.pipeline import preflight
from flows.schema import Arrangement, parse_arrangement
from stems.errors import ModelUnavailableError, UserInputError

HEAD = "title: Plan Song\nbpm: 120\nkey: A minor\nduration: 40\nmodel: debug\nseparation_model: debug\n"
STEMS = (
    "stems:\n"
    "  - {name: keys, prompt: soft keys, midi: keys, conform: {tempo: false}}\n"
    "  - {name: drums, prompt: funk drums, separate: drums, conform: {tempo: false}}\n"
    "  - {name: lead, prompt: lead, model: debug-melody, follow: keys, midi: false, conform: {tempo: false}}\n"
)
BAND = (
    "band: {}\n"
    "stems:\n"
    "  - {name: drums, from: band, source: drums, prompt: tight drums}\n"
    "  - {name: keys, from: band, source: piano}\n"
)


def _song(tmp_path: Path, text: str) -> Arrangement:
    return parse_arrangement(text, tmp_path / "song.yaml")


def test_the_plan_lists_batches_windows_and_every_stem(tmp_path: Path) -> None:
    plan = preflight.check(_song(tmp_path, HEAD + STEMS), weights=False)
    assert json.loads(json.dumps(plan)) == plan  # plain data: `--json` prints it as it is
    assert [(b["model"], b["stems"]) for b in plan["batches"]] == [
        ("debug", ["keys", "drums"]),
        ("debug-melody", ["lead"]),
    ]
    assert (
        len(plan["windows"]) > 1 and plan["windows"][0]["start"] == 0.0 and plan["windows"][-1]["end"] == 40.0
    )
    assert plan["band"] is None and plan["sections"] == []
    assert plan["stems"]["drums"] == {
        "model": "debug",
        "from": None,
        "source": None,
        "follow": None,
        "separate": "drums",
        "midi": "drums",
        "takes": 1,
    }
    assert (plan["stems"]["lead"]["follow"], plan["stems"]["lead"]["midi"]) == ("keys", None)


def test_the_plan_names_the_band_take_and_its_split(tmp_path: Path) -> None:
    plan = preflight.check(_song(tmp_path, HEAD + BAND), weights=False)
    assert plan["band"] == {
        "prompt": "full band: tight drums, piano",
        "model": "debug",
        "separation_model": "debug_6s",
        "stems": {"drums": "drums", "keys": "piano"},
    }
    assert plan["stems"]["keys"]["from"] == "band" and [b["stems"] for b in plan["batches"]] == [["band"]]
    text = preflight.describe(plan)
    assert "split by debug_6s into drums (drums), keys (piano)" in text
    assert "stem keys: from the band take (source piano), midi piano" in text


def test_describe_reads_the_plan_for_people(tmp_path: Path) -> None:
    plan = preflight.check(_song(tmp_path, HEAD + STEMS), weights=False)
    lines = preflight.describe(plan).splitlines()
    assert lines[0] == f"Plan for 'Plan Song' (40 s, {len(plan['windows'])} window(s) per stem)"
    assert any(line.startswith("  batch 1: debug (") and "-> keys, drums" in line for line in lines)
    assert "  stem drums: model debug, follow None, separate drums, midi drums" in lines


def test_offline_models_need_no_weights_and_missing_weights_fail_fast(tmp_path: Path) -> None:
    preflight.check(_song(tmp_path, HEAD + STEMS))  # debug models are built offline: nothing to look up
    with pytest.raises(ModelUnavailableError, match="htdemucs_ft"):  # the test session is offline (conftest)
        preflight.check_weights(set(), {"htdemucs_ft", "debug"})


def test_conforming_stems_need_rubberband(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import stems.conform.warp as warp

    monkeypatch.setattr(warp.shutil, "which", lambda name: None)
    preflight.check(_song(tmp_path, HEAD + STEMS))  # conform off everywhere: Rubber Band is not needed
    conforming = HEAD + STEMS.replace("conform: {tempo: false}}\n", "}\n", 1)
    with pytest.raises(UserInputError, match="rubberband was not found"):
        preflight.check(_song(tmp_path, conforming))
    preflight.check(_song(tmp_path, conforming), weights=False)  # a dry run only plans


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0.5, "0.5 s"), (42.0, "42 s"), (185.0, "3 min 05 s"), (7620.0, "2 h 07 min")]
)
def test_durations_read_as_people_say_them(seconds: float, shown: str) -> None:
    assert preflight._clock(seconds) == shown
