"""Process-level defaults that respect users, applied by the CLI and the tests before Prefect is imported."""

from __future__ import annotations

import os
import signal
import threading

# Prefect's anonymous usage analytics stay off unless the user turns them on explicitly.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Render logs are ours to print; Prefect's per-task INFO lines would bury the progress bars.
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # Prefect's 20 s for its embedded API server to answer is too short on a loaded machine (the render then
    # fails with "Timed out while attempting to connect to ephemeral Prefect API server"); Ctrl-C still stops it.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def apply_prefect_defaults() -> None:
    """Set each default only where the user has not set the variable; a set ``PREFECT_API_URL`` is honoured."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def claim_stop_signals() -> None:
    """Make SIGINT and SIGTERM stop this process even where its parent had them ignored (issue 22).

    A shell starts a script's background jobs (``musicmaker render ... &``) with SIGINT ignored, so that a Ctrl-C
    meant for the script spares them. A render cannot be spared: the embedded Prefect API server it starts is
    uvicorn, which installs its own handlers and stops on the same Ctrl-C (a terminal sends it to the whole process
    group), and a render whose server is gone would wait for it forever. So a render takes both signals back (the
    interpreter's defaults) before it loads anything; ``flows.orchestration.lifecycle.stoppable`` then handles
    them. A handler installed by the program embedding the CLI is kept. Main thread only, as ``signal`` requires.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
        if signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, default)
