"""ServiceManager: create, update and delete services, durably, with their tokens.

The write side of ``/system/services``: definitions go to the `DefinitionStore`, deployments to
the service's backend through the `Registry`. Every service gets a token when it is created (or
first loaded from a file); a private service's is returned in the create answer, and the admin can
read any back (`token`), since tokens are derived from a per-gateway key (`gateway.tokens`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.backends.base import Caveats
from gateway.definitions import DefinitionStore
from gateway.errors import Conflict, GatewayError, InvalidDefinition
from gateway.registry import Entry, Registry
from gateway.services import ServiceSpec
from gateway.tokens import TokenKey

log = logging.getLogger("gateway.management")


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of creating or updating one service (`token` only when one was made)."""

    name: str
    created: bool
    token: str | None = None
    warnings: tuple[str, ...] = ()  # what the backend does not do of the definition
    previous: ServiceSpec | None = None  # the definition it replaced (an update)


class ServiceManager:
    """Keeps the registry, the backends and the definition store in step."""

    def __init__(self, registry: Registry, store: DefinitionStore, key: TokenKey) -> None:
        self._registry = registry
        self._store = store
        self._key = key
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
            if token_hash is None:
                issued = self._key.issue()
                self._store.set_token(spec.name, issued.token_hash, issued.salt)
                token_hash = issued.token_hash
            entries.append(self._register_at_start(spec, token_hash))
        for name, service in stored.items():
            if name in file_names:
                continue
            if service.origin == "file":  # its file no longer declares it
                self._store.delete(name)
                continue
            entries.append(self._register_at_start(service.spec, service.token_hash))
        return entries

    def _register_at_start(self, spec: ServiceSpec, token_hash: str | None) -> Entry:
        """Register a service; one that cannot run here (its backend is not enabled) is listed
        as failed with the reason, and the others start."""
        try:
            return self._registry.register(spec, token_hash)
        except InvalidDefinition as exc:
            log.error("%s", exc.message)
            held = spec.model_copy(update={"cannot_run": exc.message})
            return self._registry.register(held, token_hash)

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
        salt: str | None = None
        if token_hash is None:
            issued = self._key.issue()
            token_hash, salt = issued.token_hash, issued.salt
            token = issued.token if spec.visibility != "public" else None
        backend = self._registry.backend_for(spec)
        warnings = tuple(backend.caveats(spec)) if isinstance(backend, Caveats) else ()
        self._store.save(spec, origin="api", token_hash=token_hash)
        if salt is not None:
            self._store.set_token(spec.name, token_hash, salt)
        try:
            await self._registry.apply(spec, token_hash)
        except GatewayError:
            if previous is None:  # a new service that cannot run is not kept
                self._store.delete(spec.name)
                await self._forget(spec.name)
            raise
        log.info("service %s %s", spec.name, "updated" if previous else "created")
        old = previous.spec if previous else None
        return Applied(
            spec.name, created=previous is None, token=token, warnings=warnings, previous=old
        )

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
        issued = self._key.issue()
        self._registry.set_token_hash(name, issued.token_hash)
        self._store.set_token(name, issued.token_hash, issued.salt)
        return issued.token

    def token(self, name: str) -> str | None:
        """The service's token (for the admin), or None when it cannot be derived."""
        entry = self._registry.get(name)
        return self._key.token(self._store.token_salt(name), entry.token_hash)
