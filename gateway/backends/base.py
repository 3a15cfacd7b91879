"""The Backend protocol: deploy a service, tell where to send its requests, remove it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from starlette.types import ASGIApp

from gateway.services import ServiceSpec

State = Literal["starting", "ready", "cold", "restarting", "failed", "stopped"]

#: the scheme of a base URL that is a Unix socket's path (a local runtime process)
UNIX_SCHEME = "unix:"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where to send a service's requests right now."""

    base_url: str  # http(s)://host[:port], or unix:<socket path> (HTTP on that socket)
    cold_start_budget: float = 0.0  # seconds the proxy may keep retrying a cold upstream
    grpc_target: str | None = None  # host:port of its Open Inference Protocol gRPC server
    app: ASGIApp | None = None  # a runtime served in this process: called in memory
    token: str | None = None  # the runtime's token, sent on every request (runtimes.auth)

    @property
    def unix_socket(self) -> str | None:
        """The socket's path when `base_url` is ``unix:<path>``, else None."""
        if self.base_url.startswith(UNIX_SCHEME):
            return self.base_url[len(UNIX_SCHEME) :]
        return None


@dataclass(frozen=True, slots=True)
class ServiceState:
    """What a backend knows of one of its services."""

    state: State
    replicas: int = 0
    url: str | None = None
    detail: str = ""
    restarts: int = 0


class Backend(Protocol):
    """A place where services run. Implementations: LocalBackend, KnativeBackend, ..."""

    name: str

    async def deploy(self, spec: ServiceSpec) -> None:
        """Create or update the service; returns once it is ready (or raises)."""

    async def remove(self, name: str) -> None:
        """Stop the service and delete everything the backend made for it."""

    def endpoint(self, name: str) -> Endpoint:
        """The upstream for a request now; raises `Unavailable` while it cannot answer."""

    def status(self, name: str) -> ServiceState:
        """The service's current state on this backend."""

    async def logs(self, name: str, lines: int) -> list[str]:
        """The last `lines` lines the service's runtime logged (as far as the backend can tell)."""

    async def aclose(self) -> None:
        """Stop everything this backend runs and release its resources."""


@runtime_checkable
class WaitsForReadiness(Protocol):
    """A backend whose `deploy` returns before the service is ready (the Kubernetes backends)."""

    async def wait_ready(self, name: str, timeout: float) -> ServiceState:
        """The state once the service is ready or failed, or as it is after `timeout` seconds."""


@runtime_checkable
class Caveats(Protocol):
    """A backend that can say what it will not do of a definition (one line each)."""

    def caveats(self, spec: ServiceSpec) -> list[str]:
        """What running `spec` here leaves out, e.g. "runs without its image"."""
