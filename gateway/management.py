"""ServiceManager: create, update and delete services, durably, with their tokens.

The write side of ``/system/services``: definitions go to the `DefinitionStore`, deployments to
the service's backend through the `Registry`. A private service gets a token when it is created;
the token is returned once and only its hash is kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.auth import hash_token, new_token
from gateway.definitions import DefinitionStore
from gateway.errors import Conflict, GatewayError
from gateway.registry import Entry, Registry
from gateway.services import ServiceSpec

log = logging.getLogger("gateway.management")


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of creating or updating one service (`token` only when one was made)."""

    name: str
    created: bool
    token: str | None = None
    previous: ServiceSpec | None = None  # the definition it replaced (an update)


class ServiceManager:
    """Keeps the registry, the backends and the definition store in step."""

    def __init__(self, registry: Registry, store: DefinitionStore) -> None:
        self._registry = registry
        self._store = store
        self._lock = asyncio.Lock()

    def startup_entries(self, file_specs: Sequence[ServiceSpec]) -> list[Entry]:
        """Register the stored services and those of the files (a file wins); deploy them next."""
        stored = {s.spec.name: s for s in self._store.load_all()}
        entries = []
        file_names = {spec.name for spec in file_specs}
        for spec in file_specs:
            previous = stored.get(spec.name)
            token_hash = previous.token_hash if previous else None
            self._store.save(spec, origin="file", token_hash=token_hash)
            entries.append(self._registry.register(spec, token_hash))
        for name, service in stored.items():
            if name in file_names:
                continue
            if service.origin == "file":  # its file no longer declares it
                self._store.delete(name)
                continue
            entries.append(self._registry.register(service.spec, service.token_hash))
        return entries

    async def apply(self, specs: Sequence[ServiceSpec], *, replace: bool) -> list[Applied]:
        """Create (``replace=False``: 409 if one exists) or create-or-update services."""
        async with self._lock:
            if not replace:
                taken = [s.name for s in specs if self._registry.find(s.name) is not None]
                if taken:
                    raise Conflict(f"service(s) already exist: {', '.join(taken)} (use PUT)")
            for spec in specs:
                self._registry.backend_for(spec)  # fail before changing anything
            return [await self._apply_one(spec) for spec in specs]

    async def _apply_one(self, spec: ServiceSpec) -> Applied:
        previous = self._registry.find(spec.name)
        token: str | None = None
        token_hash = previous.token_hash if previous else None
        if spec.visibility != "public" and token_hash is None:
            token = new_token()
            token_hash = hash_token(token)
        self._store.save(spec, origin="api", token_hash=token_hash)
        try:
            await self._registry.apply(spec, token_hash)
        except GatewayError:
            if previous is None:  # a new service that cannot run is not kept
                self._store.delete(spec.name)
                await self._forget(spec.name)
            raise
        log.info("service %s %s", spec.name, "updated" if previous else "created")
        old = previous.spec if previous else None
        return Applied(spec.name, created=previous is None, token=token, previous=old)

    async def rollback(self, applied: Sequence[Applied]) -> None:
        """Undo `apply`: delete what it created, apply again what it replaced."""
        async with self._lock:
            for item in applied:
                try:
                    if item.previous is None:
                        await self._registry.remove(item.name)
                        self._store.delete(item.name)
                    else:
                        await self._apply_one(item.previous)
                except GatewayError as exc:
                    log.warning("service %s: rollback failed: %s", item.name, exc.message)
                else:
                    log.info("service %s rolled back", item.name)

    async def _forget(self, name: str) -> None:
        try:
            await self._registry.remove(name)
        except GatewayError:
            log.warning("service %s: cleanup after a failed deploy failed", name)

    async def delete(self, name: str) -> None:
        async with self._lock:
            await self._registry.remove(name)
            self._store.delete(name)
            log.info("service %s deleted", name)

    async def rotate_token(self, name: str) -> str:
        """A new token for the service (the old one stops working)."""
        self._registry.get(name)
        token = new_token()
        self._registry.set_token_hash(name, hash_token(token))
        self._store.set_token_hash(name, hash_token(token))
        return token
