"""The Prefect layer, and the only one: the track render flow and its task graph, the album flow, schedules
and deployments, the `gpu` concurrency limit, progress artifacts. Importing it imports Prefect: callers apply
``flows.cli.settings.apply_prefect_defaults`` first."""

from __future__ import annotations

from flows.orchestration import schedule
from flows.orchestration.album import render_album
from flows.orchestration.render import render_arrangement

__all__ = [
    "render_album",
    "render_arrangement",
    "schedule",
]
