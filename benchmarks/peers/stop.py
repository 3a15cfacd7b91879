"""Stopping a server as the launch contract says, and whatever it started, and saying what it took.

The contract: SIGTERM to the server; once its processes are gone, or after the grace (10 s),
SIGKILL to its process group. A server gets the SIGTERM first, so one that must shut down cleanly
can (Ray Serve: ``ray.shutdown()``). A process it started in a session of its own (Ray's and
BentoML's workers) is not in its group: one that outlives both signals is a leftover, reported
and then killed here, so that no idle server takes CPU from the next one measured.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

import psutil

from benchmarks.processes import Child, ProcessGroup

STOP_GRACE_S = 10.0  # the launch contract: SIGTERM, then SIGKILL to the group after 10 s
KILLED_WAIT_S = 5.0  # for the group's processes to go once SIGKILLed


@dataclass(frozen=True)
class Stopped:
    """How a server stopped: what it had running, and what it took to end all of it."""

    processes: int  # the server, its descendants and its process group, before the stop
    seconds: float
    grace: float
    lingering: int  # still running after the grace, so the group got its SIGKILL (0: SIGTERM did)
    leftovers: tuple[str, ...]  # "pid command line" of each one that outlived both (killed then)

    @property
    def clean(self) -> bool:
        """Nothing the server started outlived the contract's SIGTERM and SIGKILL."""
        return not self.leftovers

    def summary(self) -> str:
        """One line: which signal stopped it, and what was left."""
        if not self.lingering:
            return f"{self.processes} processes stopped by SIGTERM in {self.seconds:.1f} s"
        note = (
            f"{self.processes} processes, {self.lingering} still there {self.grace:.0f} s "
            "after SIGTERM"
        )
        if self.clean:
            return note + ", gone after SIGKILL to the group"
        return (
            note
            + ", LEFT RUNNING after SIGKILL to the group (killed now): "
            + "; ".join(self.leftovers)
        )


def stop_tree(group: ProcessGroup, child: Child, grace: float = STOP_GRACE_S) -> Stopped:
    """Stop ``child`` as the contract says, then kill whatever of its tree outlived that."""
    tree = _tree(child.popen.pid)
    started = time.monotonic()
    if child.popen.poll() is None:
        child.popen.terminate()
    lingering = _wait_gone(tree, grace, child)
    group.stop(child, grace=0)  # SIGKILL to the group (the child has had its grace)
    leftovers = _wait_gone(tree, KILLED_WAIT_S if lingering else 0, child)
    described = tuple(f"{p.pid} {_command(p)}" for p in sorted(leftovers, key=lambda p: p.pid))
    for process in leftovers:
        with contextlib.suppress(psutil.Error):
            process.kill()
    return Stopped(len(tree), time.monotonic() - started, grace, len(lingering), described)


def _tree(root: int) -> list[psutil.Process]:
    """``root``, its descendants, and whatever else is in its process group (its session)."""
    found: dict[int, psutil.Process] = {}
    with contextlib.suppress(psutil.Error):
        server = psutil.Process(root)
        found[root] = server
        found.update((p.pid, p) for p in server.children(recursive=True))
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if process.pid not in found and os.getpgid(process.pid) == root:
                found[process.pid] = process
    return list(found.values())


def _wait_gone(tree: list[psutil.Process], seconds: float, child: Child) -> list[psutil.Process]:
    """Wait up to ``seconds`` for every process of ``tree`` to end; those still running."""
    deadline = time.monotonic() + seconds
    while True:
        child.popen.poll()  # reaps the server itself, our own child, once it exits
        running = [p for p in tree if _running(p)]
        if not running or time.monotonic() >= deadline:
            return running
        time.sleep(0.1)


def _running(process: psutil.Process) -> bool:
    """Still running (a zombie has ended; ``is_running`` also tells a reused pid apart)."""
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())[:100]
    except psutil.Error:
        return "?"
