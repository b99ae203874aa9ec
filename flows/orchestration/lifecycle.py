"""How a render process ends: SIGINT and SIGTERM stop it within seconds, and no child process outlives it.

Used by the CLI around a render; it may leave the process (``os._exit``), so library code never calls it.

Why a signal is not left to Python and Prefect:

- Prefect runs tasks in a thread pool. On Ctrl-C the main thread gets ``KeyboardInterrupt``, but Prefect's task
  runner then joins its worker threads (``cancel_all`` shuts its executor down with ``wait=True``), and a thread
  inside torch, waiting on an upstream future that will never resolve, or retrying a call to the API server that
  the same Ctrl-C killed (it is in the terminal's process group) does not return. Python cannot stop another
  thread, so after :data:`GRACE_SECONDS` the process leaves with ``os._exit``. That is safe for the outputs: every
  stage writes a temporary file and ``os.replace``-s it (``stems.audio``), so a hard exit leaves ``.part`` files
  only, which the next render removes, and finished stages stay in the stage cache (``flows.pipeline.cache``) for reuse.
- During a flow run Prefect swaps the SIGTERM handler for its own (``capture_sigterm``) and calls the previous one
  only after its cleanup, the part that blocks. So signals are watched through ``signal.set_wakeup_fd``, which the
  interpreter writes to on every signal it handles, whichever Python handler is installed.
- A terminal's Ctrl-C reaches the whole process group, the embedded API server too, and uvicorn stops on it whatever
  it inherited. So a render never ignores the stop signals (``flows.cli.settings.claim_stop_signals`` takes back an
  inherited SIG_IGN), and after the flow, while Prefect's exit hooks stop that server and flush events to it (13 s
  and exit 0 were seen when the server was already gone), a stop signal ends the process at once (issue 22).

Why a watchdog process: without ``PREFECT_API_URL`` Prefect starts its API server as a child (uvicorn, in
``SubprocessASGIServer``) and stops it in an ``atexit`` hook, which SIGKILL, the OOM killer and ``os._exit`` skip:
the server is adopted by init and lives on. Prefect offers no hook into that ``Popen``, so neither a process group
of its own nor ``PR_SET_PDEATHSIG`` (which would fire when the spawning *thread* exits, and that may be a
short-lived worker) can be set on it. Instead a small watchdog process, in a session of its own, polls for the
children of the render and holds the read end of a pipe whose write end only the render holds: the kernel closes it
when the render ends, however it ends, and the watchdog then stops every child it saw (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any, NoReturn

GRACE_SECONDS = 4.0  # from the signal to os._exit when the main thread cannot unwind (issue 11: under 10 s)
STOP_SIGNALS = {signal.SIGINT: "interrupted", signal.SIGTERM: "interrupted (SIGTERM)"}
# Handlers replaced while a render runs: SIG_DFL SIGTERM would kill at once. A handler installed by the program
# that embeds the CLI is respected; an inherited SIG_IGN was taken back by the CLI (module docstring).
_DEFAULT_HANDLERS: dict[signal.Signals, Any] = {
    signal.SIGINT: signal.default_int_handler,
    signal.SIGTERM: signal.SIG_DFL,
}
SCAN_SECONDS = 0.5  # how often the watchdog looks for new children of the render
TERM_SECONDS = 5.0  # how long a child has to exit on SIGTERM before the watchdog sends SIGKILL

_leaving = threading.Lock()
_watchdog_pipe: int | None = None  # write end, held open for the life of the process
_watchdog_pid: int | None = None
_lingering: _SignalWatch | None = None  # the watch left in place after a render that owns the embedded server


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signum


def leave(signum: int) -> NoReturn:
    """Say why and end the process now, without joining worker threads (see the module docstring)."""
    with _leaving:  # a second caller waits here for the first one's exit
        _flush_streams(timeout=0.5)
        terminal = os.isatty(1)
        if terminal:  # show the cursor a progress bar may have hidden, and end the terminal's line
            os.write(1, b"\x1b[?25h\n")
        _stop_own_children(CHILD_EXIT_SECONDS)
        newline = b"" if (terminal and os.isatty(2)) or _ends_a_line(2) else b"\n"
        os.write(2, newline + f"{STOP_SIGNALS.get(signal.Signals(signum), 'interrupted')}\n".encode())
        os._exit(exit_code(signum))


# How long leaving waits for its children to end, so that what they print as they die (the embedded server,
# stopped by the same Ctrl-C while importing, prints a KeyboardInterrupt traceback) comes before our last line.
CHILD_EXIT_SECONDS = 1.0


def _stop_own_children(wait: float) -> None:
    """SIGTERM this process's children (the embedded API server, Rubber Band, ffmpeg), the watchdog excepted,
    and wait up to ``wait`` s for them to end.

    The watchdog SIGKILLs those that linger, but it sees a child only on its next scan (SCAN_SECONDS): a server
    started just before the signal may not have been seen yet. Our children's pids cannot be reused before we
    reap them, and a pidfd is used all the same.
    """
    if not hasattr(os, "pidfd_open") or not os.path.isdir("/proc/self"):
        return
    me, fds = os.getpid(), []
    for pid in _children(me):
        if pid != _watchdog_pid and (fd := _open_child(pid, me)) is not None:
            with suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, signal.SIGTERM)
            fds.append(fd)
    deadline = time.monotonic() + wait
    while fds and time.monotonic() < deadline:
        done = _exited(fds, deadline - time.monotonic())
        fds = [fd for fd in fds if fd not in done]
        for fd in done:
            os.close(fd)
    for fd in fds:
        os.close(fd)


def _ends_a_line(fd: int) -> bool:
    """Whether what was written to ``fd`` so far ends a line: known for a regular file (Linux), assumed not
    otherwise.

    Another thread may be printing when a signal ends the process (Prefect's client, whose server the same Ctrl-C
    stopped), and stderr is written through, so half its line may be out already; our last line must not run
    into it ("All connection attempts failedinterrupted", seen in CI). In a pipe that costs an empty line.
    """
    with suppress(OSError):
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_size == 0:
            return True
        if stat.S_ISREG(info.st_mode):  # opened write-only: read it through a second descriptor
            with open(f"/proc/self/fd/{fd}", "rb") as written:
                return os.pread(written.fileno(), 1, info.st_size - 1) == b"\n"
    return False


def _flush_streams(timeout: float) -> None:
    """Flush stdout and stderr, unless another thread holds them (then a flush would block this exit)."""

    def flush() -> None:
        for stream in (sys.stdout, sys.stderr):
            with suppress(Exception):
                stream.flush()

    flusher = threading.Thread(target=flush, daemon=True)
    flusher.start()
    flusher.join(timeout)


@contextmanager
def stoppable(grace: float = GRACE_SECONDS) -> Iterator[None]:
    """Run a render so that SIGINT / SIGTERM end the process within ``grace`` s and its children die with it.

    The main thread first gets ``KeyboardInterrupt`` so that Prefect can record the crash; the process leaves as
    soon as the block unwinds, or when ``grace`` runs out, whichever comes first. After the block, where this
    process owns the embedded API server, a stop signal ends the process at once: all that is left is output and
    Prefect's exit hooks, which wait on that server (module docstring). Outside the main thread (where signals
    cannot be handled) only the watchdog is started.
    """
    global _lingering
    embedded = _uses_embedded_api()
    if embedded:
        start_watchdog()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _lingering is not None:  # a render before this one, in the same process
        _lingering.restore()
        _lingering = None
    watch = _SignalWatch(grace).start()
    try:
        yield
    finally:
        if watch.signum is not None:
            leave(watch.signum)
        if embedded:
            watch.grace = 0.0
            _lingering = watch
        else:
            watch.restore()


class _SignalWatch:
    """Sees SIGINT / SIGTERM through the wakeup fd and leaves the process ``grace`` s after the first one (at once
    on a second one, or when ``grace`` is 0). Its own handlers, where the defaults were installed, record the signal
    before raising ``KeyboardInterrupt``, so that a main thread unwinding at once knows it too; with ``grace`` 0
    they leave at once."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.signum: int | None = None
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous: dict[int, Any] = {}

    def start(self) -> _SignalWatch:
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for signum, default in _DEFAULT_HANDLERS.items():
            if signal.getsignal(signum) == default:
                self._previous[signum] = signal.signal(signum, self._interrupt)
        threading.Thread(target=self._watch, name="musicmaker-signals", daemon=True).start()
        return self

    def restore(self) -> None:
        """Put back the wakeup fd and the handlers found, and end the watch thread."""
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous.items():
            if signal.getsignal(signum) == self._interrupt:
                signal.signal(signum, handler)
        self._writer.close()
        with suppress(OSError):
            self._reader.shutdown(socket.SHUT_RDWR)  # wakes the watch thread, which then ends
        self._reader.close()

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if self.grace <= 0:
            leave(signum)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    def _watch(self) -> None:
        deadline: float | None = None
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                assert self.signum is not None
                leave(self.signum)
            try:
                self._reader.settimeout(left)
                data = self._reader.recv(64)
            except TimeoutError:
                continue
            except OSError:  # closed by restore()
                return
            if not data:
                return
            for signum in (s for s in data if s in STOP_SIGNALS):
                if deadline is not None or self.grace <= 0:
                    leave(self.signum or signum)  # a second Ctrl-C, or nothing left to wait for
                if self.signum is None:
                    self.signum = signum
                deadline = time.monotonic() + self.grace


