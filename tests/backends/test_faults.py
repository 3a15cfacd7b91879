"""API faults at the backends' boundary: 409 on create, 404 on delete, 500s, an API server that
does not answer, watches that end early. Each gives a bounded retry or a clear error, never a hang
(every scenario runs under asyncio.wait_for)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from kubernetes import client

from gateway.backends.deployment import DeploymentBackend
from gateway.backends.knative import KnativeBackend
from gateway.errors import Unavailable, UpstreamError
from gateway.kube.client import KubeApi
from gateway.services import ServiceSpec
from tests.backends import cluster
from tests.backends.conftest import kube_settings, make_api_client, wait_for
from tests.support import free_port

NO_HANG = 60
SPEC = ServiceSpec(name="m", model="m.onnx", image="r/m:1", backend="knative", max_scale=2)
READY = {"conditions": [{"type": "Ready", "status": "True"}], "url": "http://m.example"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ACCESS_PATHS = ("/api/v1/namespaces/f", "/apis/authorization.k8s.io/")


class FakeApi:
    """A loopback HTTP server whose every answer the test scripts (`handler`), counting calls."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.calls: list[str] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(ACCESS_PATHS):  # the start-up check: all is allowed
            body = await request.json() if request.method == "POST" else {}
            return web.json_response({**body, "status": {"allowed": True}}, status=201)
        self.calls.append(f"{request.method} {request.path_qs}")
        assert self.handler is not None
        return await self.handler(request)

    def count(self, method: str) -> int:
        return sum(call.startswith(method + " ") for call in self.calls)


@pytest_asyncio.fixture
async def fake_api() -> AsyncIterator[FakeApi]:
    fake = FakeApi()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake._dispatch)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", fake.port).start()
    yield fake
    await runner.cleanup()


def ksvc(status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "m", "namespace": "f"},
    }
    if status:
        obj["status"] = status
    return obj


async def test_create_conflict_becomes_a_patch(
    kube_url: str, namespace: str, api_client: Any
) -> None:
    custom = client.CustomObjectsApi(api_client)
    path = ("serving.knative.dev", "v1", namespace, "services")
    existing = {**ksvc(), "metadata": {"name": "m", "namespace": namespace}}
    await asyncio.to_thread(custom.create_namespaced_custom_object, *path, existing)
    await cluster.knative_ready(api_client, namespace, "m", "http://127.0.0.1:9")
    backend = KnativeBackend(kube_settings(namespace), make_api_client(kube_url))
    try:
        await asyncio.wait_for(backend.deploy(SPEC), NO_HANG)  # 409 -> patch: generation 2
        obj = await wait_for(custom.get_namespaced_custom_object, *path, "m")
        annotations = obj["spec"]["template"]["metadata"]["annotations"]
        assert annotations["autoscaling.knative.dev/max-scale"] == "2"
        await cluster.knative_ready(api_client, namespace, "m", "http://127.0.0.1:9")
        assert (await backend.wait_ready("m", NO_HANG)).state == "ready"
        assert backend.endpoint("m").base_url == "http://127.0.0.1:9"
    finally:
        await backend.remove("m")
        await backend.aclose()


async def test_removing_what_is_not_there_is_fine(kube_url: str, namespace: str) -> None:
    for backend in (
        KnativeBackend(kube_settings(namespace), make_api_client(kube_url)),
        DeploymentBackend(kube_settings(namespace), make_api_client(kube_url)),
    ):
        await asyncio.wait_for(backend.remove("never-deployed"), NO_HANG)  # 404 tolerated
        await backend.aclose()


async def test_api_500s_are_retried_then_a_clear_upstream_error(fake_api: FakeApi) -> None:
    async def always_500(request: web.Request) -> web.Response:
        return web.json_response({"kind": "Status", "message": "etcd is sad"}, status=500)

    fake_api.handler = always_500
    backend = KnativeBackend(kube_settings("f"), make_api_client(fake_api.url))
    with pytest.raises(UpstreamError, match=r"create Knative Service f/m: 500.*etcd is sad"):
        await asyncio.wait_for(backend.deploy(SPEC), NO_HANG)
    assert fake_api.count("POST") == 3  # bounded retries
    await backend.aclose()


def listing(request: web.Request) -> web.Response:
    return web.json_response({"items": [], "metadata": {"resourceVersion": "1"}})


