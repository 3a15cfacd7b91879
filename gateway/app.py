"""create_app(settings) -> Starlette: the routes, the lifespan and the one error handler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.admin import AdminRoutes
from gateway.auth import Authenticator
from gateway.backends import build_backends
from gateway.backends.base import Backend
from gateway.config import Settings
from gateway.definitions import DefinitionStore
from gateway.errors import BadRequest, GatewayError, MethodNotAllowed, NotFound
from gateway.federation import Delegator
from gateway.grpc_server import GrpcGateway
from gateway.jobs import JobService
from gateway.limits import HeaderLimit
from gateway.management import ServiceManager
from gateway.metrics import GatewayMetrics
from gateway.oscar_api import oscar_routes
from gateway.proxy import Proxy
from gateway.registry import Entry, Registry
from gateway.routing import DataPlane
from gateway.services import ServiceSpec, StorageSpec
from gateway.storage import build_stores
from gateway.system import SystemRoutes, json_response
from gateway.tokens import TokenKey
from gateway.ui import SessionBridge, SessionStore, UiRoutes
from gateway.ui.assets import Assets
from runtimes.errors import error_body

log = logging.getLogger("gateway")


def create_app(
    settings: Settings,
    specs: Sequence[ServiceSpec] = (),
    *,
    backends: Mapping[str, Backend] | None = None,
    metrics_registry: CollectorRegistry | None = None,
    storage: Mapping[str, StorageSpec] | None = None,
    serve_grpc: bool = False,
) -> Starlette:
    """Build the gateway: `specs` are deployed in the background once it starts.

    ``serve_grpc`` (``gateway serve``): also serve the Open Inference Protocol over gRPC on
    ``settings.grpc_port`` (unless 0) while the app runs."""
    registry = Registry(backends if backends is not None else build_backends(settings))
    metrics = GatewayMetrics(metrics_registry or CollectorRegistry())
    proxy = Proxy(settings)
    auth = Authenticator(settings)
    store = DefinitionStore(settings.services_db or settings.data_dir / "services.db")
    manager = ServiceManager(
        registry, store, TokenKey.load_or_create(settings.data_dir / "token.key")
    )
    delegator = Delegator(settings, metrics=metrics)
    data = DataPlane(settings, registry, proxy, metrics, auth, delegator)
    system = SystemRoutes(settings, registry, metrics, auth, tokens=manager.token, storage=storage)
    stores = build_stores(storage or {}, settings.data_dir)
    admin = AdminRoutes(
        manager, registry, auth, cluster_id=settings.cluster_id, stores=frozenset(stores)
    )
    jobs = JobService(settings, registry, proxy, stores, auth, metrics, delegator)
    sessions = SessionStore(settings.ui_session_hours * 3600)
    ui = UiRoutes(sessions, auth, Assets())
    grpc = (
        GrpcGateway(settings, registry, data, auth) if serve_grpc and settings.grpc_port else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not auth.enabled:
            log.warning("no GATEWAY_ADMIN_TOKEN: /system and every service are open to anyone")
        async with contextlib.AsyncExitStack() as stack:
            # Closed in the reverse order, also when a start fails half-way (nothing leaks).
            stack.callback(store.close)
            stack.push_async_callback(delegator.aclose)
            stack.push_async_callback(proxy.aclose)
            stack.push_async_callback(registry.aclose)
            stack.push_async_callback(jobs.aclose)
            await proxy.start()
            await delegator.start()
            if grpc is not None:
                await grpc.start()
                stack.push_async_callback(grpc.stop, 5.0)
            entries = manager.startup_entries(specs)  # routable (503) at once
            deploying = asyncio.create_task(_deploy(registry, entries))
            stack.push_async_callback(_cancel, deploying)
            await jobs.start()
            yield

    routes = [
        Route("/predict/{service}", data.predict, methods=["POST"]),
        Route("/v2/models/{service}/infer", data.infer, methods=["POST"]),
        Route("/v2/models/{service}", data.model_metadata, methods=["GET"]),
        Route("/v2/models/{service}/ready", data.model_metadata, methods=["GET"]),
        Route("/v2/models/{service}/versions/{version}", data.model_metadata, methods=["GET"]),
        Route(
            "/v2/models/{service}/versions/{version}/ready", data.model_metadata, methods=["GET"]
        ),
        Route("/v2/models/{service}/versions/{version}/infer", data.infer, methods=["POST"]),
        Route("/v2", system.server_metadata, methods=["GET"]),
        Route("/v2/health/live", system.live, methods=["GET"]),
        Route("/v2/health/ready", system.ready, methods=["GET"]),
        Route("/system/info", system.info, methods=["GET"]),
        Route("/system/services", system.list_services, methods=["GET"]),
        Route("/system/services", admin.create, methods=["POST"]),
        Route("/system/services", admin.update, methods=["PUT"]),
        Route("/system/services/{name}", system.get_service, methods=["GET"]),
        Route("/system/services/{name}", admin.delete, methods=["DELETE"]),
        Route("/system/services/{name}/logs", admin.logs, methods=["GET"]),
        Route("/system/services/{name}/token", admin.rotate_token, methods=["POST"]),
        Route("/metrics", system.metrics, methods=["GET"]),
        Route("/openapi.json", system.openapi, methods=["GET"]),
        *jobs.routes(),
        *oscar_routes(settings, registry, proxy, jobs, storage or {}, auth, delegator),
        *ui.routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(HeaderLimit, max_bytes=settings.max_header_bytes),
            Middleware(SessionBridge, sessions=sessions),
        ],
        lifespan=lifespan,
        exception_handlers={
            GatewayError: render_error,
            HTTPException: render_http_exception,
            UnicodeError: render_bad_text,
            Exception: render_unexpected,
        },
    )
    app.state.registry = registry
    app.state.metrics = metrics
    app.state.jobs = jobs
    return app


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _deploy(registry: Registry, entries: list[Entry]) -> None:
    if not entries:
        return
    started = time.monotonic()
    errors = await registry.deploy_all(entries)
    specs = [entry.spec for entry in entries]
    for spec, error in zip(specs, errors, strict=True):
        if error is not None:
            log.error("service %s failed to deploy: %s", spec.name, error)
    ready = sum(error is None for error in errors)
    log.info(
        "%d of %d service(s) ready in %.1f s: %s",
        ready,
        len(specs),
        time.monotonic() - started,
        ", ".join(s.name for s, e in zip(specs, errors, strict=True) if e is None),
    )


async def render_error(request: Request, exc: Exception) -> Response:
    """Render a `GatewayError` as ``{"error": {"code", "message"}}`` (OIP: ``{"error": msg}``)."""
    assert isinstance(exc, GatewayError)
    response = json_response(error_body(exc, request.url.path), exc.status_code)
    response.headers.update(exc.headers())
    return response


async def render_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's routing errors (unknown route, wrong method) in the same error format."""
    assert isinstance(exc, HTTPException)
    error: GatewayError
    if exc.status_code == 405:
        error = MethodNotAllowed(f"method {request.method} is not allowed on {request.url.path}")
    elif exc.status_code == 404:
        error = NotFound(f"no route {request.url.path}")
    else:
        error = GatewayError(str(exc.detail))
        error.status_code = exc.status_code  # type: ignore[misc]
    response = await render_error(request, error)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def render_bad_text(request: Request, exc: Exception) -> Response:
    """Text no codec takes (a lone surrogate from a JSON escape) reached a writer: bad input."""
    log.warning("%s %s: bad text in the request: %s", request.method, request.url.path, exc)
    return await render_error(
        request, BadRequest("the request holds text that is not valid Unicode")
    )


async def render_unexpected(request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback, answered as a JSON 500 without internals."""
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return await render_error(request, GatewayError("internal error"))