def _uses_embedded_api() -> bool:
    """Whether Prefect will start its API server as a child of this process (no ``PREFECT_API_URL``)."""
    from prefect.settings import PREFECT_API_URL

    return not PREFECT_API_URL.value()


def start_watchdog() -> None:
    """Start, once per process, the watchdog that stops this process's children when it ends (module docstring).

    Linux only (it needs /proc and pidfds); elsewhere Prefect's own atexit hook is all there is.
    """
    global _watchdog_pipe, _watchdog_pid
    if _watchdog_pipe is not None or not hasattr(os, "pidfd_open") or not os.path.isdir("/proc/self"):
        return
    read_end, write_end = os.pipe()  # not inheritable: no other child keeps the pipe open
    try:
        _watchdog_pid = subprocess.Popen(
            [sys.executable, "-m", __name__, str(os.getpid())],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        ).pid
    finally:
        os.close(read_end)
    _watchdog_pipe = write_end


# --- the watchdog process ------------------------------------------------------------------------------------


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _children(parent: int) -> list[int]:
    """Processes whose parent is ``parent`` (/proc: not every kernel has /proc/PID/task/TID/children)."""
    pids = (int(name) for name in os.listdir("/proc") if name.isdigit())
    return [pid for pid in pids if _parent_of(pid) == parent]


