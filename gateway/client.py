"""A Python client for the gateway, synchronous (`Client`) and asynchronous (`AsyncClient`).

Both speak the HTTP API of ../shared/API.md, raise `ApiError` for error answers, and retry 429
and 503 answers up to `retries` times, waiting what ``Retry-After`` asks (capped)::

    with Client("http://127.0.0.1:8080") as gw:
        answer = gw.predict("imagenet", "flower.jpg")
        print(answer["predictions"][0]["label"])
"""

from __future__ import annotations

import asyncio
import mimetypes
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from gateway.services import load_file

ImageInput = str | Path | bytes | tuple[str, bytes]
_RETRIED = (429, 503)
_MAX_WAIT = 30.0
_APPLY_MARGIN = 30.0  # seconds the client waits for an apply beyond the gateway's own wait
_FINISHED = ("succeeded", "failed", "cancelled")


class ApiError(Exception):
    """An error answer: HTTP status, the stable error code and its message."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({status_code} {code})")
        self.status_code = status_code
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    retried: bool = True  # False: sent once (a create is not repeated on a 503)


def _files(images: Iterable[ImageInput]) -> list[tuple[str, tuple[str, bytes, str]]]:
    parts = []
    for index, image in enumerate(images):
        if isinstance(image, bytes):
            name, data = f"image-{index}", image
        elif isinstance(image, tuple):
            name, data = image
        else:
            path = Path(image)
            name, data = path.name, path.read_bytes()
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        parts.append(("file", (name, data, media)))
    return parts


def _document(definition: str | Path | Mapping[str, Any]) -> bytes:
    """The body for /system/services. A file is read here, as oscar-cli does: the script files
    an OSCAR FDL names and relative model paths are resolved against the file's folder."""
    if isinstance(definition, Mapping):
        return yaml.safe_dump(dict(definition)).encode()
    if isinstance(definition, Path) or "\n" not in definition:
        services = load_file(Path(definition)).services
        return orjson.dumps(
            {"services": [s.model_dump(mode="json", exclude_defaults=True) for s in services]}
        )
    return definition.encode()


def _wait_seconds(response: httpx.Response, attempt: int) -> float:
    raw = response.headers.get("retry-after", "")
    wait = float(raw) if raw.replace(".", "", 1).isdigit() else 0.5 * 2**attempt
    return min(wait, _MAX_WAIT)


def _result(response: httpx.Response) -> Any:
    if response.status_code == 204:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success:
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        raise ApiError(response.status_code, str(error.get("code")), str(error.get("message")))
    message = error if isinstance(error, str) else response.text[:200]
    raise ApiError(response.status_code, "error", message or response.reason_phrase)


class _Calls:
    """What each operation sends; `Client` and `AsyncClient` only differ in how they send it."""

    @staticmethod
    def predict(service: str, images: Iterable[ImageInput], top_k: int) -> _Call:
        return _Call(
            "POST", f"/predict/{service}", {"files": _files(images), "params": {"top_k": top_k}}
        )

    @staticmethod
    def infer(service: str, request: Mapping[str, Any]) -> _Call:
        return _Call("POST", f"/v2/models/{service}/infer", {"json": dict(request)})

    @staticmethod
    def submit_job(service: str, files: Iterable[ImageInput]) -> _Call:
        return _Call("POST", f"/job/{service}", {"files": _files(files)})

    @staticmethod
    def apply(
        definition: str | Path | Mapping[str, Any],
        replace: bool,
        wait: float | None,
        rollback: bool,
        timeout: float,
    ) -> _Call:
        headers = {"Content-Type": "application/yaml"}
        method = "PUT" if replace else "POST"
        kwargs: dict[str, Any] = {"content": _document(definition), "headers": headers}
        if wait is not None:  # the gateway answers within `wait`: wait longer than that for it
            kwargs["params"] = {"wait": f"{wait:g}", "rollback": str(rollback).lower()}
            kwargs["timeout"] = max(timeout, wait + _APPLY_MARGIN)
        return _Call(method, "/system/services", kwargs, retried=False)


