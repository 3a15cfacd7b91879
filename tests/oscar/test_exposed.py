"""``/system/services/{svc}/exposed/...``: an exposed service's own HTTP API through the gateway.

The gateway runs in process; the exposed application is a real HTTP server on loopback (what the
deployment backend's Service would reach), and the data path is the gateway's real aiohttp proxy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.app import create_app
from gateway.config import Settings
from gateway.services import ServiceSpec
from tests.gateway.fakes import StaticBackend
from tests.support import free_port

ADMIN = "admin-" + "5" * 40


async def _echo(request: Request) -> Response:
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "body": (await request.body()).decode(),
            "authorization": request.headers.get("authorization"),
            "prefix": request.headers.get("x-forwarded-prefix"),
            "custom": request.headers.get("x-custom"),
        },
        headers={"X-App": "yes"},
    )


async def _events(request: Request) -> Response:
    async def tokens() -> AsyncIterator[bytes]:
        for word in ("one", "two", "three"):
            yield f"data: {word}\n\n".encode()
            await asyncio.sleep(0)

    return StreamingResponse(tokens(), media_type="text/event-stream")


@contextlib.asynccontextmanager
async def application(port: int) -> AsyncIterator[None]:
    app = Starlette(
        routes=[
            Route("/events", _events),
            Route("/{path:path}", _echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


def _spec(name: str, **expose: Any) -> ServiceSpec:
    return ServiceSpec.model_validate(
        {
            "name": name,
            "runtime": "script",
            "script": "python3 -m http.server 5000",
            "backend": "deployment",
            "expose": {"api_port": 5000, **expose},
        }
    )


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    port = free_port()
    backend = StaticBackend(f"http://127.0.0.1:{port}")
    backend.name = "deployment"
    specs = [
        _spec("app"),
        _spec("locked", set_auth=True),
        _spec("whole-path", rewrite_target=True),
        ServiceSpec(name="plain", runtime="script", script="echo\n", backend="deployment"),
    ]
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="gateway-exposed-")),
        admin_token=SecretStr(ADMIN),
        backends=("deployment",),
    )
    app = create_app(
        settings, specs, backends={"deployment": backend}, metrics_registry=CollectorRegistry()
    )
    async with application(port), app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            token = (await client.get("/system/services/locked", headers=admin)).json()["token"]
            yield client, token


async def test_any_method_path_query_and_body_reach_the_application(
    gateway: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = gateway
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        response = await client.request(
            method,
            "/system/services/app/exposed/api/v1/items?x=1&y=two",
            content=b"payload" if method != "GET" else None,
            headers={"X-Custom": "kept", "Authorization": "Bearer the-apps-own"},
        )
        assert response.status_code == 200, response.text
        seen = response.json()
        assert seen["method"] == method and seen["path"] == "/api/v1/items"
        assert seen["query"] == "x=1&y=two" and seen["custom"] == "kept"
        assert seen["body"] == ("payload" if method != "GET" else "")
        assert seen["authorization"] == "Bearer the-apps-own"  # not set_auth: the app's own
        assert seen["prefix"] == "/system/services/app/exposed"
        assert response.headers["x-app"] == "yes"


async def test_the_answer_streams_through(gateway: tuple[httpx.AsyncClient, str]) -> None:
    client, _ = gateway
    async with client.stream("GET", "/system/services/app/exposed/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert body == b"data: one\n\ndata: two\n\ndata: three\n\n"


async def test_rewrite_target_keeps_the_whole_path(gateway: tuple[httpx.AsyncClient, str]) -> None:
    client, _ = gateway
    response = await client.get("/system/services/whole-path/exposed/docs")
    assert response.json()["path"] == "/system/services/whole-path/exposed/docs"


async def test_set_auth_takes_the_service_token_or_oscar_basic(
    gateway: tuple[httpx.AsyncClient, str],
) -> None:
    client, token = gateway
    url = "/system/services/locked/exposed/"
    assert (await client.get(url)).status_code == 401
    wrong = await client.get(url, headers={"Authorization": "Bearer " + "0" * 64})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
    bearer = await client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200 and bearer.json()["authorization"] is None  # stripped
    basic = base64.b64encode(f"locked:{token}".encode()).decode()
    assert (await client.get(url, headers={"Authorization": f"Basic {basic}"})).status_code == 200
    other = base64.b64encode(f"someone:{token}".encode()).decode()
    denied = await client.get(url, headers={"Authorization": f"Basic {other}"})
    assert denied.status_code == 403


async def test_a_service_that_is_not_exposed_is_404(
    gateway: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = gateway
    for name in ("plain", "absent"):
        response = await client.get(f"/system/services/{name}/exposed/x")
        assert response.status_code == 404
        assert orjson.loads(response.content)["error"]["code"] in ("not_found", "service_not_found")


async def test_an_application_that_does_not_answer_is_503(tmp_path: Path) -> None:
    backend = StaticBackend(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    backend.name = "deployment"
    settings = Settings(data_dir=tmp_path, backends=("deployment",))
    app = create_app(settings, [_spec("app")], backends={"deployment": backend})
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            response = await client.get("/system/services/app/exposed/")
    assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
