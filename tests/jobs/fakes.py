"""Test doubles for the job tests (plain classes: the seams are Protocols)."""

from __future__ import annotations

from gateway.backends.base import Endpoint, ServiceState
from gateway.errors import Unavailable
from gateway.services import ServiceSpec


class StuckBackend:
    """A backend whose services never finish starting (so their jobs stay queued)."""

    name = "knative"

    def __init__(self) -> None:
        self.names: set[str] = set()

    async def deploy(self, spec: ServiceSpec) -> None:
        self.names.add(spec.name)

    async def remove(self, name: str) -> None:
        self.names.discard(name)

    def endpoint(self, name: str) -> Endpoint:
        raise Unavailable(f"{name} is starting")

    def status(self, name: str) -> ServiceState:
        return ServiceState(state="starting")

    async def aclose(self) -> None:
        self.names.clear()