async def test_one_500_is_retried_and_succeeds(fake_api: FakeApi) -> None:
    async def flaky(request: web.Request) -> web.StreamResponse:
        if request.method == "POST" and fake_api.count("POST") == 1:
            return web.json_response({"message": "try again"}, status=503)
        if request.query.get("watch") == "true":
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(json.dumps({"type": "ADDED", "object": ksvc(READY)}).encode())
            await response.write(b"\n")
            return response
        return listing(request) if request.method == "GET" else web.json_response(ksvc())

    fake_api.handler = flaky
    backend = KnativeBackend(kube_settings("f"), make_api_client(fake_api.url))
    await asyncio.wait_for(backend.deploy(SPEC), NO_HANG)
    assert (await backend.wait_ready("m", NO_HANG)).state == "ready"
    assert backend.endpoint("m").base_url == "http://m.example"
    assert fake_api.count("POST") == 2  # the 503, then the create
    await backend.aclose()


async def test_an_api_server_that_does_not_answer_is_unavailable_not_a_hang(
    fake_api: FakeApi,
) -> None:
    async def silent(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    fake_api.handler = silent
    settings = kube_settings("f", kube_request_timeout=0.3)
    backend = KnativeBackend(settings, make_api_client(fake_api.url))
    with pytest.raises(Unavailable, match="no answer"):
        await asyncio.wait_for(backend.deploy(SPEC), NO_HANG)
    await backend.aclose()


async def test_a_watch_that_ends_early_is_restarted_until_ready(fake_api: FakeApi) -> None:
    watches = 0

    async def short_watches(request: web.Request) -> web.StreamResponse:
        nonlocal watches
        if request.query.get("watch") != "true":
            return listing(request) if request.method == "GET" else web.json_response(ksvc())
        watches += 1
        response = web.StreamResponse()
        await response.prepare(request)
        if watches >= 3:
            event = {"type": "MODIFIED", "object": ksvc(READY)}
            await response.write(json.dumps(event).encode() + b"\n")
        return response  # the stream ends here

    fake_api.handler = short_watches
    backend = KnativeBackend(kube_settings("f"), make_api_client(fake_api.url))
    await asyncio.wait_for(backend.deploy(SPEC), NO_HANG)
    assert (await backend.wait_ready("m", NO_HANG)).state == "ready"
    assert watches == 3
    await backend.aclose()


async def test_never_ready_stays_starting_and_unroutable(fake_api: FakeApi) -> None:
    async def never_ready(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "true":
            return listing(request) if request.method == "GET" else web.json_response(ksvc())
        response = web.StreamResponse()
        await response.prepare(request)
        await asyncio.sleep(0.2)
        return response

    fake_api.handler = never_ready
    backend = KnativeBackend(kube_settings("f"), make_api_client(fake_api.url))
    await asyncio.wait_for(backend.deploy(SPEC), NO_HANG)  # returns at once: starting
    state = await backend.wait_ready("m", 1.0)
    assert state.state == "starting" and "no Ready condition" in state.detail
    with pytest.raises(Unavailable):
        backend.endpoint("m")
    await backend.aclose()


async def test_a_watch_whose_answer_never_comes_is_retried_not_an_error(fake_api: FakeApi) -> None:
    """A read timeout while opening the watch (urllib3's ReadTimeoutError) used to escape as an
    unexpected error: it is a watch that ended, opened again until ready."""
    watches = 0

    async def slow_then_ready(request: web.Request) -> web.StreamResponse:
        nonlocal watches
        if request.query.get("watch") != "true":
            return listing(request) if request.method == "GET" else web.json_response(ksvc())
        watches += 1
        if watches == 1:
            await asyncio.sleep(3600)  # no headers within the read timeout
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(json.dumps({"type": "MODIFIED", "object": ksvc(READY)}).encode())
        await response.write(b"\n")
        return response

    fake_api.handler = slow_then_ready
    # the first watch's read times out after its length (1 s) and the request timeout (2 s);
    # every other request has those 2 s to be answered, on a loaded machine too
    settings = kube_settings("f", kube_request_timeout=2.0, kube_watch_seconds=1)
    backend = KnativeBackend(settings, make_api_client(fake_api.url))
    await asyncio.wait_for(backend.deploy(SPEC), NO_HANG)
    assert (await backend.wait_ready("m", NO_HANG)).state == "ready"
    assert watches >= 2
    await backend.aclose()

    kube = KubeApi(settings, make_api_client(fake_api.url))  # the bounded watch of a Job, too
    watches = 0
    found = await asyncio.wait_for(
        kube.watch_until(
            "watch Job f/m",
            client.CustomObjectsApi(kube.api_client).list_namespaced_custom_object,
            lambda obj: True,
            deadline=time.monotonic() + 1.0,  # one watch of 1 s, which times out
            name="m",
            group="serving.knative.dev",
            version="v1",
            namespace="f",
            plural="services",
        ),
        NO_HANG,
    )
    assert found is None and watches == 1  # the deadline passed: no exception
    kube.close()
