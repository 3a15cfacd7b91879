"""Child processes of a benchmark run: start them, wait until they answer, always kill them.

Each child runs in its own session (process group), so stopping it also stops whatever it started
(the gateway's runtimes), and a Ctrl-C in the terminal reaches only this runner, which then stops
every child itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

import httpx


class BenchmarkError(Exception):
    """A benchmark could not run (a child failed to start, locust produced no stats...)."""


@dataclass(frozen=True)
class Child:
    """A started process and the file that collects its output."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the child's output, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ProcessGroup:
    """Owns child processes; ``close()`` (or leaving the ``with`` block) stops all of them."""

    def __init__(self, stop_timeout: float = 10.0) -> None:
        self._children: list[Child] = []
        self._stop_timeout = stop_timeout

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> Child:
        """Start ``argv`` with ``env`` added to this process's environment (in ``cwd``)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                list(argv),
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=cwd,
            )
        child = Child(name, popen, log_path)
        self._children.append(child)
        return child

    def stop(self, child: Child, grace: float | None = None) -> None:
        """SIGTERM the child, then SIGKILL its whole process group (whatever it left behind).

        Only the child gets the SIGTERM, so a gateway can stop its runtimes itself rather than
        see them die under it and restart them. The SIGKILL comes once the child has exited or
        after ``grace`` seconds (the group's ``stop_timeout`` by default).
        """
        if child.popen.poll() is None:
            child.popen.terminate()
        try:
            child.popen.wait(self._stop_timeout if grace is None else grace)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(child.popen, signal.SIGKILL)  # also reaps grandchildren left behind
        child.popen.wait()
        if child in self._children:
            self._children.remove(child)

    def close(self) -> None:
        """Stop every child still running, the most recent first."""
        for child in reversed(list(self._children)):
            self.stop(child)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _signal_group(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(popen.pid, sig)  # start_new_session: the group id is the child's pid
    except (ProcessLookupError, PermissionError):
        pass


def run_json_child(
    group: ProcessGroup, name: str, argv: Sequence[str], log_path: Path, timeout: float
) -> dict[str, float]:
    """Run a measuring child to its end; the JSON object its last line prints (``BenchmarkError``
    if it fails or prints nothing)."""
    child = group.start(name, argv, {}, log_path)
    try:
        code = child.popen.wait(timeout)
    finally:
        group.stop(child)
    lines = child.log_path.read_text(encoding="utf-8").strip().splitlines()
    if code != 0 or not lines:
        raise BenchmarkError(f"{name} failed:\n{child.log_tail()}")
    values: dict[str, float] = json.loads(lines[-1])
    return values


def wait_ready(children: Mapping[str, Child], timeout: float) -> None:
    """Poll ``GET <url>`` for each child until all answer 200; fail fast if one exits."""
    pending = dict(children)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for url, child in list(pending.items()):
                code = child.popen.poll()
                if code is not None:
                    raise BenchmarkError(
                        f"{child.name} exited with status {code} before it was ready:\n"
                        f"{child.log_tail()}"
                    )
                try:
                    if client.get(url).status_code == 200:
                        del pending[url]
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending.values())
                raise BenchmarkError(f"not ready after {timeout:.0f} s: {names}")
            if pending:
                time.sleep(0.2)


def run_main(work: Callable[[], object]) -> int:
    """Run a benchmark command: ``kill`` cleans up like Ctrl-C; errors are one line on stderr.

    A report `work` returns as text is printed; the exit status is 1 on a
    `BenchmarkError`, 130 when interrupted (every started process is stopped by then), else 0.
    """
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        result = work()
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every started process was stopped", file=sys.stderr)
        return 130
    if isinstance(result, str):
        print(result)
    return 0


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
