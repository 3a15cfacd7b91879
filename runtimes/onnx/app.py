"""create_app: the runtime's HTTP surface (``/predict``, Open Inference Protocol v2, metrics).

The model loads in the background once the lifespan starts, so the server listens at once:
``/v2/health/live`` answers 200 from the start, readiness and inference answer 503 with
``Retry-After`` until the model is loaded. One handler renders every error: ``{"error": {"code",
"message"}}``, except under ``/v2/``, where the Open Inference Protocol wants ``{"error": "..."}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from runtimes.auth import RequireToken
from runtimes.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    NotReady,
    ServingError,
    error_body,
)
from runtimes.oip import EXTENSIONS, INFERENCE_HEADER
from runtimes.onnx.batcher import BatchObserver
from runtimes.onnx.config import RuntimeSettings
from runtimes.onnx.inference import ModelService, load_service
from runtimes.onnx.inputs import read_body, read_images
from runtimes.onnx.metrics import RuntimeMetrics
from runtimes.onnx.model import PLATFORM
from runtimes.onnx.oip import encode_response, parse_request
from runtimes.readiness import notify_ready

log = logging.getLogger(__name__)

#: loader(settings, observer) -> ModelService; blocking, run in a thread (a test seam)
Loader = Callable[[RuntimeSettings, BatchObserver], ModelService]

_JSON = "application/json"

#: What ``GET /v2`` and gRPC ServerMetadata say of a runtime.
SERVER_METADATA: dict[str, Any] = {
    "name": "inference-gateway-onnx",
    "version": "0.1.0",
    "extensions": EXTENSIONS,
}


def _json(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code, headers, media_type=_JSON)


class _State:
    """What the routes share: the service once loaded, or why it is not."""

    def __init__(self, settings: RuntimeSettings, metrics: RuntimeMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.service: ModelService | None = None
        self.failure: str | None = None

    def require(self) -> ModelService:
        if self.service is None:
            reason = self.failure or f"model {self.settings.name} is loading"
            raise NotReady(reason, retry_after=None if self.failure else 1.0)
        return self.service

    def check_name(self, request: Request) -> None:
        name = request.path_params["name"]
        version = request.path_params.get("version", "1")
        if name != self.settings.name or version != "1":
            raise NotFound(
                f"no model {name!r} version {version!r}; this server has "
                f"{self.settings.name!r} version '1'"
            )


def create_app(
    settings: RuntimeSettings,
    *,
    registry: CollectorRegistry | None = None,
    loader: Loader | None = None,
) -> Starlette:
    """The runtime application for ``settings``; metrics go to ``registry`` (a fresh one if
    None). ``loader`` builds the ModelService (default: load ``settings.model_path``)."""
    metrics = RuntimeMetrics(registry or CollectorRegistry(), service=settings.name)
    state = _State(settings, metrics)
    load = loader or (lambda s, observer: load_service(s, observer=observer))

    async def live(request: Request) -> Response:
        if state.failure:
            raise NotReady(state.failure, retry_after=None)
        return _json({"live": True})

    async def ready(request: Request) -> Response:
        state.require()
        return _json({"ready": True})

    async def model_ready(request: Request) -> Response:
        state.check_name(request)
        state.require()
        return _json({"name": settings.name, "ready": True})

    async def server_metadata(request: Request) -> Response:
        return _json(SERVER_METADATA)

    async def model_metadata(request: Request) -> Response:
        state.check_name(request)
        service = state.require()
        model = service.model
        parameters = {
            "execution_provider": model.provider,
            "threads": model.threads,
            "max_batch_size": service.batcher.max_batch_size,  # as fitted to this CPU, if it was
            "lone_on_loop_ms": service.batcher.lone_on_loop * 1000,
        }
        return _json(
            {
                "name": settings.name,
                "versions": ["1"],
                "platform": PLATFORM,
                "inputs": [_tensor(i) for i in model.inputs],
                "outputs": [_tensor(o) for o in model.outputs],
                "execution_provider": model.provider,
                "parameters": parameters,
            }
        )

    async def infer(request: Request) -> Response:
        state.check_name(request)
        service = state.require()
        header = request.headers.get(INFERENCE_HEADER)
        try:
            header_length = int(header) if header is not None else None
        except ValueError:
            raise BadRequest("invalid Inference-Header-Content-Length") from None
        body = await read_body(request, settings.max_body_bytes)
        output_names = [o.name for o in service.model.outputs]
        parsed = parse_request(body, header_length, service.model.inputs, output_names)
        arrays = await service.infer(parsed.feeds, parsed.outputs)
        payload, json_length = encode_response(
            settings.name, parsed, parsed.outputs or output_names, arrays
        )
        metrics.count_request("infer", 200)
        if json_length is None:
            return Response(payload, media_type=_JSON)
        return Response(
            payload,
            media_type="application/octet-stream",
            headers={INFERENCE_HEADER: str(json_length)},
        )

    async def predict(request: Request) -> Response:
        service = state.require()
        top_k = _top_k(request.query_params.get("top_k"), settings.default_top_k)
        uploads = await read_images(
            request, max_bytes=settings.max_body_bytes, max_files=settings.max_files
        )
        answers = await service.predict([u.data for u in uploads], top_k)
        head = {"service": settings.name, "model": service.label}
        if len(uploads) == 1:
            if isinstance(answers[0], ServingError):
                raise answers[0]
            metrics.count_request("predict", 200)
            return _json({**head, "predictions": answers[0]})
        results: list[dict[str, Any]] = []
        for upload, answer in zip(uploads, answers, strict=True):
            if isinstance(answer, ServingError):
                results.append({"filename": upload.filename, "error": answer.detail()})
            else:
                results.append({"filename": upload.filename, "predictions": answer})
        metrics.count_request("predict", 200)
        return _json({**head, "results": results})

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def render_error(request: Request, exc: Exception) -> Response:
        error = _as_serving_error(exc)
        route = getattr(request.scope.get("route"), "name", None) or "other"
        metrics.count_request(route, error.status_code)
        headers = error.headers()
        if isinstance(exc, HTTPException) and exc.headers:
            headers.update(exc.headers)
        return _json(error_body(error, request.url.path), error.status_code, headers)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        grpc_server = None
        listening = asyncio.Event()  # the model may say "ready" once gRPC listens too
        # The model loads (in a thread) while gRPC starts; a taken port still stops the start.
        loading = asyncio.create_task(_load(state, load, listening), name="load-model")
        try:
            if settings.grpc_port is not None:
                # imported here: a runtime without gRPC (a Knative revision) starts without grpcio
                from runtimes.onnx.grpc_server import GrpcServer

                name, version = SERVER_METADATA["name"], SERVER_METADATA["version"]
                grpc_server = GrpcServer(state, name, version)
                await grpc_server.start()
            listening.set()
            yield
        finally:
            # A failed start has no "ready" to say; a loaded model may still wait for its first
            # batch before it adds the one-thread session: neither is worth waiting for.
            if not listening.is_set() or state.service is not None:
                loading.cancel()
            if grpc_server is not None:
                await grpc_server.stop(grace=5.0)
            if not loading.done():
                await asyncio.wait([loading])
            if state.service is not None:
                service, state.service = state.service, None
                state.failure = "the server is shutting down"
                await service.aclose()

    p = "/v2/models/{name}"
    pv = "/v2/models/{name}/versions/{version}"
    routes: list[BaseRoute] = [
        Route("/predict", predict, methods=["POST"], name="predict"),
        Route("/v2/health/live", live, name="live"),
        Route("/v2/health/ready", ready, name="ready"),
        Route("/v2", server_metadata, name="server_metadata"),
        Route(p, model_metadata, name="metadata"),
        Route(pv, model_metadata, name="metadata_version"),
        Route(p + "/ready", model_ready, name="model_ready"),
        Route(pv + "/ready", model_ready, name="model_ready_version"),
        Route(p + "/infer", infer, methods=["POST"], name="infer"),
        Route(pv + "/infer", infer, methods=["POST"], name="infer_version"),
        Route("/metrics", prometheus, name="metrics"),
    ]
    token = settings.token.get_secret_value() if settings.token else None
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequireToken, token=token)],
        exception_handlers={
            ServingError: render_error,
            HTTPException: render_error,
            Exception: render_error,
        },
    )


async def _load(state: _State, load: Loader, listening: asyncio.Event) -> None:
    """Load the model in a thread; once it serves (and ``listening``), tell the starting process
    (``ready_fd``); once the first batch ran, add the one-thread session the same way (loading it
    earlier would take the cores from the first requests), then fit the batch size to the CPU."""
    answered = _FirstBatch(state.metrics)
    try:
        service = await asyncio.to_thread(load, state.settings, answered)
        await service.start()
    except Exception as exc:
        log.exception("could not load model %s", state.settings.name)
        state.failure = f"model {state.settings.name} failed to load: {exc}"
        return
    state.service = service
    await listening.wait()
    if state.settings.ready_fd is not None:
        notify_ready(state.settings.ready_fd)
    await answered.wait()
    if service.model.wants_narrow and service.slots > 1:
        await asyncio.to_thread(service.load_narrow)
    await asyncio.to_thread(service.fit_batch_size)


class _FirstBatch:
    """The batcher's observer: passes each batch on to ``metrics``; `wait` returns once one ran."""

    def __init__(self, metrics: BatchObserver) -> None:
        self._metrics = metrics
        self._ran = asyncio.Event()

    def observe_batch(self, size: int, queue_seconds: Sequence[float], run_seconds: float) -> None:
        self._metrics.observe_batch(size, queue_seconds, run_seconds)
        self._ran.set()  # the batcher reports on the event loop

    async def wait(self) -> None:
        await self._ran.wait()


def _as_serving_error(exc: Exception) -> ServingError:
    if isinstance(exc, ServingError):
        return exc
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return NotFound("no such route")
        if exc.status_code == 405:
            return MethodNotAllowed("method not allowed on this route")
        if exc.status_code == 400:
            return BadRequest(exc.detail)
        return ServingError(exc.detail)
    log.error("unexpected error", exc_info=exc)
    return ServingError("internal error")


def _top_k(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        top_k = int(value)
    except ValueError:
        raise BadRequest(f"top_k must be a positive integer, not {value!r}") from None
    if top_k < 1:
        raise BadRequest(f"top_k must be a positive integer, not {value!r}")
    return top_k


def _tensor(info: Any) -> dict[str, Any]:
    return {"name": info.name, "datatype": info.datatype, "shape": list(info.shape)}
