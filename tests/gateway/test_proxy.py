"""The data path in-process: the gateway app (httpx.ASGITransport) forwarding to a real upstream
served by uvicorn on loopback, behind a static backend (a Protocol fake, no inheritance)."""

from __future__ import annotations

import asyncio
import re

import pytest
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.gateway.fakes import StaticBackend, gateway_client, upstream
from tests.support import free_port


async def test_body_status_type_and_query_pass_through() -> None:
    port = free_port()
    registry = CollectorRegistry()
    async with (
        upstream(port),
        gateway_client(StaticBackend(f"http://127.0.0.1:{port}"), registry) as client,
    ):
        response = await client.post(
            "/predict/echo?top_k=2", content=b"\x89PNG-bytes", headers={"Content-Type": "image/png"}
        )
        assert response.status_code == 200
        assert response.content == b"\x89PNG-bytes|top_k=2"
        assert response.headers["content-type"] == "image/png"
        busy = await client.post(
            "/predict/echo?status=503", content=b"x", headers={"Content-Type": "image/png"}
        )
        assert busy.status_code == 503 and busy.headers["retry-after"] == "7"
    assert (
        registry.get_sample_value(
            "gateway_requests_total", {"service": "echo", "backend": "local", "code": "200"}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "gateway_upstream_duration_seconds_count", {"service": "echo", "backend": "local"}
        )
        == 2
    )


async def test_upstream_past_the_service_timeout_is_504() -> None:
    port = free_port()
    async with (
        upstream(port),
        gateway_client(
            StaticBackend(f"http://127.0.0.1:{port}"), CollectorRegistry(), timeout=0.3
        ) as client,
    ):
        response = await client.post("/v2/models/echo/infer", json={"inputs": []})
        assert response.status_code == 504
        assert "did not answer" in response.json()["error"]  # OIP error format on /v2


async def test_refused_connection_is_503_with_retry_after() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    async with gateway_client(StaticBackend(closed), CollectorRegistry()) as client:
        response = await client.post(
            "/predict/echo", content=b"x", headers={"Content-Type": "image/png"}
        )
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        assert response.headers["retry-after"] == "1"


async def test_cold_upstream_is_retried_within_its_budget() -> None:
    port = free_port()
    registry = CollectorRegistry()
    asked, warm = asyncio.Event(), asyncio.Event()

    async def warming(request: Request) -> Response:
        """503 until the test says the runtime is warm (as a Knative activator answers)."""
        asked.set()
        if not warm.is_set():
            return Response(b"warming up", 503)
        return Response(await request.body() + b"|", media_type="image/png")

    backend = StaticBackend(f"http://127.0.0.1:{port}", cold_start_budget=60.0)
    async with (
        upstream(port, Route("/predict", warming, methods=["POST"])),
        gateway_client(backend, registry) as client,
    ):
        sending = asyncio.create_task(
            client.post("/predict/echo", content=b"hi", headers={"Content-Type": "image/png"})
        )
        await asyncio.wait_for(asked.wait(), 30)  # the runtime answered 503 at least once
        warm.set()
        response = await sending
    assert response.status_code == 200 and response.content == b"hi|"
    labels = {"service": "echo", "backend": "local"}
    assert registry.get_sample_value("gateway_cold_starts_total", labels) == 1
    waited = registry.get_sample_value("gateway_cold_start_duration_seconds_sum", labels)
    assert waited is not None and waited > 0


async def test_a_cold_upstream_past_its_budget_answers_its_own_503() -> None:
    port = free_port()
    registry = CollectorRegistry()
    backend = StaticBackend(f"http://127.0.0.1:{port}", cold_start_budget=0.2)
    async with upstream(port), gateway_client(backend, registry) as client:
        response = await client.post(
            "/predict/echo?status=503", content=b"x", headers={"Content-Type": "image/png"}
        )
    assert response.status_code == 503 and response.content == b"x|status=503"
    assert response.headers["retry-after"] == "7"
    labels = {"service": "echo", "backend": "local"}
    assert registry.get_sample_value("gateway_cold_starts_total", labels) == 1


async def test_a_refused_upstream_past_its_budget_is_503_unavailable() -> None:
    backend = StaticBackend(f"http://127.0.0.1:{free_port()}", cold_start_budget=0.2)
    async with gateway_client(backend, CollectorRegistry()) as client:
        response = await client.post(
            "/predict/echo", content=b"x", headers={"Content-Type": "image/png"}
        )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert "ClientConnectorError" in response.json()["error"]["message"]


async def test_a_stale_pooled_connection_is_retried_once_on_a_new_one() -> None:
    """The upstream closes a kept-alive connection when the next request arrives on it, unanswered
    (as one restarting does): the request goes again, on a fresh connection."""
    port = free_port()
    served: list[int] = []  # requests read, per connection

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = len(served)
        served.append(0)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                served[connection] += 1
                if served[connection] == 2:
                    return  # closed, unanswered
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except asyncio.IncompleteReadError:
            return
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        backend = StaticBackend(f"http://127.0.0.1:{port}")
        async with gateway_client(backend, CollectorRegistry()) as client:
            for _ in range(2):
                response = await client.post(
                    "/predict/echo", content=b"x", headers={"Content-Type": "image/png"}
                )
                assert response.status_code == 200 and response.content == b"ok"
    finally:
        server.close()
        await server.wait_closed()
    assert served == [2, 1]


async def test_an_answer_cut_off_mid_body_is_503_with_retry_after() -> None:
    """The upstream dies while it sends its body (a runtime killed under load): the client is
    told to come back (503, Retry-After), as for a runtime that is restarting, not a 502."""
    port = free_port()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 337\r\n\r\n{"partial"')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        backend = StaticBackend(f"http://127.0.0.1:{port}")
        async with gateway_client(backend, CollectorRegistry()) as client:
            response = await client.post(
                "/predict/echo", content=b"x", headers={"Content-Type": "image/png"}
            )
    finally:
        server.close()
        await server.wait_closed()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "unavailable"
    assert "in the middle of its answer" in response.json()["error"]["message"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_unsupported_types_never_reach_the_upstream(content_type: str | None) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # would answer 503 if it were called
    async with gateway_client(StaticBackend(closed), CollectorRegistry()) as client:
        headers = {"Content-Type": content_type} if content_type else {}
        response = await client.post("/predict/echo", content=b"x", headers=headers)
        assert response.status_code == 415
