"""The control plane's write side: ``/system/services`` create, update, delete, logs, tokens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from gateway.apply_wait import in_progress, readiness_error, usable, wait_options
from gateway.auth import Authenticator
from gateway.errors import BadRequest
from gateway.limits import read_body
from gateway.management import ServiceManager
from gateway.registry import Registry
from gateway.services import parse_text
from gateway.system import json_response

log = logging.getLogger("gateway.admin")

_MAX_DEFINITION_BYTES = 1024 * 1024
_MAX_LOG_LINES = 10_000


class AdminRoutes:
    """Handlers that change which services exist (all need the admin token when one is set)."""

    def __init__(
        self,
        manager: ServiceManager,
        registry: Registry,
        auth: Authenticator,
        *,
        cluster_id: str | None = None,
        stores: frozenset[str] = frozenset(),
    ) -> None:
        self._manager = manager
        self._registry = registry
        self._auth = auth
        self._cluster_id = cluster_id  # picks the entry of a service declared for several
        self._stores = stores  # the object stores configured at start

    async def create(self, request: Request) -> Response:
        """POST /system/services: create services from an FDL document (JSON or YAML)."""
        return await self._apply(request, replace=False)

    async def update(self, request: Request) -> Response:
        """PUT /system/services: create or update services from an FDL document."""
        return await self._apply(request, replace=True)

    async def _apply(self, request: Request, *, replace: bool) -> Response:
        """Apply, then answer at once (202 while a service is still ``starting``), or with
        ``?wait=SECONDS`` once every service is ready: one that failed (502) or is not ready in
        time (504) stays in place with its state, unless ``?rollback=true`` undoes the apply."""
        self._auth.require_admin(request)
        wait, rollback = wait_options(request)
        body = await read_body(request, _MAX_DEFINITION_BYTES)
        document = parse_text(body, source="request body", cluster_id=self._cluster_id)
        if not document.services:
            raise BadRequest("the definition declares no service")
        notes = [*document.warnings, *self._storage_notes(document.storage)]
        for line in notes:
            log.warning("%s", line)
        applied = await self._manager.apply(document.services, replace=replace)
        if wait is None:
            states = [self._registry.status(item.name) for item in applied]
        else:
            states = list(
                await asyncio.gather(
                    *(self._registry.wait_ready(item.name, wait) for item in applied)
                )
            )
            unready = [(i.name, s) for i, s in zip(applied, states, strict=True) if not usable(s)]
            if unready:
                if rollback:
                    await self._manager.rollback(applied)
                raise readiness_error(unready, wait, rolled_back=rollback)
        answer = []
        for item, state in zip(applied, states, strict=True):
            record: dict[str, object] = {"name": item.name, "created": item.created}
            record["state"] = state.state
            if state.detail:
                record["detail"] = state.detail
            if item.token is not None:
                record["token"] = item.token
            answer.append(record)
        if any(in_progress(state) for state in states):
            code = 202  # accepted: the cluster is still making it ready
        else:
            code = 201 if any(item.created for item in applied) else 200
        warnings = [*notes, *(w for item in applied for w in item.warnings)]
        return json_response({"services": answer, "warnings": warnings}, code)

    def _storage_notes(self, storage: Mapping[str, object]) -> list[str]:
        """Stores are configured at start: one sent with a definition is not set up here."""
        return [
            f"storage {name!r} sent with the definition was not set up: object stores are "
            "configured when the gateway starts (gateway serve -f FILE)"
            for name in sorted(set(storage) - self._stores)
        ]

    async def delete(self, request: Request) -> Response:
        """DELETE /system/services/{name}: stop the service and forget its definition."""
        self._auth.require_admin(request)
        await self._manager.delete(request.path_params["name"])
        return Response(status_code=204)

    async def logs(self, request: Request) -> Response:
        """GET /system/services/{name}/logs?lines=N: the runtime's last N log lines."""
        self._auth.require_admin(request)
        name = request.path_params["name"]
        raw = request.query_params.get("lines", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= _MAX_LOG_LINES:
            raise BadRequest(f"lines must be an integer from 1 to {_MAX_LOG_LINES}")
        entry = self._registry.get(name)
        lines = await entry.backend.logs(name, int(raw))
        return json_response({"name": name, "lines": lines})

    async def rotate_token(self, request: Request) -> Response:
        """POST /system/services/{name}/token: a new token for the service, shown once."""
        self._auth.require_admin(request)
        name = request.path_params["name"]
        return json_response({"name": name, "token": await self._manager.rotate_token(name)})