def _open_child(pid: int, parent: int) -> int | None:
    """A pidfd for ``pid`` if it is still a child of ``parent`` (a pidfd cannot be fooled by a reused pid)."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    if _parent_of(pid) != parent:
        os.close(fd)
        return None
    return fd


def _exited(fds: list[int], timeout: float) -> set[int]:
    """The pidfds among ``fds`` whose process has ended (a pidfd becomes readable then)."""
    return set(select.select(fds, [], [], timeout)[0]) if fds else set()


def _stop_children(fds: dict[int, int]) -> None:
    """SIGTERM every child still alive, then SIGKILL those that have not exited after TERM_SECONDS."""
    alive = [fd for fd in fds.values() if fd not in _exited(list(fds.values()), 0)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for fd in alive:
            with suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, sig)
        deadline = time.monotonic() + TERM_SECONDS
        while alive and time.monotonic() < deadline:
            done = _exited(alive, deadline - time.monotonic())
            alive = [fd for fd in alive if fd not in done]


def watch(parent: int, pipe: int = 0) -> None:
    """The watchdog's loop: track the children of ``parent`` until ``pipe`` closes, then stop them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    me, fds = os.getpid(), dict[int, int]()
    while not select.select([pipe], [], [], SCAN_SECONDS)[0]:
        for pid in _children(parent):
            if pid != me and pid not in fds and (fd := _open_child(pid, parent)) is not None:
                fds[pid] = fd
        for fd in _exited(list(fds.values()), 0):  # reaped children: forget them
            fds = {p: f for p, f in fds.items() if f != fd}
            os.close(fd)
    _stop_children(fds)


if __name__ == "__main__":
    watch(int(sys.argv[1]))
