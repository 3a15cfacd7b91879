"""Registry: which services exist, their definitions, and the backend each one runs on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from gateway.backends.base import Backend, ServiceState, WaitsForReadiness
from gateway.backends.declared import DeclaredBackend
from gateway.errors import InvalidDefinition, ServiceNotFound
from gateway.services import ServiceSpec

log = logging.getLogger("gateway.registry")


@dataclass(frozen=True, slots=True)
class Entry:
    """A registered service and the backend that runs it."""

    spec: ServiceSpec
    backend: Backend
    token_hash: str | None = None  # SHA-256 of the service's token (private services)

    @property
    def public(self) -> bool:
        return self.spec.visibility == "public"


class Registry:
    """Name -> (spec, backend). Deploys on `apply`, removes on `remove`."""

    def __init__(self, backends: Mapping[str, Backend]) -> None:
        self._backends = dict(backends)
        self._declared = DeclaredBackend()  # services declared but not run here
        self._entries: dict[str, Entry] = {}
        self._pending: set[str] = set()

    def backend_for(self, spec: ServiceSpec) -> Backend:
        if spec.cannot_run is not None:
            return self._declared
        backend = self._backends.get(spec.backend)
        if backend is None:
            enabled = ", ".join(sorted(self._backends)) or "none"
            raise InvalidDefinition(
                f"service {spec.name!r}: backend {spec.backend!r} is not enabled here "
                f"(enabled: {enabled})"
            )
        return backend

    def register(self, spec: ServiceSpec, token_hash: str | None = None) -> Entry:
        """Make a service known (routable, answering 503 until deployed); see `deploy`."""
        entry = Entry(spec, self.backend_for(spec), token_hash)
        if entry.backend is self._declared:
            self._declared.hold(spec)
        self._entries[spec.name] = entry
        self._pending.add(spec.name)
        return entry

    async def deploy(self, entry: Entry, previous: Entry | None = None) -> None:
        """Deploy a registered service on its backend (moving it off its previous backend)."""
        try:
            if previous is not None and previous.backend is not entry.backend:
                await previous.backend.remove(entry.spec.name)
            await entry.backend.deploy(entry.spec)
        finally:
            self._pending.discard(entry.spec.name)

    async def apply(self, spec: ServiceSpec, token_hash: str | None = None) -> Entry:
        """Create or update a service on its backend."""
        previous = self._entries.get(spec.name)
        entry = self.register(spec, token_hash)
        await self.deploy(entry, previous)
        return entry

    async def deploy_all(self, entries: list[Entry]) -> list[BaseException | None]:
        """Deploy registered services concurrently; returns each one's error (or None)."""
        results = await asyncio.gather(*(self.deploy(e) for e in entries), return_exceptions=True)
        return [r if isinstance(r, BaseException) else None for r in results]

    async def remove(self, name: str) -> None:
        entry = self.get(name)
        del self._entries[name]
        self._pending.discard(name)
        await entry.backend.remove(name)

    def set_token_hash(self, name: str, token_hash: str | None) -> None:
        entry = self.get(name)
        self._entries[name] = Entry(entry.spec, entry.backend, token_hash)

    def get(self, name: str) -> Entry:
        entry = self._entries.get(name)
        if entry is None:
            raise ServiceNotFound(f"service {name!r} does not exist")
        return entry

    def find(self, name: str) -> Entry | None:
        return self._entries.get(name)

    def status(self, name: str) -> ServiceState:
        entry = self.get(name)
        return entry.backend.status(name)

    async def wait_ready(self, name: str, timeout: float) -> ServiceState:
        """The service's state once ready or failed, or after `timeout` seconds (a backend
        whose `deploy` waits already answers at once)."""
        entry = self.get(name)
        if isinstance(entry.backend, WaitsForReadiness):
            return await entry.backend.wait_ready(name, timeout)
        return entry.backend.status(name)

    def all_ready(self) -> bool:
        """True when no service is still deploying and every service is ready."""
        if self._pending:
            return False
        return all(self.status(name).state == "ready" for name in self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    async def aclose(self) -> None:
        for backend in [*self._backends.values(), self._declared]:
            await backend.aclose()
        self._entries.clear()
