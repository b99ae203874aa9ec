"""The example arrangements and albums stay valid, and the JSON Schemas editors read stay current."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import yaml

from flows.cli import main
from flows.schema import arrangement_json_schema, load_arrangement
from flows.schema.album import album_json_schema, load_album
from tests.conftest import REPO

ARRANGEMENTS = REPO / "arrangements"
TRACKS = sorted(p for p in ARRANGEMENTS.glob("*.yaml") if p.name != "album.yaml")


@pytest.mark.parametrize("path", TRACKS, ids=lambda p: p.name)
def test_example_arrangements_validate(path: Path) -> None:
    arrangement = load_arrangement(path)
    assert arrangement.stems
    first_line = path.read_text().splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=arrangement.schema.json"


def test_night_drive_is_five_minutes_with_melody_and_follow() -> None:
    song = load_arrangement(ARRANGEMENTS / "night-drive.yaml")
    assert song.duration == 300 and len(song.sections) >= 5 and song.melody is not None
    assert {s.follow for s in song.stems} >= {"keys"}


def test_example_album_loads() -> None:
    album, tracks = load_album(ARRANGEMENTS / "album.yaml")
    assert len(tracks) == 2 and tracks[1].model == "debug-stereo"  # the album default reaches inline tracks


@pytest.mark.parametrize(
    ("kind", "make"), [("arrangement", arrangement_json_schema), ("album", album_json_schema)]
)
def test_committed_json_schemas_are_current(
    kind: str, make: object, capsys: pytest.CaptureFixture[str]
) -> None:
    committed = json.loads((ARRANGEMENTS / f"{kind}.schema.json").read_text())
    assert committed == make()  # type: ignore[operator]
    assert main(["schema", kind]) == 0
    assert json.loads(capsys.readouterr().out) == committed


def test_prefect_yaml_deployments_load_and_take_their_parameters() -> None:
    from prefect.flows import load_flow_from_entrypoint

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    for deployment in spec["deployments"]:
        flow = load_flow_from_entrypoint(str(REPO / deployment["entrypoint"]))
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(deployment.get("parameters", {})) <= accepted, deployment["name"]
