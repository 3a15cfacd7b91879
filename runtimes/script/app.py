"""create_app: the script runtime's HTTP surface.

``POST /run?key=<object key>`` (alias ``POST /predict``) takes one file as the raw body and
answers ``{"returncode", "files": [{"name", "data" (base64)}], "log"}``; a failing script answers
422 ``script_failed``, one past its time limit 504 ``script_timeout``, both with the log tail.
``GET /v2/health/live|ready`` answer 200. Errors: ``{"error": {"code", "message"[, "log"]}}``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtimes.environment import declared_environment
from runtimes.script.box import Box, BoxError
from runtimes.script.config import ScriptSettings
from runtimes.script.runner import OutputTooLarge, exit_message, run_script

log = logging.getLogger("runtimes.script")


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code, media_type="application/json")


def _error(code: str, message: str, status_code: int, log_tail: str | None = None) -> Response:
    error: dict[str, str] = {"code": code, "message": message}
    if log_tail is not None:
        error["log"] = log_tail
    return _json({"error": error}, status_code)


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
                return _error("payload_too_large", "the input is over the limit", 413)
        async with slots:
            try:
                result = await run_script(
                    holder["script"], bytes(body), key=key, timeout=settings.item_timeout,
                    box=box, environment=declared, shell=settings.shell,
                    max_output_bytes=settings.max_output_bytes,
                    log_tail_bytes=settings.log_tail_bytes,
                )  # fmt: skip
            except OutputTooLarge as exc:
                return _error("output_too_large", str(exc), 422)
            except BoxError as exc:
                return _error("script_not_boxed", str(exc), 503)
        for line in result.log.splitlines()[-20:]:
            log.info("%s: %s", key, line)
        if result.timed_out:
            message = f"the script ran past its limit of {settings.item_timeout:g} s and was killed"
            return _error("script_timeout", message, 504, result.log)
        if result.returncode != 0:
            message = exit_message(result.returncode)
            return _error("script_failed", message, 422, result.log)
        files = [
            {"name": name, "data": base64.b64encode(data).decode()}
            for name, data in result.files.items()
        ]
        return _json({"returncode": 0, "files": files, "log": result.log})

    async def render_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return _error(code, str(exc.detail), exc.status_code)

    async def render_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error", exc_info=exc)
        return _error("internal_error", "internal error", 500)

    return Starlette(
        routes=[
            Route("/run", run, methods=["POST"]),
            Route("/predict", run, methods=["POST"]),
            Route("/v2/health/live", health),
            Route("/v2/health/ready", health),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: render_http_exception, Exception: render_unexpected},
    )
