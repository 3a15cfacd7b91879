"""Registry: which services exist, their definitions, and the backend each one runs on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from gateway.backends.base import Backend, ServiceState
from gateway.errors import InvalidDefinition, ServiceNotFound
from gateway.services import ServiceSpec

log = logging.getLogger("gateway.registry")


@dataclass(frozen=True, slots=True)
class Entry:
    """A registered service and the backend that runs it."""

    spec: ServiceSpec
    backend: Backend


class Registry:
    """Name -> (spec, backend). Deploys on `apply`, removes on `remove`."""

    def __init__(self, backends: Mapping[str, Backend]) -> None:
        self._backends = dict(backends)
        self._entries: dict[str, Entry] = {}
        self._pending: set[str] = set()

    def backend_for(self, spec: ServiceSpec) -> Backend:
        backend = self._backends.get(spec.backend)
        if backend is None:
            enabled = ", ".join(sorted(self._backends)) or "none"
            raise InvalidDefinition(
                f"service {spec.name!r}: backend {spec.backend!r} is not enabled here "
                f"(enabled: {enabled})"
            )
        return backend

    async def apply(self, spec: ServiceSpec) -> Entry:
        """Create or update a service on its backend; it is routable as soon as it is registered."""
        backend = self.backend_for(spec)
        previous = self._entries.get(spec.name)
        if previous is not None and previous.backend is not backend:
            await previous.backend.remove(spec.name)
        entry = Entry(spec, backend)
        self._entries[spec.name] = entry
        self._pending.add(spec.name)
        try:
            await backend.deploy(spec)
        finally:
            self._pending.discard(spec.name)
        return entry

    async def apply_all(self, specs: list[ServiceSpec]) -> list[BaseException | None]:
        """Apply several services concurrently; returns each one's error (or None)."""
        results = await asyncio.gather(*(self.apply(s) for s in specs), return_exceptions=True)
        return [r if isinstance(r, BaseException) else None for r in results]

    async def remove(self, name: str) -> None:
        entry = self.get(name)
        del self._entries[name]
        await entry.backend.remove(name)

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
        for backend in self._backends.values():
            await backend.aclose()
        self._entries.clear()
