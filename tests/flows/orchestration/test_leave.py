"""``lifecycle.leave``: the process's last line on stderr is why it ended, whatever another thread was printing.

Seen in CI (issue 22): a thread inside Prefect had printed an error message but not yet its newline when the
signal watch left (stderr is written through), and ``interrupted`` ran into it: "...failedinterrupted".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

LEAVE = """
import signal, sys
from flows.orchestration.lifecycle import leave
sys.stderr.write({text!r})
leave(signal.SIGINT)
"""


def _stderr(text: str, sink: str, tmp_path: Path) -> str:
    """What a process that printed ``text`` to stderr and then left on SIGINT wrote there (a pipe or a file)."""
    code = LEAVE.format(text=text)
    if sink == "pipe":
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode == 130
        return done.stderr
    log = tmp_path / "stderr.txt"
    with log.open("wb") as err:
        assert subprocess.run([sys.executable, "-c", code], stderr=err, timeout=60).returncode == 130
    return log.read_text()


@pytest.mark.parametrize("sink", ["pipe", "file"])
def test_leave_ends_on_a_line_of_its_own_after_a_half_printed_one(sink: str, tmp_path: Path) -> None:
    err = _stderr("a whole line\na message whose newline never came", sink, tmp_path)
    assert err.splitlines()[-2:] == ["a message whose newline never came", "interrupted"], err
    assert err.startswith("a whole line\n")


def test_after_whole_lines_in_a_file_no_empty_line_is_added(tmp_path: Path) -> None:
    assert _stderr("a whole line\n", "file", tmp_path) == "a whole line\ninterrupted\n"
    assert _stderr("", "file", tmp_path) == "interrupted\n"
