"""Process-level defaults that respect users, applied by the CLI and the tests before Prefect is imported."""

from __future__ import annotations

import os

# Prefect's anonymous usage analytics stay off unless the user turns them on explicitly.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Render logs are ours to print; Prefect's per-task INFO lines would bury the progress bars.
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


def apply_prefect_defaults() -> None:
    """Set each default only where the user has not set the variable; a set ``PREFECT_API_URL`` is honoured."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
