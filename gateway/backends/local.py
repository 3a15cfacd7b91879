"""LocalBackend, the embedded default: one runtime process per service on this machine.

Each runtime process serves HTTP on its own Unix socket in ``<data dir>/run`` (0700:
`gateway.backends.sockets`), so only this gateway's user can call it.

A service with ``in_process: true`` runs inside the gateway process instead (``inprocess.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from gateway.backends.base import Endpoint, ServiceState
from gateway.backends.honesty import gpu_present, local_caveats
from gateway.backends.inprocess import InProcessRuntime
from gateway.backends.process import RuntimeProcess
from gateway.backends.sockets import SocketFolder
from gateway.config import Settings
from gateway.errors import InvalidDefinition, ServiceNotFound, Unavailable
from gateway.runtime_env import (
    RUNTIME_MODULES,
    runtime_env,
    runtime_threads,
    secret_env,
)
from gateway.services import ServiceSpec

log = logging.getLogger("gateway.local")

#: Runtimes that serve the Open Inference Protocol over gRPC too.
GRPC_RUNTIMES = ("onnx",)


class LocalBackend:
    """Runs each service as a supervised runtime process on its own Unix socket."""

    name = "local"

    def __init__(self, settings: Settings, *, has_gpu: bool | None = None) -> None:
        self._settings = settings
        self._sockets = SocketFolder(settings.data_dir / "run")
        self._runtimes: dict[str, RuntimeProcess | InProcessRuntime] = {}
        self._caveats: dict[str, list[str]] = {}
        self._early: dict[str, ServiceSpec] = {}  # started by `start_early`, not yet deployed
        self._has_gpu = gpu_present() if has_gpu is None else has_gpu

    def caveats(self, spec: ServiceSpec) -> list[str]:
        """What running `spec` as a local process leaves out (its image, a missing GPU)."""
        return local_caveats(spec, has_gpu=self._has_gpu)

    def runtime_env(self, spec: ServiceSpec) -> dict[str, str]:
        """The environment of the service's runtime process: its secrets, its variables and
        the ``RUNTIME_*`` settings (with the cache of optimised models, kept between starts)."""
        cache = self._settings.cache_dir or self._settings.data_dir / "cache"
        return {
            **secret_env(spec),
            **runtime_env(
                spec,
                threads=runtime_threads(spec, self._settings.runtime_threads),
                max_body_bytes=self._settings.max_body_bytes,
                log_level=self._settings.log_level,
            ),
            "RUNTIME_CACHE_DIR": str(cache.absolute()),
        }

    async def start_early(self, specs: Sequence[ServiceSpec]) -> None:
        """Start the runtime process of each of `specs` that runs here out of process, now:
        ``gateway serve`` calls this before it builds the rest of itself, so the gateway and
        its runtimes start side by side. `deploy` adopts each one whose spec is unchanged.
        Returns once every process is spawned."""
        started = []
        for spec in specs:
            if spec.backend != self.name or spec.in_process or spec.name in self._runtimes:
                continue
            try:
                module = _module(spec)
            except InvalidDefinition:
                continue  # `deploy` says why
            runtime = self._process(spec, module)
            self._runtimes[spec.name], self._early[spec.name] = runtime, spec
            runtime.start()
            started.append(runtime)
        await asyncio.gather(*(runtime.spawned() for runtime in started))

    def _process(self, spec: ServiceSpec, module: str) -> RuntimeProcess:
        return RuntimeProcess(
            spec.name,
            [self._settings.runtime_python, "-m", module],
            self.runtime_env(spec),
            log_path=self._settings.data_dir / "logs" / f"{spec.name}.log",
            socket_path=self._sockets.path(spec.name),
            start_timeout=self._settings.runtime_start_timeout,
            backoff_max=self._settings.restart_backoff_max,
            grpc=spec.runtime in GRPC_RUNTIMES,
        )

    async def deploy(self, spec: ServiceSpec) -> None:
        module = _module(spec)
        self._caveats[spec.name] = self.caveats(spec)
        for line in self._caveats[spec.name]:
            log.warning("%s", line)
        runtime = self._runtimes.get(spec.name)
        if runtime is None or self._early.pop(spec.name, None) != spec:  # else: adopted
            old = self._runtimes.pop(spec.name, None)
            if old is not None:
                await old.stop()
            if spec.in_process:
                runtime = InProcessRuntime(spec.name, self.runtime_env(spec))
            else:
                runtime = self._process(spec, module)
            self._runtimes[spec.name] = runtime
            runtime.start()
        if not await runtime.wait_ready(self._settings.runtime_start_timeout):
            raise Unavailable(f"service {spec.name!r} did not become ready: {runtime.detail}")

    async def remove(self, name: str) -> None:
        runtime = self._runtimes.pop(name, None)
        self._caveats.pop(name, None)
        self._early.pop(name, None)
        if runtime is None:
            raise ServiceNotFound(f"service {name!r} is not deployed on the local backend")
        await runtime.stop()

    def endpoint(self, name: str) -> Endpoint:
        runtime = self._runtimes.get(name)
        if runtime is None:
            raise ServiceNotFound(f"service {name!r} is not deployed")
        if runtime.base_url is None:
            raise Unavailable(f"service {name!r} is {runtime.state}, retry shortly", retry_after=1)
        if isinstance(runtime, InProcessRuntime):
            return Endpoint(runtime.base_url, app=runtime.app)
        return Endpoint(runtime.base_url, grpc_target=runtime.grpc_target, token=runtime.token)

    def status(self, name: str) -> ServiceState:
        runtime = self._runtimes.get(name)
        if runtime is None:
            raise ServiceNotFound(f"service {name!r} is not deployed")
        return ServiceState(
            state=runtime.state,
            replicas=1 if runtime.state == "ready" else 0,
            url=runtime.base_url,
            detail="; ".join(filter(None, [*self._caveats.get(name, []), runtime.detail])),
            restarts=runtime.restarts,
        )

    async def logs(self, name: str, lines: int) -> list[str]:
        if name not in self._runtimes:
            raise ServiceNotFound(f"service {name!r} is not deployed")
        path = self._settings.data_dir / "logs" / f"{name}.log"
        return await asyncio.to_thread(_tail, path, lines)

    def pid(self, name: str) -> int | None:
        """The process id of the service's runtime (for operators and fault tests)."""
        runtime = self._runtimes.get(name)
        return runtime.pid if runtime else None

    async def aclose(self) -> None:
        for name in list(self._runtimes):
            await self._runtimes.pop(name).stop()
        self._sockets.close()


def _module(spec: ServiceSpec) -> str:
    """The runtime module that serves `spec` here; `InvalidDefinition` if none can."""
    module = RUNTIME_MODULES.get(spec.runtime)
    if module is None:
        raise InvalidDefinition(
            f"service {spec.name!r}: the local backend has no {spec.runtime!r} runtime"
        )
    if spec.model is not None and not spec.model.is_file():
        raise InvalidDefinition(
            f"service {spec.name!r}: model file not found: {spec.model} (run `make models`)"
        )
    return module


def _tail(path: Path, lines: int) -> list[str]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", errors="replace") as handle:
        return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]
