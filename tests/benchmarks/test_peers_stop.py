"""Stopping a peer server as the launch contract says, with real process trees on this machine:
what SIGTERM ends, what only the SIGKILL to the group ends, and a worker in a session of its own
that outlives both (reported by pid, then killed)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil

from benchmarks.peers.stop import stop_tree
from benchmarks.processes import Child, ProcessGroup

GRACE = 0.5  # short: the processes below that ignore SIGTERM do so whatever the wait
IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)"


def start(group: ProcessGroup, tmp_path: Path, code: str) -> Child:
    return group.start("server", [sys.executable, "-c", code], {}, tmp_path / "server.log")


def wait_for_line(child: Child, line: str, timeout: float = 60.0) -> str:
    """The child's output once it holds ``line`` (the processes say when they are set up)."""
    deadline = time.monotonic() + timeout
    while line not in (text := child.log_path.read_text(encoding="utf-8")):
        assert child.popen.poll() is None, text
        assert time.monotonic() < deadline, f"no {line!r} in: {text}"
        time.sleep(0.05)
    return text


def test_a_server_that_ends_on_sigterm_is_stopped_by_it(tmp_path: Path) -> None:
    with ProcessGroup() as group:
        child = start(group, tmp_path, "import time; print('up', flush=True); time.sleep(3600)")
        wait_for_line(child, "up")
        stopped = stop_tree(group, child, grace=60)
    assert (stopped.processes, stopped.lingering, stopped.leftovers) == (1, 0, ())
    assert stopped.clean and "stopped by SIGTERM" in stopped.summary()
    assert child.popen.returncode == -15


def test_a_server_that_ignores_sigterm_gets_the_sigkill_to_its_group(tmp_path: Path) -> None:
    code = f"{IGNORE_TERM}; print('up', flush=True); time.sleep(3600)"
    with ProcessGroup() as group:
        child = start(group, tmp_path, code)
        wait_for_line(child, "up")
        stopped = stop_tree(group, child, grace=GRACE)
    assert (stopped.processes, stopped.lingering) == (1, 1)
    assert stopped.clean and "gone after SIGKILL to the group" in stopped.summary()
    assert child.popen.returncode == -9


def test_a_worker_in_a_session_of_its_own_that_outlives_both_is_reported_and_killed(
    tmp_path: Path,
) -> None:
    worker = f"{IGNORE_TERM}; print('worker up', flush=True); time.sleep(3600)"
    server = (
        "import subprocess, sys, time\n"
        f"w = subprocess.Popen([sys.executable, '-c', {worker!r}], start_new_session=True)\n"
        "print('worker', w.pid, flush=True)\n"
        "time.sleep(3600)\n"
    )
    with ProcessGroup() as group:
        child = start(group, tmp_path, server)
        text = wait_for_line(child, "worker up")
        worker_process = psutil.Process(int(text.split("worker ", 1)[1].split()[0]))
        stopped = stop_tree(group, child, grace=GRACE)
    assert (stopped.processes, stopped.lingering) == (2, 1)
    assert not stopped.clean
    (leftover,) = stopped.leftovers
    assert leftover.startswith(f"{worker_process.pid} ") and "signal.SIGTERM" in leftover
    assert "LEFT RUNNING" in stopped.summary()
    assert child.popen.returncode == -15  # the server itself ended on SIGTERM
    deadline = time.monotonic() + 60
    while ended(worker_process) is False:  # killed: it ends (a zombie until init reaps it)
        assert time.monotonic() < deadline, "the leftover worker still runs"
        time.sleep(0.05)


def ended(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
