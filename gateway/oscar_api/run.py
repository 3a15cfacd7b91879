"""``POST /run/{service}``: OSCAR's synchronous call, with OSCAR's semantics.

The body is OSCAR's event (`gateway.oscar_event`): the input file in base64, a JSON document, or
a storage event naming an object (fetched from the store). A ``script`` service runs its script
on it through its runtime; the answer is the supervisor's: one output file -> its base64, several
-> base64 of a zip of them, none -> the script's output (stdout and stderr). An ``onnx`` service
answers its JSON predictions (the input is an image, or ``{"instances": ...}`` JSON). Outputs
are also stored under the service's output paths when it declares some, as OSCAR does, so a
pipeline goes on from there. Errors keep our JSON shape. A service with members that is not
ready here (or not reachable) is run by a member, the body passed on as it came (``X-Served-By``).
"""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Mapping
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import Authenticator
from gateway.config import Settings
from gateway.errors import InvalidDefinition, Unavailable, UpstreamError
from gateway.federation import SERVED_BY, Delegator, state_here
from gateway.jobs import JobService
from gateway.jobs.oscar_submit import event_storage
from gateway.limits import read_body
from gateway.oscar_event import InlineEvent, parse_event
from gateway.proxy import Proxy, UpstreamResponse, forwarded_headers
from gateway.registry import Registry
from gateway.runtime_env import SCRIPT_ITEM_TIMEOUT
from gateway.services import ServiceSpec
from gateway.storage import ObjectStore, check_key
from runtimes.contract import result_name

_TEXT = "text/plain; charset=utf-8"


class SyncRuns:
    """The handler of ``POST /run/{service}``."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        proxy: Proxy,
        jobs: JobService,
        stores: Mapping[str, ObjectStore],
        auth: Authenticator,
        delegator: Delegator | None = None,
    ) -> None:
        self._delegator = delegator
        self._settings = settings
        self._registry = registry
        self._proxy = proxy
        self._jobs = jobs
        self._stores = stores
        self._auth = auth

    async def run(self, request: Request) -> Response:
        """POST /run/{service}: one input through the service, answered as OSCAR does."""
        name = request.path_params["service"]
        entry = self._registry.get(name)
        self._auth.require_service(request, name, public=entry.public, token_hash=entry.token_hash)
        body = await read_body(request, self._settings.max_body_bytes)
        delegator = self._delegator
        if delegator is None or not delegator.delegable(entry.spec, request.headers):
            return await self._serve(entry.spec, request, body)
        if state_here(entry) == "ready":
            try:
                response = await self._serve(entry.spec, request, body)
            except Unavailable:
                pass  # not reachable here after all: a member takes it
            else:
                response.headers[SERVED_BY] = delegator.client.origin
                return response
        answer = await delegator.send(
            entry.spec,
            "POST",
            "/run/{service}",
            body=body,
            headers=forwarded_headers(request.headers),
            timeout=entry.spec.timeout,
        )
        response = Response(answer.body, answer.status, answer.headers)
        response.headers[SERVED_BY] = answer.member.name
        return response

    async def _serve(self, spec: ServiceSpec, request: Request, body: bytes) -> Response:
        name = spec.name
        event = parse_event(body, request.headers.get("content-type"))
        if isinstance(event, InlineEvent):
            key, data, is_json = event.name, event.data, event.is_json
        else:
            storage = event_storage(spec, event, self._settings.cluster_id)
            objects = self._stores.get(storage)
            if objects is None:
                raise InvalidDefinition(f"service {name!r}: storage {storage!r} is not defined")
            key, data, is_json = event.path, await objects.get(check_key(event.path)), False
        if spec.runtime == "script":
            return await self._script(spec, key, data)
        return await self._predict(spec, key, data, is_json)

    async def _predict(self, spec: ServiceSpec, key: str, data: bytes, is_json: bool) -> Response:
        media = "application/json" if is_json else "application/octet-stream"
        answer = await self._send(spec, "/predict", data, media, spec.timeout)
        if answer.status == 200 and spec.output:
            await self._jobs.store_outputs(spec, [(result_name(key), answer.body)])
        return Response(answer.body, answer.status, answer.headers)

    async def _script(self, spec: ServiceSpec, key: str, data: bytes) -> Response:
        limit = (spec.timeout or SCRIPT_ITEM_TIMEOUT) + 10
        path = f"/run?key={quote(key, safe='')}"
        answer = await self._send(spec, path, data, "application/octet-stream", limit)
        if answer.status != 200:  # the runtime's own error: script_failed (with its log)...
            return Response(answer.body, answer.status, answer.headers)
        try:
            payload = orjson.loads(answer.body)
            files = [(f["name"], base64.b64decode(f["data"])) for f in payload["files"]]
            log = str(payload.get("log") or "")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise UpstreamError(f"service {spec.name}: the runtime's answer is malformed") from None
        if spec.output and files:
            await self._jobs.store_outputs(spec, files)
        if not files:
            return Response(log, 200, media_type=_TEXT)
        if len(files) == 1:
            return Response(base64.b64encode(files[0][1]), 200, media_type=_TEXT)
        return Response(base64.b64encode(_zip(files)), 200, media_type=_TEXT)

    async def _send(
        self, spec: ServiceSpec, path: str, body: bytes, media: str, timeout: float | None
    ) -> UpstreamResponse:
        endpoint = self._registry.get(spec.name).backend.endpoint(spec.name)
        answer = await self._proxy.forward(
            endpoint, "POST", path, body=body, content_type=media, timeout=timeout
        )
        if answer.status >= 500 and answer.status not in (503, 504):
            raise UpstreamError(f"service {spec.name} answered {answer.status}")
        return answer


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()
