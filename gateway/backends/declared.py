"""DeclaredBackend: where the services go that are declared but cannot run here.

A service with ``cannot_run`` set (an OSCAR KServe service without a script, say) is listed
like any other, in state ``failed`` with the reason as its detail; its requests answer 503 with
that reason. Nothing is started for it.
"""

from __future__ import annotations

import logging

from gateway.backends.base import Endpoint, ServiceState
from gateway.errors import ServiceNotFound, Unavailable
from gateway.services import ServiceSpec

log = logging.getLogger("gateway.declared")


class DeclaredBackend:
    """Keeps the specs of services that are not run here; answers their state honestly."""

    name = "none"

    def __init__(self) -> None:
        self._reasons: dict[str, str] = {}

    def hold(self, spec: ServiceSpec) -> None:
        """Know the service from its registration on (its state is known before `deploy`)."""
        self._reasons[spec.name] = spec.cannot_run or "it cannot run here"

    async def deploy(self, spec: ServiceSpec) -> None:
        self.hold(spec)
        log.warning("service %s is declared but not run: %s", spec.name, self._reasons[spec.name])

    async def remove(self, name: str) -> None:
        if self._reasons.pop(name, None) is None:
            raise ServiceNotFound(f"service {name!r} is not declared here")

    def endpoint(self, name: str) -> Endpoint:
        raise Unavailable(f"service {name!r} is not run here: {self._reason(name)}")

    def status(self, name: str) -> ServiceState:
        return ServiceState("failed", detail=f"not run here: {self._reason(name)}")

    def _reason(self, name: str) -> str:
        reason = self._reasons.get(name)
        if reason is None:
            raise ServiceNotFound(f"service {name!r} is not declared here")
        return reason

    async def logs(self, name: str, lines: int) -> list[str]:
        self._reason(name)
        return []

    async def aclose(self) -> None:
        self._reasons.clear()
