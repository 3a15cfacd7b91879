"""The control plane's read side: health, /system/info, /system/services, /metrics, OpenAPI."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

import orjson
import yaml
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from gateway import __version__
from gateway.auth import Authenticator
from gateway.config import Settings
from gateway.errors import Unavailable
from gateway.metrics import GatewayMetrics
from gateway.oscar_shape import oscar_service
from gateway.registry import Entry, Registry
from gateway.services import StorageSpec
from runtimes.oip import EXTENSIONS

#: What ``GET /v2`` and gRPC ServerMetadata say of this server.
SERVER_NAME = "inference-gateway"


def json_response(data: Any, status_code: int = 200) -> Response:
    """A JSON response built with orjson."""
    return Response(orjson.dumps(data), status_code=status_code, media_type="application/json")


def server_metadata() -> dict[str, Any]:
    """The gateway's OIP server metadata, the same over HTTP and gRPC."""
    return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}


class SystemRoutes:
    """Handlers that describe the gateway itself."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        metrics: GatewayMetrics,
        auth: Authenticator,
        *,
        tokens: Callable[[str], str | None] | None = None,
        storage: Mapping[str, StorageSpec] | None = None,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._storage = storage or {}
        self._auth = auth
        self._registry = registry
        self._metrics = metrics
        self._openapi = orjson.dumps(
            yaml.safe_load(resources.files("gateway").joinpath("openapi.yaml").read_text())
        )

    async def live(self, request: Request) -> Response:
        """GET /v2/health/live: the gateway process answers."""
        return json_response({"live": True})

    async def ready(self, request: Request) -> Response:
        """GET /v2/health/ready: every declared service is ready."""
        if not self._registry.all_ready():
            raise Unavailable("not every service is ready yet", retry_after=1)
        return json_response({"ready": True})

    async def server_metadata(self, request: Request) -> Response:
        """GET /v2: Open Inference Protocol server metadata (name, version, extensions)."""
        return json_response(server_metadata())

    async def info(self, request: Request) -> Response:
        """GET /system/info: version, backends, services count."""
        self._auth.require_admin(request)
        backends = sorted({entry.backend.name for entry in self._registry})
        return json_response(
            {
                "version": __version__,
                "backend": backends[0] if len(backends) == 1 else backends,
                "services": len(self._registry),
                "ready": self._registry.all_ready(),
            }
        )

    async def list_services(self, request: Request) -> Response:
        """GET /system/services: every service with its state on its backend."""
        self._auth.require_admin(request)
        return json_response([self._describe(entry) for entry in self._registry])

    async def get_service(self, request: Request) -> Response:
        """GET /system/services/{name}: one service's definition and state (OSCAR's fields,
        with its ``token``: only the admin gets here)."""
        self._auth.require_admin(request)
        entry = self._registry.get(request.path_params["name"])
        described = self._describe(entry)
        token = self._tokens(entry.spec.name) if self._tokens is not None else None
        if token is not None:
            described["token"] = token
        return json_response(described)

    async def metrics(self, request: Request) -> Response:
        """GET /metrics: Prometheus exposition."""
        return Response(generate_latest(self._metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, request: Request) -> Response:
        """GET /openapi.json: the OpenAPI document of this API."""
        return Response(self._openapi, media_type="application/json")

    def _describe(self, entry: Entry) -> dict[str, Any]:
        state = entry.backend.status(entry.spec.name)
        return {
            **oscar_service(entry.spec, self._storage),
            "name": entry.spec.name,
            "backend": entry.backend.name,
            "state": state.state,
            "replicas": state.replicas,
            "url": state.url,
            "restarts": state.restarts,
            "detail": state.detail,
            "visibility": entry.spec.visibility,
            "definition": entry.spec.model_dump(mode="json", exclude_defaults=True),
        }