class Client:
    """Synchronous client (an `httpx.Client` underneath; use it as a context manager)."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8080",
        *,
        token: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=url, headers=headers, timeout=timeout, transport=transport
        )
        self._retries = retries
        self._timeout = timeout

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call) -> Any:
        for attempt in range(self._retries + 1):
            response = self._http.request(call.method, call.path, **call.kwargs)
            if not call.retried or response.status_code not in _RETRIED or attempt == self._retries:
                return _result(response)
            time.sleep(_wait_seconds(response, attempt))
        raise AssertionError("unreachable")

    def predict(self, service: str, *images: ImageInput, top_k: int = 5) -> dict[str, Any]:
        """Classify images (paths, bytes or (name, bytes)); several images answer `results`."""
        return dict(self._send(_Calls.predict(service, images, top_k)))

    def infer(self, service: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """Open Inference Protocol v2 inference."""
        return dict(self._send(_Calls.infer(service, request)))

    def submit_job(self, service: str, *files: ImageInput) -> dict[str, Any]:
        """Upload files as one async job; returns ``{"job_id", "status"}``."""
        return dict(self._send(_Calls.submit_job(service, files)))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._send(_Call("GET", f"/jobs/{job_id}")))

    def wait_job(
        self,
        job_id: str,
        *,
        timeout: float = 600.0,
        poll: float = 0.5,
        progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll a job until it finishes (or `timeout` passes: TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if progress is not None:
                progress(job)
            if job.get("status") in _FINISHED:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not finished after {timeout} s")
            time.sleep(poll)

    def list_services(self) -> list[dict[str, Any]]:
        return list(self._send(_Call("GET", "/system/services")))

    def apply(
        self,
        definition: str | Path | Mapping[str, Any],
        *,
        replace: bool = True,
        wait: float | None = None,
        rollback: bool = False,
    ) -> dict[str, Any]:
        """Create or update services from an FDL file path, YAML/JSON text or a mapping; sent
        once, never retried. `wait`: answer once ready (ApiError 502/504 if not, the services
        left in place unless `rollback`)."""
        call = _Calls.apply(definition, replace, wait, rollback, self._timeout)
        return dict(self._send(call))

    def delete_service(self, name: str) -> None:
        self._send(_Call("DELETE", f"/system/services/{name}"))

    def logs(self, name: str, lines: int = 100) -> list[str]:
        answer = self._send(
            _Call("GET", f"/system/services/{name}/logs", {"params": {"lines": lines}})
        )
        return list(answer["lines"])

    def info(self) -> dict[str, Any]:
        return dict(self._send(_Call("GET", "/system/info")))


class AsyncClient:
    """Asynchronous client (an `httpx.AsyncClient` underneath; ``async with`` it)."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8080",
        *,
        token: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=url, headers=headers, timeout=timeout, transport=transport
        )
        self._retries = retries
        self._timeout = timeout

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call) -> Any:
        for attempt in range(self._retries + 1):
            response = await self._http.request(call.method, call.path, **call.kwargs)
            if not call.retried or response.status_code not in _RETRIED or attempt == self._retries:
                return _result(response)
            await asyncio.sleep(_wait_seconds(response, attempt))
        raise AssertionError("unreachable")

    async def predict(self, service: str, *images: ImageInput, top_k: int = 5) -> dict[str, Any]:
        """Classify images (paths, bytes or (name, bytes)); several images answer `results`."""
        return dict(await self._send(_Calls.predict(service, images, top_k)))

    async def infer(self, service: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """Open Inference Protocol v2 inference."""
        return dict(await self._send(_Calls.infer(service, request)))

    async def submit_job(self, service: str, *files: ImageInput) -> dict[str, Any]:
        """Upload files as one async job; returns ``{"job_id", "status"}``."""
        return dict(await self._send(_Calls.submit_job(service, files)))

    async def job(self, job_id: str) -> dict[str, Any]:
        return dict(await self._send(_Call("GET", f"/jobs/{job_id}")))

    async def wait_job(
        self, job_id: str, *, timeout: float = 600.0, poll: float = 0.5
    ) -> dict[str, Any]:
        """Poll a job until it finishes (or `timeout` passes: TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            job = await self.job(job_id)
            if job.get("status") in _FINISHED:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not finished after {timeout} s")
            await asyncio.sleep(poll)

    async def list_services(self) -> list[dict[str, Any]]:
        return list(await self._send(_Call("GET", "/system/services")))

    async def apply(
        self,
        definition: str | Path | Mapping[str, Any],
        *,
        replace: bool = True,
        wait: float | None = None,
        rollback: bool = False,
    ) -> dict[str, Any]:
        """Create or update services (see `Client.apply`)."""
        call = _Calls.apply(definition, replace, wait, rollback, self._timeout)
        return dict(await self._send(call))
