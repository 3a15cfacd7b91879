"""Limits and backpressure: bounded work per service (429 past the queue), header size (431)."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry

from tests.gateway.fakes import StaticBackend, gateway_client, upstream
from tests.support import free_port


async def test_saturated_service_answers_429_and_admitted_requests_finish() -> None:
    port = free_port()
    backend = StaticBackend(f"http://127.0.0.1:{port}")
    limits = {"max_inflight_per_service": 2, "max_queue_per_service": 1}
    async with upstream(port), gateway_client(backend, CollectorRegistry(), **limits) as client:

        async def call(index: int) -> httpx.Response:
            return await client.post(
                "/predict/echo?delay=0.5",
                content=str(index).encode(),
                headers={"Content-Type": "image/png"},
            )

        responses = await asyncio.gather(*(call(i) for i in range(6)))
        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 200, 200, 429, 429, 429]
        for response in responses:
            if response.status_code == 429:
                assert response.headers["retry-after"] == "1"
                assert response.json()["error"]["code"] == "overloaded"
            else:  # each admitted request got its own answer back
                assert response.content.startswith(response.request.content)
        # once the burst is over, the service takes requests again
        assert (await call(9)).status_code == 200


async def test_oversized_headers_are_431_json() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    async with gateway_client(StaticBackend(closed), CollectorRegistry()) as client:
        response = await client.get("/metrics", headers={"X-Big": "a" * 40_000})
        assert response.status_code == 431
        assert response.json()["error"]["code"] == "headers_too_large"
        oip = await client.get("/v2/health/live", headers={"X-Big": "a" * 40_000})
        assert oip.status_code == 431 and isinstance(oip.json()["error"], str)
        assert (await client.get("/v2/health/live")).status_code == 200
