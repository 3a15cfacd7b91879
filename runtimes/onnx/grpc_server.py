"""GrpcServer: the runtime's Open Inference Protocol over gRPC (``GRPCInferenceService``).

Every call but ServerLive and ServerReady asks for the runtime's token in the ``x-runtime-token``
metadata (`runtimes.auth`), as the HTTP routes ask for it in a header.
It runs on the same event loop as the HTTP app and serves the same loaded model through the same
batcher, so gRPC and HTTP requests share the inference slots. Errors are the runtime's own
(`ServingError`), answered with the matching gRPC status code (`runtimes.oip.grpc_calls`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import grpc
from google.protobuf.message import DecodeError, Message

from runtimes.auth import OPEN_GRPC_CALLS, TOKEN_METADATA, refusal, token_matches
from runtimes.errors import BadRequest, NotFound, ServingError
from runtimes.oip import EXTENSIONS, MODEL_VERSION, SERVICE
from runtimes.oip import grpc_predict_v2_pb2 as pb
from runtimes.oip.grpc_calls import grpc_status, server_options
from runtimes.onnx.config import RuntimeSettings
from runtimes.onnx.inference import ModelService
from runtimes.onnx.metrics import RuntimeMetrics
from runtimes.onnx.model import PLATFORM, TensorInfo
from runtimes.onnx.oip_grpc import encode_infer_response, parse_infer_request

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]


class ServingState(Protocol):
    """What the gRPC server needs of the runtime: its settings and metrics, the loaded model."""

    settings: RuntimeSettings
    metrics: RuntimeMetrics
    failure: str | None

    def require(self) -> ModelService:
        """The loaded model, or `NotReady`."""


class GrpcServer:
    """``inference.GRPCInferenceService`` on ``settings.grpc_port``."""

    def __init__(self, state: ServingState, server_name: str, version: str) -> None:
        self._state = state
        self._settings = state.settings
        self._metadata = pb.ServerMetadataResponse(
            name=server_name, version=version, extensions=EXTENSIONS
        )
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        """Listen on the gRPC port (an error if it is taken)."""
        settings = self._settings
        assert settings.grpc_port is not None
        server = grpc.aio.server(options=server_options(settings.max_body_bytes))
        calls: dict[str, tuple[type[Message], Callable[[Any], Awaitable[Message]]]] = {
            "ServerLive": (pb.ServerLiveRequest, self._live),
            "ServerReady": (pb.ServerReadyRequest, self._ready),
            "ModelReady": (pb.ModelReadyRequest, self._model_ready),
            "ServerMetadata": (pb.ServerMetadataRequest, self._server_metadata),
            "ModelMetadata": (pb.ModelMetadataRequest, self._model_metadata),
            "ModelInfer": (pb.ModelInferRequest, self._infer),
        }
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            name: grpc.unary_unary_rpc_method_handler(self._guarded(name, message, handle))
            for name, (message, handle) in calls.items()
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        server.add_insecure_port(f"{host}:{settings.grpc_port}")
        await server.start()
        self._server = server
        log.info("serving the Open Inference Protocol over gRPC on port %d", settings.grpc_port)

    async def stop(self, grace: float) -> None:
        """Stop taking calls; those running get ``grace`` seconds to finish."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    def _guarded(
        self, name: str, message: type[Message], handle: Callable[[Any], Awaitable[Message]]
    ) -> Callable[[bytes, Context], Awaitable[bytes]]:
        """The handler of one call: its request parsed here, so that a malformed one is
        INVALID_ARGUMENT; every error answered with its status code, and counted."""
        route = "grpc_" + name
        token = self._settings.token
        expected = None if token is None or name in OPEN_GRPC_CALLS else token.get_secret_value()

        async def call(request: bytes, context: Context) -> bytes:
            try:
                if expected is not None:
                    given = dict(context.invocation_metadata() or ()).get(TOKEN_METADATA)
                    if not token_matches(expected, given):
                        raise refusal()
                answer = (await handle(message.FromString(request))).SerializeToString()
            except ServingError as exc:
                self._state.metrics.count_request(route, exc.status_code)
                await context.abort(grpc_status(exc.status_code), exc.message)
            except DecodeError:
                self._state.metrics.count_request(route, 400)
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "malformed request")
            except Exception:
                log.exception("unexpected error in gRPC %s", name)
                self._state.metrics.count_request(route, 500)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            self._state.metrics.count_request(route, 200)
            return answer

        return call

    def _check_model(self, name: str, version: str) -> ModelService:
        self._check_name(name, version)
        return self._state.require()

    def _check_name(self, name: str, version: str) -> None:
        if name != self._settings.name or version not in ("", MODEL_VERSION):
            raise NotFound(
                f"no model {name!r} version {version!r}; this server has "
                f"{self._settings.name!r} version {MODEL_VERSION!r}"
            )

    async def _live(self, request: pb.ServerLiveRequest) -> Message:
        return pb.ServerLiveResponse(live=self._state.failure is None)

    async def _ready(self, request: pb.ServerReadyRequest) -> Message:
        try:
            self._state.require()
        except ServingError:
            return pb.ServerReadyResponse(ready=False)
        return pb.ServerReadyResponse(ready=True)

    async def _model_ready(self, request: pb.ModelReadyRequest) -> Message:
        self._check_name(request.name, request.version)  # NOT_FOUND, as over HTTP
        try:
            self._state.require()
        except ServingError:
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    async def _server_metadata(self, request: pb.ServerMetadataRequest) -> Message:
        return self._metadata

    async def _model_metadata(self, request: pb.ModelMetadataRequest) -> Message:
        model = self._check_model(request.name, request.version).model
        return pb.ModelMetadataResponse(
            name=self._settings.name,
            versions=[MODEL_VERSION],
            platform=PLATFORM,
            inputs=[_tensor(i) for i in model.inputs],
            outputs=[_tensor(o) for o in model.outputs],
        )

    async def _infer(self, request: pb.ModelInferRequest) -> Message:
        if not request.model_name:
            raise BadRequest("model_name is empty")
        service = self._check_model(request.model_name, request.model_version)
        names = [o.name for o in service.model.outputs]
        parsed = parse_infer_request(request, service.model.inputs, names)
        arrays = await service.infer(parsed.feeds, parsed.outputs)
        return encode_infer_response(self._settings.name, parsed, parsed.outputs or names, arrays)


def _tensor(info: TensorInfo) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(
        name=info.name, datatype=info.datatype, shape=info.shape
    )
