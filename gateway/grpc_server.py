"""GrpcGateway: the Open Inference Protocol over gRPC (``inference.GRPCInferenceService``).

It runs in the gateway's event loop next to the HTTP app and holds no rules of its own: the
server-wide calls answer for the gateway (ServerLive, ServerReady, ServerMetadata); the calls on
a model (ModelReady, ModelMetadata, ModelInfer) go to that service's runtime over its gRPC port,
with the HTTP routes' auth (``authorization: Bearer <token>`` metadata), admission control
(`DataPlane.admission`), metrics (counted under the HTTP status of the same outcome), timeout
and size limit. The gateway reads only the model's name (`ModelRef`) and passes the message on
as bytes. Its errors get the gRPC code of their HTTP status (`runtimes.oip.grpc_calls`).

A service with members (`gateway.federation`) whose runtime here is not ready, whose admission
is full, or whose runtime is unreachable after all, has its model calls sent to a member's gRPC
port (`gateway.federation.grpc_members`), unless the call itself came from another gateway
(metadata ``x-delegated-from``); the initial metadata ``x-served-by`` says who answered.
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
from gateway.errors import BadRequest, GatewayError, MethodNotAllowed, Unavailable
from gateway.federation import has_members, state_here
from gateway.federation.grpc_members import HOP_KEY, SERVED_BY_KEY, GrpcMembers
from gateway.grpc_proxy import GrpcChannels
from gateway.metrics import ServiceMetrics
from gateway.registry import Entry, Registry
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
        delegator = data.delegator
        self._members = GrpcMembers(delegator, self._channels) if delegator is not None else None
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
            timeout = entry.spec.timeout or self._settings.upstream_timeout
            remaining = context.time_remaining()
            if remaining is not None:
                timeout = min(timeout, remaining)
            admission = self._data.admission(name)
            delegable = self._delegable(entry, context)
            if delegable and (state_here(entry) != "ready" or admission.full):
                answer = await self._at_member(entry, path, request, timeout, context)
            else:
                try:
                    answer = await self._here(entry, path, request, timeout, metrics)
                except Unavailable:
                    if not delegable:
                        raise
                    answer = await self._at_member(entry, path, request, timeout, context)
                else:
                    if delegable:
                        await context.send_initial_metadata(((SERVED_BY_KEY, self._origin()),))
            code = 200
            return answer
        except GatewayError as exc:
            code = exc.status_code
            raise
        finally:
            metrics.inflight.dec()
            metrics.count(code)
            metrics.request_duration.observe(time.perf_counter() - started)

    async def _here(
        self, entry: Entry, path: str, request: bytes, timeout: float, metrics: ServiceMetrics
    ) -> bytes:
        name = entry.spec.name
        admission = self._data.admission(name)
        await admission.acquire()
        try:
            endpoint = entry.backend.endpoint(name)
            if endpoint.grpc_target is None:
                raise MethodNotAllowed(
                    f"service {name!r} on the {entry.backend.name} backend has no gRPC "
                    "endpoint; call it over HTTP"
                )
            upstream_started = time.perf_counter()
            answer = await self._channels.call(
                endpoint.grpc_target, path, request, timeout, token=endpoint.token
            )
            metrics.upstream_duration.observe(time.perf_counter() - upstream_started)
            return answer
        finally:
            admission.release()

    def _delegable(self, entry: Entry, context: Context) -> bool:
        """The call may go to a member: the service has some, and it was not delegated here."""
        return (
            self._members is not None
            and has_members(entry.spec)
            and _metadata(context, HOP_KEY) is None
        )

    async def _at_member(
        self, entry: Entry, path: str, request: bytes, timeout: float, context: Context
    ) -> bytes:
        assert self._members is not None
        answer, member = await self._members.call(entry.spec, path, request, timeout)
        await context.send_initial_metadata(((SERVED_BY_KEY, member.name),))
        return answer

    def _origin(self) -> str:
        """What this gateway calls itself to members (``x-served-by`` when it answered)."""
        delegator = self._data.delegator
        return delegator.client.origin if delegator is not None else "gateway"


def _metadata(context: Context, key: str) -> str | None:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None
