"""The gateway's gRPC server in-process, in front of a real gRPC upstream on loopback: admission
shared with the HTTP routes, metrics, messages passed through as bytes, backends without gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.backends.base import Endpoint, ServiceState
from gateway.config import Settings
from gateway.services import ServiceSpec
from runtimes.oip import SERVICE
from runtimes.oip import grpc_predict_v2_pb2 as pb
from runtimes.oip.grpc_calls import method
from tests.support import free_port


class GrpcBackend:
    """Sends every call to one fixed upstream (HTTP and, if given, gRPC)."""

    name = "local"

    def __init__(self, grpc_target: str | None) -> None:
        self.grpc_target = grpc_target

    async def deploy(self, spec: ServiceSpec) -> None:
        return None

    async def remove(self, name: str) -> None:
        return None

    def endpoint(self, name: str) -> Endpoint:
        return Endpoint("http://127.0.0.1:9", grpc_target=self.grpc_target)

    def status(self, name: str) -> ServiceState:
        return ServiceState("ready", replicas=1)

    async def logs(self, name: str, lines: int) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None


class HeldUpstream:
    """A gRPC upstream whose ModelInfer answers only once `release` is set."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.received: list[bytes] = []

    async def infer(self, request: bytes, context: Any) -> bytes:
        self.received.append(request)
        self.entered.set()
        await self.release.wait()
        return pb.ModelInferResponse(model_name="echo", id="held").SerializeToString()


@contextlib.asynccontextmanager
async def _upstream(held: HeldUpstream) -> AsyncIterator[str]:
    server = grpc.aio.server()
    handlers = {"ModelInfer": grpc.unary_unary_rpc_method_handler(held.infer)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


@contextlib.asynccontextmanager
async def _gateway(
    backend: GrpcBackend,
    registry: CollectorRegistry,
    timeout: float | None = None,
    **settings: Any,
) -> AsyncIterator[tuple[Starlette, grpc.aio.Channel]]:
    grpc_port = free_port()
    app = create_app(
        Settings(
            data_dir=Path(tempfile.mkdtemp(prefix="gateway-grpc-")), grpc_port=grpc_port, **settings
        ),
        [ServiceSpec(name="echo", model="m.onnx", timeout=timeout)],  # type: ignore[arg-type]
        backends={"local": backend},
        metrics_registry=registry,
        serve_grpc=True,
    )
    async with (
        app.router.lifespan_context(app),
        grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel,
    ):
        await channel.channel_ready()
        yield app, channel


def _infer(channel: grpc.aio.Channel) -> Any:
    return channel.unary_unary(
        method("ModelInfer"),
        request_serializer=pb.ModelInferRequest.SerializeToString,
        response_deserializer=pb.ModelInferResponse.FromString,
    )


async def test_grpc_and_http_share_the_admission_of_a_service() -> None:
    held, registry = HeldUpstream(), CollectorRegistry()
    limits = {"max_inflight_per_service": 1, "max_queue_per_service": 0}
    async with (
        _upstream(held) as target,
        _gateway(GrpcBackend(target), registry, **limits) as (
            app,
            channel,
        ),
    ):
        request = pb.ModelInferRequest(model_name="echo", raw_input_contents=[b"\x01\x02"])
        first = asyncio.ensure_future(_infer(channel)(request))
        await held.entered.wait()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _infer(channel)(request)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            http = await client.post("/v2/models/echo/infer", json={"inputs": []})
        assert http.status_code == 429 and isinstance(http.json()["error"], str)
        held.release.set()
        answer = await first
    assert answer.id == "held"
    assert held.received == [request.SerializeToString()]  # passed on as it came
    labels = {"service": "echo", "backend": "local"}
    assert registry.get_sample_value("gateway_requests_total", {**labels, "code": "200"}) == 1
    assert registry.get_sample_value("gateway_requests_total", {**labels, "code": "429"}) == 2
    assert registry.get_sample_value("gateway_upstream_duration_seconds_count", labels) == 1


async def test_the_service_timeout_is_the_upstream_deadline() -> None:
    held, registry = HeldUpstream(), CollectorRegistry()
    async with (
        _upstream(held) as target,
        _gateway(GrpcBackend(target), registry, 0.3) as (
            _,
            channel,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _infer(channel)(pb.ModelInferRequest(model_name="echo"))
        held.release.set()
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    labels = {"service": "echo", "backend": "local", "code": "504"}
    assert registry.get_sample_value("gateway_requests_total", labels) == 1


async def test_a_backend_without_grpc_answers_unimplemented() -> None:
    async with _gateway(GrpcBackend(None), CollectorRegistry()) as (_, channel):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _infer(channel)(pb.ModelInferRequest(model_name="echo"))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "over HTTP" in (caught.value.details() or "")


async def test_server_calls_answer_for_the_gateway() -> None:
    async with _gateway(GrpcBackend(None), CollectorRegistry()) as (_, channel):
        metadata = await channel.unary_unary(
            method("ServerMetadata"),
            request_serializer=pb.ServerMetadataRequest.SerializeToString,
            response_deserializer=pb.ServerMetadataResponse.FromString,
        )(pb.ServerMetadataRequest())
        live = await channel.unary_unary(
            method("ServerLive"),
            request_serializer=pb.ServerLiveRequest.SerializeToString,
            response_deserializer=pb.ServerLiveResponse.FromString,
        )(pb.ServerLiveRequest())
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await _infer(channel)(pb.ModelInferRequest(model_name="nope"))
    assert metadata.name == "inference-gateway" and list(metadata.extensions) == [
        "binary_tensor_data"
    ]
    assert live.live
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
