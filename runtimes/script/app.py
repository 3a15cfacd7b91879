"""create_app: the script runtime's HTTP surface.

``POST /run?key=<object key>`` (alias ``POST /predict``) takes one file as the raw body and
answers ``{"returncode", "files": [{"name", "data" (base64)}], "log"}``; a failing script answers
422 ``script_failed``, one past its time limit 504 ``script_timeout``, both with the log tail.
``GET /v2/health/live|ready`` answer 200. Every other route asks for ``RUNTIME_TOKEN``
(`runtimes.auth`). Errors: ``{"error": {"code", "message"[, "log"]}}``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtimes.auth import RequireToken
from runtimes.environment import declared_environment
from runtimes.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServingError,
    error_body,
)
from runtimes.script.box import Box
from runtimes.script.config import ScriptSettings
from runtimes.script.runner import failure, run_script

log = logging.getLogger("runtimes.script")


def _json(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content), status_code, headers=headers, media_type="application/json"
    )


def _error(request: Request, error: ServingError) -> Response:
    return _json(error_body(error, request.url.path), error.status_code)


def create_app(settings: ScriptSettings) -> Starlette:
    """The runtime application: the script is written once to a file that lives as long as it."""
    slots = asyncio.Semaphore(settings.threads)
    box = Box(settings.limits, uid_base=settings.box_uid_base, shell=settings.shell)
    declared = declared_environment(os.environ, settings.environment, settings.secret_names)
    holder: dict[str, Path] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with tempfile.TemporaryDirectory(prefix="script-runtime-") as folder:
            holder["script"] = Path(folder) / "script.sh"
            holder["script"].write_text(settings.script, encoding="utf-8")
            yield

    async def health(request: Request) -> Response:
        return _json({"live": True, "ready": True})

    async def run(request: Request) -> Response:
        key = request.query_params.get("key") or request.headers.get("x-object-key") or "input"
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_body_bytes:
                raise PayloadTooLarge("the input is over the limit")
        async with slots:
            result = await run_script(
                holder["script"], bytes(body), key=key, timeout=settings.item_timeout,
                box=box, environment=declared, shell=settings.shell,
                max_output_bytes=settings.max_output_bytes,
                log_tail_bytes=settings.log_tail_bytes,
            )  # fmt: skip
        for line in result.log.splitlines()[-20:]:
            log.info("%s: %s", key, line)
        error = failure(result, settings.item_timeout)
        if error is not None:
            raise error
        files = [
            {"name": name, "data": base64.b64encode(data).decode()}
            for name, data in result.files.items()
        ]
        return _json({"returncode": 0, "files": files, "log": result.log})

    async def render_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServingError)
        return _error(request, exc)

    async def render_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kind = {404: NotFound, 405: MethodNotAllowed}.get(exc.status_code, BadRequest)
        return _json(
            error_body(kind(str(exc.detail)), request.url.path), exc.status_code, exc.headers
        )

    async def render_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error", exc_info=exc)
        return _error(request, ServingError("internal error"))

    return Starlette(
        routes=[
            Route("/run", run, methods=["POST"]),
            Route("/predict", run, methods=["POST"]),
            Route("/v2/health/live", health),
            Route("/v2/health/ready", health),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(
                RequireToken, token=settings.token.get_secret_value() if settings.token else None
            )
        ],
        exception_handlers={
            ServingError: render_error,
            HTTPException: render_http_exception,
            Exception: render_unexpected,
        },
    )
