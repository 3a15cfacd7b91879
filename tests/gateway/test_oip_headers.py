"""The OIP REST routes in-process: the header allowlist both ways, versions, ``GET /v2``, errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.proxy import FORWARDED_HEADERS, forwarded_headers
from tests.gateway.fakes import StaticBackend, gateway_client
from tests.support import free_port


async def _show_headers(request: Request) -> Response:
    """Answers the path and headers it got, as a binary-extension body with headers of its own."""
    seen = orjson.dumps({"path": request.url.path, "headers": dict(request.headers)})
    return Response(
        seen + b"\x00\x01",
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(seen)), "X-Upstream-Secret": "s"},
    )


@contextlib.asynccontextmanager
async def _upstream(port: int) -> AsyncIterator[None]:
    app = Starlette(routes=[Route("/{path:path}", _show_headers, methods=["GET", "POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        await task


def test_the_allowlist_is_case_insensitive_and_drops_the_rest() -> None:
    headers = {"content-type": "a/b", "INFERENCE-HEADER-CONTENT-LENGTH": "3", "Cookie": "c"}
    picked = forwarded_headers(Headers(headers=headers))
    assert picked == {"Content-Type": "a/b", "Inference-Header-Content-Length": "3"}
    assert "Retry-After" in FORWARDED_HEADERS


async def test_binary_extension_headers_cross_both_ways_and_nothing_else() -> None:
    port = free_port()
    async with (
        _upstream(port),
        gateway_client(StaticBackend(f"http://127.0.0.1:{port}"), CollectorRegistry()) as client,
    ):
        response = await client.post(
            "/v2/models/echo/versions/1/infer",
            content=b'{"inputs": []}\x00\x00\x80\x3f',
            headers={
                "Content-Type": "application/octet-stream",
                "Inference-Header-Content-Length": "14",
                "Authorization": "Bearer not-for-the-runtime",
                "X-Client-Secret": "c",
            },
        )
    assert response.status_code == 200
    json_length = int(response.headers["inference-header-content-length"])
    seen = orjson.loads(response.content[:json_length])
    assert response.content[json_length:] == b"\x00\x01"
    assert "x-upstream-secret" not in response.headers
    assert seen["path"] == "/v2/models/echo/versions/1/infer"
    assert seen["headers"]["inference-header-content-length"] == "14"
    assert seen["headers"]["content-type"] == "application/octet-stream"
    assert "authorization" not in seen["headers"] and "x-client-secret" not in seen["headers"]


async def test_version_routes_reach_the_runtime_path() -> None:
    port = free_port()
    async with (
        _upstream(port),
        gateway_client(StaticBackend(f"http://127.0.0.1:{port}"), CollectorRegistry()) as client,
    ):
        for path in ("/v2/models/echo/versions/1", "/v2/models/echo/versions/1/ready"):
            response = await client.get(path)
            length = int(response.headers["inference-header-content-length"])
            assert orjson.loads(response.content[:length])["path"] == path


async def test_server_metadata_and_oip_errors_on_every_v2_route() -> None:
    async with gateway_client(StaticBackend("http://127.0.0.1:9"), CollectorRegistry()) as client:
        metadata = await client.get("/v2")
        assert metadata.status_code == 200
        assert metadata.json()["name"] == "inference-gateway"
        assert "binary_tensor_data" in metadata.json()["extensions"]
        for method, path, status in (
            ("GET", "/v2/nowhere", 404),
            ("POST", "/v2", 405),
            ("GET", "/v2/models/nope/versions/1", 404),
            ("POST", "/v2/models/nope/versions/1/infer", 404),
        ):
            response = await client.request(method, path)
            assert response.status_code == status, path
            assert isinstance(response.json()["error"], str), path
