"""RuntimeProcess: one runtime process on this machine, started, watched and restarted when it dies.

It serves HTTP on a Unix socket in the gateway's private socket folder (`gateway.backends.sockets`;
the same path across restarts), and gRPC, when it has it, on a loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from gateway.backends.base import State
from gateway.backends.sockets import probe
from runtimes.auth import TOKEN_ENV, new_token
from runtimes.environment import runtime_environment
from runtimes.prctl import set_parent_death_signal
from runtimes.readiness import READY_FD_ENV, ReadyPipe

log = logging.getLogger("gateway.local")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the runtime gets SIGTERM if the gateway dies, even by SIGKILL."""
    set_parent_death_signal(signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on `host` now (the runtime binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RuntimeProcess:
    """Supervises one runtime: start, wait for readiness, restart with backoff when it exits."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        *,
        log_path: Path,
        socket_path: Path,
        start_timeout: float,
        backoff_max: float,
        grpc: bool = False,
    ) -> None:
        self.name = name
        self._grpc = grpc
        self._command = list(command)
        self._env = dict(env)
        self.token = new_token()  # asked by the runtime of every caller (runtimes.auth)
        self._log_path = log_path
        self.socket_path = socket_path  # where it serves HTTP (runtimes.serving)
        self._start_timeout = start_timeout
        self._backoff_max = backoff_max
        self.state: State = "starting"
        self.base_url: str | None = None  # "unix:<socket path>" while it is ready
        self.grpc_target: str | None = None  # host:port of its gRPC server, when it has one
        self.restarts = 0
        self.detail = ""
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._spawned = asyncio.Event()  # the first process was started (or failed to start)
        self._stopping = False

    def start(self) -> None:
        """Begin supervising (returns at once; `wait_ready` waits for the first readiness)."""
        self._task = asyncio.create_task(self._supervise(), name=f"runtime-{self.name}")

    async def spawned(self) -> None:
        """Return once the first process was started (or its start failed)."""
        await self._spawned.wait()

    async def wait_ready(self, timeout: float) -> bool:
        """True once the runtime answered ready within `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._ready.is_set()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    async def _supervise(self) -> None:
        backoff = 0.2
        while not self._stopping:
            started = time.monotonic()
            pipe = ReadyPipe()  # the runtime says when it serves: no waiting for the next poll
            try:
                await self._run_once(pipe)
            except Exception:  # never let the supervisor die: log and restart
                log.exception("runtime %s: supervisor error", self.name)
            finally:
                pipe.close()
                self._spawned.set()
            if self._stopping:
                break
            self._ready.clear()
            self.state, self.base_url, self.grpc_target = "restarting", None, None
            self.restarts += 1
            if time.monotonic() - started > 30:
                backoff = 0.2
            log.warning("runtime %s: restarting in %.1f s (%s)", self.name, backoff, self.detail)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max)

    async def _run_once(self, pipe: ReadyPipe) -> None:
        self.socket_path.unlink(missing_ok=True)  # left by the runtime that died
        config = {
            **self._env,
            "RUNTIME_HOST": "127.0.0.1",  # its gRPC port's, if any
            "RUNTIME_UNIX_SOCKET": str(self.socket_path),
            TOKEN_ENV: self.token,
            READY_FD_ENV: str(pipe.child_fd),
        }
        grpc_target = None
        if self._grpc:  # the runtime's gRPC port is advertised the same way as its HTTP port
            grpc_port = free_port()
            config["RUNTIME_GRPC_PORT"] = str(grpc_port)
            grpc_target = f"127.0.0.1:{grpc_port}"
        env = runtime_environment(os.environ, {}, config)  # the allowlist: no GATEWAY_*, no keys
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        with self._log_path.open("ab") as logfile:
            self._proc = await asyncio.create_subprocess_exec(
                *self._command,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=logfile,
                stderr=asyncio.subprocess.STDOUT,
                pass_fds=(pipe.child_fd,),
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                start_new_session=True,  # a Ctrl-C in the terminal stops the gateway, not this
            )
        pipe.child_started()
        self._spawned.set()
        proc = self._proc
        url = f"unix:{self.socket_path}"
        log.info("runtime %s: started pid %d on %s", self.name, proc.pid, url)
        if await self._await_ready(proc, pipe):
            self.state, self.base_url, self.grpc_target = "ready", url, grpc_target
            self._ready.set()
            log.info("runtime %s: ready in %.2f s at %s", self.name, time.monotonic() - t0, url)
        elif proc.returncode is None:
            self.detail = f"not ready after {self._start_timeout:.0f} s, killed"
            proc.kill()
        returncode = await proc.wait()
        if not self.detail.startswith("not ready"):
            self.detail = f"exited with code {returncode}, log: {self._log_path}"

    async def _await_ready(self, proc: asyncio.subprocess.Process, pipe: ReadyPipe) -> bool:
        deadline = time.monotonic() + self._start_timeout
        while proc.returncode is None and time.monotonic() < deadline and not self._stopping:
            if await probe(self.socket_path, "/v2/health/ready", timeout=1.0) == 200:
                return True
            await pipe.wait(0.05)
        return False

    async def stop(self, grace: float = 5.0) -> None:
        """Stop supervising and terminate the process (SIGTERM, then SIGKILL after `grace`)."""
        self._stopping = True
        self.state = "stopped"
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
