"""ItemRunner: runs a batch of job items through their service's runtime and stores the results.

ONNX services get one multipart ``POST /predict`` per batch (up to ``batching.max_batch_size``
files, so the runtime's batcher sees them together); the JSON result for input ``a/b/photo.jpg``
goes to ``<output path>/photo.json``. Script services get ``POST /run`` per item; each file the
script wrote keeps its name. Outputs overwrite the same keys when an item runs again, so a re-run
after a crash never duplicates them. A finished item keeps its output files and its JSON answer
(`gateway.jobs.results`). An item-level failure (undecodable image, script error) is
recorded on that item; a transient failure of the whole request raises, for the caller to retry.
"""

from __future__ import annotations

import base64
import mimetypes
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import orjson

from gateway.errors import GatewayError, InvalidDefinition, NotFound, Overloaded, UpstreamError
from gateway.jobs.bindings import accepts, output_bindings
from gateway.jobs.model import Answer, Item, ObjectRef, OutputFile
from gateway.jobs.results import answer_of
from gateway.proxy import Proxy, UpstreamResponse
from gateway.registry import Registry
from gateway.runtime_env import SCRIPT_ITEM_TIMEOUT
from gateway.services import ServiceSpec
from gateway.storage import ObjectStore, base_name, join_key
from runtimes.contract import result_document, result_name

#: called with the objects a batch wrote (the pipeline hook)
OutputHook = Callable[[list[ObjectRef]], Awaitable[None]]


class ItemRunner:
    """Sends items to a service's runtime, writes what comes back to its output bindings."""

    def __init__(
        self,
        registry: Registry,
        proxy: Proxy,
        stores: Mapping[str, ObjectStore],
        on_outputs: OutputHook,
        *,
        upstream_timeout: float,
        result_max_bytes: int = 64 * 1024,
    ) -> None:
        self._result_max_bytes = result_max_bytes
        self._registry = registry
        self._proxy = proxy
        self._stores = stores
        self._on_outputs = on_outputs
        self._upstream_timeout = upstream_timeout

    def store(self, name: str) -> ObjectStore:
        store = self._stores.get(name)
        if store is None:
            raise InvalidDefinition(f"storage {name!r} is not defined (FDL 'storage:')")
        return store

    @staticmethod
    def batch_size(spec: ServiceSpec) -> int:
        return spec.batching.max_batch_size if spec.runtime == "onnx" else 1

    async def run(self, spec: ServiceSpec, items: Sequence[Item]) -> list[Item]:
        """The items, finished (succeeded or failed); raises on a transient batch failure."""
        inputs: list[tuple[Item, bytes]] = []
        done: list[Item] = []
        for item in items:
            try:
                inputs.append((item, await self.store(item.storage).get(item.key)))
            except NotFound as exc:
                done.append(failed(item, exc))
        if not inputs:
            return done
        if spec.runtime == "script":
            return done + [await self._script(spec, item, data) for item, data in inputs]
        return done + await self._predict(spec, inputs)

    async def _predict(self, spec: ServiceSpec, inputs: list[tuple[Item, bytes]]) -> list[Item]:
        body, content_type = _multipart([(base_name(i.key), data) for i, data in inputs])
        answer = await self._send(spec, "/predict", body, content_type, spec.timeout)
        payload = _json(answer)
        if answer.status != 200:
            error = _error(answer, payload)
            return [failed(item, error) for item, _ in inputs]
        results = payload.get("results") or [payload]
        if len(results) != len(inputs):
            raise UpstreamError(f"runtime answered {len(results)} results for {len(inputs)} files")
        finished = []
        written: list[ObjectRef] = []
        for (item, _), result in zip(inputs, results, strict=True):
            if "error" in result:
                finished.append(replace(item, state="failed", error=result["error"]))
                continue
            document = result_document(
                spec.name, item.key, payload.get("model"), result.get("predictions")
            )
            produced = [(result_name(item.key), orjson.dumps(document))]
            files = await self.write(spec, produced)
            written += [f.ref for f in files]
            finished.append(_succeeded(item, files, answer_of(produced, self._result_max_bytes)))
        await self._on_outputs(written)
        return finished

    async def _script(self, spec: ServiceSpec, item: Item, data: bytes) -> Item:
        limit = spec.timeout or SCRIPT_ITEM_TIMEOUT
        path = f"/run?key={quote(item.key, safe='')}"
        answer = await self._send(spec, path, data, "application/octet-stream", limit + 10)
        payload = _json(answer)
        if answer.status != 200:
            error = _error(answer, payload)
            log = (payload.get("error") or {}).get("log") if isinstance(payload, dict) else None
            return replace(failed(item, error), log=log)
        produced = [(f["name"], base64.b64decode(f["data"])) for f in payload.get("files", [])]
        files = await self.write(spec, produced)
        await self._on_outputs([f.ref for f in files])
        result = answer_of(produced, self._result_max_bytes)
        return replace(_succeeded(item, files, result), log=payload.get("log"))

    async def _send(
        self, spec: ServiceSpec, path: str, body: bytes, content_type: str, timeout: float | None
    ) -> UpstreamResponse:
        entry = self._registry.get(spec.name)
        endpoint = entry.backend.endpoint(spec.name)
        answer = await self._proxy.forward(
            endpoint, "POST", path, body=body, content_type=content_type,
            timeout=timeout or self._upstream_timeout,
        )  # fmt: skip
        if answer.status in (429, 503):
            raise Overloaded(f"service {spec.name} answered {answer.status}", retry_after=1)
        if answer.status >= 500 and answer.status != 504:
            raise UpstreamError(f"service {spec.name} answered {answer.status}")
        return answer

    async def write(self, spec: ServiceSpec, files: list[tuple[str, bytes]]) -> list[OutputFile]:
        """Store files (name, bytes) under every output binding whose filters take them."""
        written = []
        for binding in output_bindings(spec):
            store = self.store(binding.storage)
            for name, data in files:
                if accepts(binding, base_name(name)):
                    key = join_key(binding.path, name)
                    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
                    info = await store.put(key, data, media)
                    written.append(OutputFile(binding.storage, key, name, info.size, info.etag))
        return written


def failed(item: Item, error: GatewayError | Mapping[str, Any]) -> Item:
    """The item, failed with `error` (a GatewayError or an ``{"code", "message"}`` mapping)."""
    if isinstance(error, GatewayError):
        detail = {"code": error.code, "message": error.message}
    else:
        detail = {"code": str(error.get("code", "error")), "message": str(error.get("message"))}
    return replace(item, state="failed", error=detail, outputs=(), files=(), answer=None)


def _succeeded(item: Item, files: list[OutputFile], answer: Answer | None) -> Item:
    return replace(
        item, state="succeeded", error=None, outputs=tuple(f.key for f in files),
        files=tuple(files), answer=answer,
    )  # fmt: skip


def _json(answer: UpstreamResponse) -> Any:
    try:
        return orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        raise UpstreamError(f"runtime answered {answer.status} with a non-JSON body") from None


def _error(answer: UpstreamResponse, payload: Any) -> dict[str, str]:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return {"code": str(error.get("code")), "message": str(error.get("message"))}
    return {"code": f"http_{answer.status}", "message": str(error or payload)}


def _multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, data in files:
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        safe = name.replace('"', "%22").replace("\r", "").replace("\n", "")
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\n'
            f"Content-Type: {media}\r\n\r\n"
        )
        parts += [head.encode(), data, b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
