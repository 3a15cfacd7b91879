"""A Python client for the gateway, synchronous (`Client`) and asynchronous (`AsyncClient`).

Both speak the HTTP API of ../shared/API.md, raise `ApiError` for error answers, and retry 429
and 503 answers up to `retries` times, waiting what ``Retry-After`` asks (capped)::

    with Client("http://127.0.0.1:8080") as gw:
        answer = gw.predict("imagenet", "flower.jpg")
        print(answer["predictions"][0]["label"])

A finished job's output files download with `download_results` (or one at a time with
`download`), each to ``<folder>/<its name>``.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from gateway.services import load_file
from gateway.spec_parts import REVEAL

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
    warnings: tuple[str, ...] = ()  # found here before sending (loading a definition file)
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


def _document(
    definition: str | Path | Mapping[str, Any], cluster_id: str | None = None
) -> tuple[bytes, tuple[str, ...]]:
    """The body for /system/services and the load's warnings. A file is read here, as
    oscar-cli does: the script files an OSCAR FDL names and relative model paths are resolved
    against the file's folder (its secrets are sent, in the body only)."""
    if isinstance(definition, Mapping):
        return yaml.safe_dump(dict(definition)).encode(), ()
    if isinstance(definition, Path) or "\n" not in definition:
        document = load_file(Path(definition), cluster_id=cluster_id)
        services = [
            s.model_dump(mode="json", exclude_defaults=True, context=REVEAL)
            for s in document.services
        ]
        storage = {k: v.model_dump(mode="json") for k, v in document.storage.items()}
        return orjson.dumps({"services": services, "storage": storage}), document.warnings
    return definition.encode(), ()


def output_files(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A job's downloadable output files (``name``, ``key``, ``storage``, ``size``, ``url``),
    one per name: a file written to several output paths is the same bytes."""
    found: dict[str, dict[str, Any]] = {}
    for item in job.get("items", []):
        for file in item.get("files", []):
            found.setdefault(str(file["name"]), dict(file))
    return list(found.values())


def target_path(folder: Path, name: str) -> Path:
    """Where file `name` goes under `folder`; a name that would leave it is refused."""
    target = (folder / name).resolve()
    if not target.is_relative_to(folder.resolve()) or target == folder.resolve():
        raise ValueError(f"refusing to write {name!r} outside {folder}")
    return target


def _temporary(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")


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
        cluster_id: str | None,
        wait: float | None,
        rollback: bool,
        timeout: float,
    ) -> _Call:
        headers = {"Content-Type": "application/yaml"}
        method = "PUT" if replace else "POST"
        body, warnings = _document(definition, cluster_id)
        kwargs: dict[str, Any] = {"content": body, "headers": headers}
        if wait is not None:  # the gateway answers within `wait`: wait longer than that for it
            kwargs["params"] = {"wait": f"{wait:g}", "rollback": str(rollback).lower()}
            kwargs["timeout"] = max(timeout, wait + _APPLY_MARGIN)
        return _Call(method, "/system/services", kwargs, warnings, retried=False)

    @staticmethod
    def applied(call: _Call, answer: Any) -> dict[str, Any]:
        """The answer of `apply`, with the warnings of loading the file first."""
        result = dict(answer)
        result["warnings"] = [*call.warnings, *(result.get("warnings") or [])]
        return result


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

    def job(self, job_id: str, *, results: bool = True) -> dict[str, Any]:
        """A job and its items (`results`: with each item's JSON answer inline)."""
        params = {} if results else {"results": "false"}
        return dict(self._send(_Call("GET", f"/jobs/{job_id}", {"params": params})))

    def download(
        self, url: str, target: Path, *, progress: Callable[[int], None] | None = None
    ) -> Path:
        """Stream the file at `url` (an output's ``url``) to `target` (written whole, or not
        at all); `progress` is called with each chunk's size."""
        temp = _temporary(target)
        try:
            with self._http.stream("GET", url) as response:
                if not response.is_success:
                    response.read()
                    _result(response)
                with temp.open("wb") as file:
                    for chunk in response.iter_bytes():
                        file.write(chunk)
                        if progress is not None:
                            progress(len(chunk))
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return target

    def download_results(self, job_id: str, folder: str | Path) -> list[Path]:
        """Every output file of the job, to ``<folder>/<name>``; returns where each went."""
        files = output_files(self.job(job_id, results=False))
        return [self.download(f["url"], target_path(Path(folder), f["name"])) for f in files]

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
            job = self.job(job_id, results=False)
            if progress is not None:
                progress(job)
            if job.get("status") in _FINISHED:
                return self.job(job_id)
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
        cluster_id: str | None = None,
        wait: float | None = None,
        rollback: bool = False,
    ) -> dict[str, Any]:
        """Create or update services from an FDL file path, YAML/JSON text or a mapping; sent
        once, never retried. ``warnings`` lists what the definition asks that is not done here.
        `wait`: answer once ready (ApiError 502/504 if not, the services left in place unless
        `rollback`)."""
        call = _Calls.apply(definition, replace, cluster_id, wait, rollback, self._timeout)
        return _Calls.applied(call, self._send(call))

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

    async def job(self, job_id: str, *, results: bool = True) -> dict[str, Any]:
        """A job and its items (`results`: with each item's JSON answer inline)."""
        params = {} if results else {"results": "false"}
        return dict(await self._send(_Call("GET", f"/jobs/{job_id}", {"params": params})))

    async def download(
        self, url: str, target: Path, *, progress: Callable[[int], None] | None = None
    ) -> Path:
        """Stream the file at `url` (an output's ``url``) to `target` (written whole, or not
        at all); `progress` is called with each chunk's size."""
        temp = _temporary(target)
        try:
            async with self._http.stream("GET", url) as response:
                if not response.is_success:
                    await response.aread()
                    _result(response)
                with temp.open("wb") as file:
                    async for chunk in response.aiter_bytes():
                        file.write(chunk)
                        if progress is not None:
                            progress(len(chunk))
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return target

    async def download_results(self, job_id: str, folder: str | Path) -> list[Path]:
        """Every output file of the job, to ``<folder>/<name>``; returns where each went."""
        files = output_files(await self.job(job_id, results=False))
        return [await self.download(f["url"], target_path(Path(folder), f["name"])) for f in files]

    async def wait_job(
        self, job_id: str, *, timeout: float = 600.0, poll: float = 0.5
    ) -> dict[str, Any]:
        """Poll a job until it finishes (or `timeout` passes: TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            job = await self.job(job_id, results=False)
            if job.get("status") in _FINISHED:
                return await self.job(job_id)
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
        cluster_id: str | None = None,
        wait: float | None = None,
        rollback: bool = False,
    ) -> dict[str, Any]:
        """Create or update services (see `Client.apply`)."""
        call = _Calls.apply(definition, replace, cluster_id, wait, rollback, self._timeout)
        return _Calls.applied(call, await self._send(call))
