"""The control plane's write side: ``/system/services`` create, update, delete, logs, tokens."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

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
        self._auth.require_admin(request)
        body = await read_body(request, _MAX_DEFINITION_BYTES)
        document = parse_text(body, source="request body", cluster_id=self._cluster_id)
        if not document.services:
            raise BadRequest("the definition declares no service")
        notes = [*document.warnings, *self._storage_notes(document.storage)]
        for line in notes:
            log.warning("%s", line)
        applied = await self._manager.apply(document.services, replace=replace)
        answer = []
        for item in applied:
            state = self._registry.status(item.name)
            record: dict[str, object] = {"name": item.name, "created": item.created}
            record["state"] = state.state
            if item.token is not None:
                record["token"] = item.token
            answer.append(record)
        created = any(item.created for item in applied)
        warnings = [*notes, *(w for item in applied for w in item.warnings)]
        return json_response({"services": answer, "warnings": warnings}, 201 if created else 200)

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
