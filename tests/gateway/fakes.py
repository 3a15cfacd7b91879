"""Test doubles for the data path: a static backend (a Protocol fake, no inheritance) and a real
upstream app served by uvicorn on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.backends.base import Endpoint, ServiceState
from gateway.config import Settings
from gateway.services import ServiceSpec


class StaticBackend:
    """Sends every request to one fixed upstream."""

    name = "local"

    def __init__(self, url: str, cold_start_budget: float = 0.0) -> None:
        self.url = url
        self.cold_start_budget = cold_start_budget

    async def deploy(self, spec: ServiceSpec) -> None:
        return None

    async def remove(self, name: str) -> None:
        return None

    def endpoint(self, name: str) -> Endpoint:
        return Endpoint(self.url, self.cold_start_budget)

    def status(self, name: str) -> ServiceState:
        return ServiceState("ready", replicas=1, url=self.url)

    async def logs(self, name: str, lines: int) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None


async def _echo(request: Request) -> Response:
    body = await request.body()
    await asyncio.sleep(float(request.query_params.get("delay", "0")))
    return Response(
        body + f"|{request.url.query}".encode(),
        status_code=int(request.query_params.get("status", "200")),
        media_type=request.headers.get("content-type"),
        headers={"Retry-After": "7"} if request.query_params.get("status") == "503" else None,
    )


async def _slow(request: Request) -> Response:
    await asyncio.sleep(1.5)
    return JSONResponse({"late": True})


@contextlib.asynccontextmanager
async def upstream(port: int, *routes: Route) -> AsyncIterator[uvicorn.Server]:
    """The echo upstream on loopback; `routes` come first (they may replace its ``/predict``)."""
    app = Starlette(
        routes=[
            *routes,
            Route("/predict", _echo, methods=["POST"]),
            Route("/v2/models/{n}/infer", _slow, methods=["POST"]),
        ]
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def gateway_client(
    backend: StaticBackend,
    registry: CollectorRegistry,
    *,
    timeout: float | None = None,
    **settings: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    spec = ServiceSpec(name="echo", model="m.onnx", timeout=timeout)  # type: ignore[arg-type]
    settings.setdefault("data_dir", Path(tempfile.mkdtemp(prefix="gateway-test-")))
    app = create_app(
        Settings(**settings), [spec], backends={"local": backend}, metrics_registry=registry
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            for _ in range(100):
                if (await client.get("/v2/health/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.01)
            yield client
