"""The data plane: ``/predict/{service}`` and the Open Inference Protocol routes.

Each handler looks the service up, checks the request (content type, size), asks the service's
backend where to send it and forwards the body untouched through the proxy. A service with
members (`gateway.federation`) is served here while it is ready and has room, else by a member
(``X-Served-By`` says which).
"""

from __future__ import annotations

import time
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import Authenticator
from gateway.config import Settings
from gateway.errors import Overloaded, Unavailable, UnsupportedMediaType
from gateway.federation import SERVED_BY, Delegator, state_here
from gateway.limits import Admission, read_body
from gateway.metrics import GatewayMetrics, ServiceMetrics
from gateway.proxy import Proxy, forwarded_headers
from gateway.registry import Entry, Registry
from runtimes.onnx.media import body_format, media_type, unsupported


class DataPlane:
    """Handlers of the routes that carry inference requests."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        proxy: Proxy,
        metrics: GatewayMetrics,
        auth: Authenticator,
        delegator: Delegator | None = None,
    ) -> None:
        self._settings = settings
        self._delegator = delegator
        self._auth = auth
        self._registry = registry
        self._proxy = proxy
        self._metrics = metrics
        self._admissions: dict[str, Admission] = {}
        self._metrics_by_service: dict[tuple[str, str], ServiceMetrics] = {}

    async def predict(self, request: Request) -> Response:
        """POST /predict/{service}: an image (raw, multipart or b64 JSON) -> top-k JSON."""
        return await self._forward(request, "/predict", check_type=True, private=True)

    async def infer(self, request: Request) -> Response:
        """POST /v2/models/{service}[/versions/{version}]/infer: Open Inference Protocol v2,
        JSON or binary tensors, passed through."""
        path = _model_path(request) + "/infer"
        return await self._forward(request, path, check_type=False, private=True)

    async def model_metadata(self, request: Request) -> Response:
        """GET /v2/models/{service}[/versions/{version}][/ready]: the runtime's metadata or
        readiness."""
        suffix = "/ready" if request.url.path.endswith("/ready") else ""
        return await self._forward(request, _model_path(request) + suffix, check_type=False)

    async def _forward(
        self, request: Request, path: str, *, check_type: bool, private: bool = False
    ) -> Response:
        started = time.perf_counter()
        name = request.path_params["service"]
        entry = self._registry.get(name)
        metrics = self.service_metrics(name, entry.backend.name)
        metrics.inflight.inc()
        code = 500
        try:
            if private:
                self._auth.require_service(
                    request, name, public=entry.public, token_hash=entry.token_hash
                )
            if self._delegator is not None and self._delegator.delegable(
                entry.spec, request.headers
            ):
                response = await self._here_or_member(request, entry, path, check_type, metrics)
            else:
                admission = self.admission(name)
                await admission.acquire()
                try:
                    body = await self._body(request, check_type)
                    response = await self._send(request, entry, path, body, metrics)
                finally:
                    admission.release()
            code = response.status_code
            return response
        except Exception as exc:
            code = getattr(exc, "status_code", 500)
            raise
        finally:
            metrics.inflight.dec()
            metrics.count(code)
            metrics.request_duration.observe(time.perf_counter() - started)

    @property
    def delegator(self) -> Delegator | None:
        """Who sends what a service cannot take here to its members (shared with gRPC)."""
        return self._delegator

    def service_metrics(self, name: str, backend: str) -> ServiceMetrics:
        """One service's metrics (shared by the HTTP and gRPC data paths)."""
        found = self._metrics_by_service.get((name, backend))
        if found is None:
            found = self._metrics_by_service[(name, backend)] = self._metrics.for_service(
                name, backend
            )
        return found

    def admission(self, name: str) -> Admission:
        """One service's admission control (shared by the HTTP and gRPC data paths)."""
        admission = self._admissions.get(name)
        if admission is None:
            settings = self._settings
            admission = Admission(
                name, settings.max_inflight_per_service, settings.max_queue_per_service
            )
            self._admissions[name] = admission
        return admission

    async def _here_or_member(
        self, request: Request, entry: Entry, path: str, check_type: bool, metrics: ServiceMetrics
    ) -> Response:
        """A service with members: here when it is ready and has room (and answers), else at a
        member."""
        assert self._delegator is not None
        name = entry.spec.name
        body = await self._body(request, check_type)
        admission = self.admission(name)
        if state_here(entry) == "ready" and not admission.full:
            try:
                await admission.acquire()
            except Overloaded:
                pass
            else:
                try:
                    response = await self._send(request, entry, path, body, metrics)
                    if response.status_code != 503:  # 503: busy or starting after all
                        response.headers[SERVED_BY] = self._delegator.client.origin
                        return response
                except Unavailable:
                    pass  # not reachable here after all: a member takes it
                finally:
                    admission.release()
        answer = await self._delegator.send(
            entry.spec,
            request.method,
            member_path(request),
            body=body,
            headers=forwarded_headers(request.headers),
            timeout=entry.spec.timeout,
        )
        response = Response(answer.body, status_code=answer.status, headers=answer.headers)
        response.headers[SERVED_BY] = answer.member.name
        return response

    async def _body(self, request: Request, check_type: bool) -> bytes | None:
        if request.method != "POST":
            return None
        if check_type:
            self._check_content_type(request.headers.get("content-type"))
        return await read_body(request, self._settings.max_body_bytes)

    async def _send(
        self,
        request: Request,
        entry: Entry,
        path: str,
        body: bytes | None,
        metrics: ServiceMetrics,
    ) -> Response:
        name = entry.spec.name
        endpoint = entry.backend.endpoint(name)
        query = request.scope["query_string"].decode("latin-1")
        upstream_started = time.perf_counter()
        upstream = await self._proxy.forward(
            endpoint,
            request.method,
            f"{path}?{query}" if query else path,
            body=body,
            headers=forwarded_headers(request.headers),
            timeout=entry.spec.timeout,
        )
        metrics.upstream_duration.observe(time.perf_counter() - upstream_started)
        if upstream.cold_start_seconds is not None:
            metrics.cold_starts.inc()
            metrics.cold_start_duration.observe(upstream.cold_start_seconds)
        return Response(upstream.body, status_code=upstream.status, headers=upstream.headers)

    def _check_content_type(self, content_type: str | None) -> None:
        """The runtime's list (`runtimes.onnx.media`): a body it would refuse wakes no service."""
        media = media_type(content_type)
        if body_format(media) is None:
            raise UnsupportedMediaType(unsupported(media))


def _model_path(request: Request) -> str:
    """The runtime's path of the model (and version) the request names."""
    path = f"/v2/models/{request.path_params['service']}"
    version = request.path_params.get("version")
    return path if version is None else f"{path}/versions/{quote(version, safe='')}"


def member_path(request: Request) -> str:
    """The request's path and query with ``{service}`` where the service's name is (a member may
    call the service otherwise)."""
    raw = request.scope.get("raw_path")
    segments = (raw.decode("latin-1") if raw else request.url.path).split("/")
    segments[3 if segments[1] == "v2" else 2] = "{service}"
    query = request.scope["query_string"].decode("latin-1")
    path = "/".join(segments)
    return f"{path}?{query}" if query else path
