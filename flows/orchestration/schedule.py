"""Album schedules: a Prefect deployment of ``render_album`` on a cron, served here or sent to a work pool.

On a pool, two deployments are made from this checkout: ``render_album/<name>`` (scheduled) and
``render_arrangement/<name>-track`` (one run per track), so the pool's workers share an album's tracks. Every
worker needs this code at the same path and the output folder on shared storage (see README, "Many machines").
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.schema import load_album, slugify
from stems.errors import UserInputError

REPO = Path(__file__).resolve().parents[2]
ALBUM_ENTRYPOINT = "flows/orchestration/album.py:render_album"
TRACK_ENTRYPOINT = "flows/orchestration/render.py:render_arrangement"
LOCAL_API_URL = "http://127.0.0.1:4200/api"  # where `prefect server start` serves its API by default
NO_SERVER = (
    "album schedule needs a Prefect server that keeps running: without PREFECT_API_URL, Prefect's embedded API "
    "lives only as long as this command and cannot schedule runs. Start one with `prefect server start` (in "
    f"another terminal, or as a service), then `export PREFECT_API_URL={LOCAL_API_URL}` and run this command "
    'again (README, "Albums and schedules")'
)


@dataclass(frozen=True)
class AlbumSchedule:
    album_file: Path
    cron: str
    timezone: str
    out_dir: Path
    name: str

    @property
    def track_deployment_name(self) -> str:
        return f"{self.name}-track"

    def parameters(self, track_deployment: str | None) -> dict[str, Any]:
        return {
            "album_file": str(self.album_file),
            "out_dir": str(self.out_dir),
            "force": True,
            "track_deployment": track_deployment,
        }


def make_schedule(
    album_file: Path, cron: str, timezone: str, out_dir: Path, name: str | None
) -> AlbumSchedule:
    """Validate the album, the cron expression and the time zone before anything is created."""
    from prefect._vendor.croniter import croniter  # the parser Prefect validates schedules with

    album, _ = load_album(album_file)
    if not croniter.is_valid(cron):
        raise UserInputError(
            f'--cron {cron!r} is not a cron expression; use five fields, e.g. "0 3 * * *" for 03:00 every day'
        )
    _check_timezone(timezone)
    return AlbumSchedule(
        album_file.resolve(), cron, timezone, out_dir.resolve(), name or slugify(album.title)
    )


def _check_timezone(timezone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserInputError(
            f"--timezone {timezone!r} is not an IANA time zone; use e.g. UTC or Europe/Paris"
        ) from None


def check_server(pool: str | None) -> None:
    """Refuse a schedule nothing would run, before any deployment is made or served (exit 2, issue 22).

    Without ``PREFECT_API_URL`` Prefect's embedded API lives only as long as this command and cannot schedule runs
    ("Cannot schedule flows on an ephemeral server"), so it would serve forever and never run the album. A server
    that cannot be reached, or a pool it does not hold, would end in Prefect's traceback.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise UserInputError(NO_SERVER)
    with get_client(sync_client=True) as client:
        if (failure := client.api_healthcheck()) is not None:
            raise UserInputError(
                f"cannot reach the Prefect API at {url} (PREFECT_API_URL): {failure}; start the server with "
                "`prefect server start`, or set PREFECT_API_URL to the URL of a running one"
            )
        try:
            if pool:
                client.read_work_pool(pool)
        except ObjectNotFound:
            raise UserInputError(
                f"--pool {pool!r}: the Prefect server at {url} has no work pool of that name; create it with "
                f'`prefect work-pool create {pool} --type process` (README, "Many machines"), or see the pools '
                "there with `prefect work-pool ls`"
            ) from None


def _cron(plan: AlbumSchedule) -> Any:
    from prefect.schedules import Cron

    return Cron(plan.cron, timezone=plan.timezone)


def deploy_to_pool(plan: AlbumSchedule, pool: str) -> list[str]:
    """Create/update the album and track deployments on ``pool`` from this checkout; returns their names."""
    from prefect import flow

    with contextlib.redirect_stdout(io.StringIO()):  # Prefect prints its own tables; the CLI reports instead
        return _deploy(plan, pool, flow)


def _deploy(plan: AlbumSchedule, pool: str, flow: Any) -> list[str]:
    track = flow.from_source(source=str(REPO), entrypoint=TRACK_ENTRYPOINT)
    track.deploy(
        name=plan.track_deployment_name,
        work_pool_name=pool,
        print_next_steps=False,
        ignore_warnings=True,
        description="one track of a musicmaker album",
    )
    track_ref = f"render_arrangement/{plan.track_deployment_name}"
    album = flow.from_source(source=str(REPO), entrypoint=ALBUM_ENTRYPOINT)
    album.deploy(
        name=plan.name,
        work_pool_name=pool,
        schedules=[_cron(plan)],
        print_next_steps=False,
        ignore_warnings=True,
        parameters=plan.parameters(track_ref),
        description=f"render {plan.album_file.name} on a schedule",
    )
    return [f"render_album/{plan.name}", track_ref]


def serve_here(plan: AlbumSchedule) -> None:
    """Serve the scheduled album deployment from this process until interrupted."""
    from flows.orchestration.album import render_album

    render_album.serve(
        name=plan.name, schedules=[_cron(plan)], parameters=plan.parameters(None), print_starting_message=True
    )
