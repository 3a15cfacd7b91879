"""GrpcGateway: the Open Inference Protocol over gRPC (``inference.GRPCInferenceService``).

It runs in the gateway's event loop next to the HTTP app and holds no rules of its own: the
server-wide calls answer for the gateway (ServerLive, ServerReady, ServerMetadata); the calls on
a model (ModelReady, ModelMetadata, ModelInfer) go to that service's runtime over its gRPC port,
with the HTTP routes' auth (``authorization: Bearer <token>`` metadata), admission control
(`DataPlane.admission`), metrics (counted under the HTTP status of the same outcome), timeout
and size limit. The gateway reads only the model's name (`ModelRef`) and passes the message on
as bytes. Its errors get the gRPC code of their HTTP status (`runtimes.oip.grpc_calls`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from gateway.auth import Authenticator, parse_credentials
from gateway.config import Settings
from gateway.errors import BadRequest, GatewayError, MethodNotAllowed
from gateway.grpc_proxy import GrpcChannels
from gateway.registry import Registry
from gateway.routing import DataPlane
from gateway.system import server_metadata
from runtimes.oip import SERVICE
from runtimes.oip import grpc_predict_v2_pb2 as pb
from runtimes.oip.grpc_calls import grpc_status, method, server_options

log = logging.getLogger("gateway.grpc")

Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[bytes, Context], Awaitable[bytes]]


class GrpcGateway:
    """The gateway's gRPC server on ``settings.grpc_port`` (the host of the HTTP server)."""

    def __init__(
        self, settings: Settings, registry: Registry, data: DataPlane, auth: Authenticator
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._data = data
        self._auth = auth
        self._channels = GrpcChannels()
        self._server: grpc.aio.Server | None = None
        self._metadata = pb.ServerMetadataResponse(**server_metadata()).SerializeToString()

    async def start(self) -> None:
        """Listen on the gRPC port; an error if it is taken."""
        settings = self._settings
        server = grpc.aio.server(
            options=server_options(settings.max_body_bytes, settings.max_header_bytes)
        )
        calls: dict[str, Handler] = {
            "ServerLive": self._live,
            "ServerReady": self._ready,
            "ServerMetadata": self._server_metadata,
            "ModelReady": self._model_call("ModelReady", private=False),
            "ModelMetadata": self._model_call("ModelMetadata", private=False),
            "ModelInfer": self._model_call("ModelInfer", private=True),
        }
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            name: grpc.unary_unary_rpc_method_handler(handle) for name, handle in calls.items()
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        if server.add_insecure_port(f"{host}:{settings.grpc_port}") == 0:
            raise OSError(f"cannot listen on gRPC port {settings.grpc_port}")
        await server.start()
        self._server = server
        log.info("Open Inference Protocol over gRPC on %s:%d", settings.host, settings.grpc_port)

    async def stop(self, grace: float) -> None:
        """Stop taking calls, give running ones ``grace`` seconds, close the upstream channels."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        await self._channels.aclose()

    async def _live(self, request: bytes, context: Context) -> bytes:
        return pb.ServerLiveResponse(live=True).SerializeToString()

    async def _ready(self, request: bytes, context: Context) -> bytes:
        return pb.ServerReadyResponse(ready=self._registry.all_ready()).SerializeToString()

    async def _server_metadata(self, request: bytes, context: Context) -> bytes:
        return self._metadata

    def _model_call(self, call: str, *, private: bool) -> Handler:
        path = method(call)

        async def forward(request: bytes, context: Context) -> bytes:
            try:
                return await self._forward(path, request, context, private=private)
            except GatewayError as exc:
                await context.abort(grpc_status(exc.status_code), exc.message)
            except Exception:  # a bug: logged, answered without internals
                log.exception("unexpected error on gRPC %s", call)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return forward

    async def _forward(
        self, path: str, request: bytes, context: Context, *, private: bool
    ) -> bytes:
        started = time.perf_counter()
        try:
            name = pb.ModelRef.FromString(request).name
        except DecodeError:
            raise BadRequest("malformed request") from None
        entry = self._registry.get(name)
        metrics = self._data.service_metrics(name, entry.backend.name)
        metrics.inflight.inc()
        code = 500
        try:
            if private:
                token = parse_credentials(_metadata(context, "authorization"))
                self._auth.check_service(
                    token, name, public=entry.public, token_hash=entry.token_hash
                )
            admission = self._data.admission(name)
            await admission.acquire()
            try:
                endpoint = entry.backend.endpoint(name)
                if endpoint.grpc_target is None:
                    raise MethodNotAllowed(
                        f"service {name!r} on the {entry.backend.name} backend has no gRPC "
                        "endpoint; call it over HTTP"
                    )
                timeout = entry.spec.timeout or self._settings.upstream_timeout
                remaining = context.time_remaining()
                if remaining is not None:
                    timeout = min(timeout, remaining)
                upstream_started = time.perf_counter()
                answer = await self._channels.call(
                    endpoint.grpc_target, path, request, timeout, endpoint.token
                )
                metrics.upstream_duration.observe(time.perf_counter() - upstream_started)
            finally:
                admission.release()
            code = 200
            return answer
        except GatewayError as exc:
            code = exc.status_code
            raise
        finally:
            metrics.inflight.dec()
            metrics.count(code)
            metrics.request_duration.observe(time.perf_counter() - started)


def _metadata(context: Context, key: str) -> str | None:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None
