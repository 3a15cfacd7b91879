"""``python -m benchmarks.echo_runtime``: a trivial upstream that answers every predict at once.

A raw ASGI app (no framework) under uvicorn with uvloop and httptools: ``POST /predict`` reads
the body and answers a small fixed JSON; ``GET /v2/health/ready`` and ``/v2/health/live`` answer
200. It stands where a model runtime would, so forwarding through the gateway can be compared with
the bare upstream's own ceiling. Honours ``RUNTIME_HOST`` and ``RUNTIME_PORT`` like a runtime.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ANSWER = b'{"model":"echo","predictions":[{"label":"echo","score":1.0}]}'
JSON_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]
EMPTY_HEADERS = [(b"content-length", b"0")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The whole upstream: 200 + ``ANSWER`` on POST /predict, 200 on health, 404 elsewhere."""
    if scope["type"] != "http":
        return
    if scope["method"] == "POST" and scope["path"] == "/predict":
        more = True
        while more:  # drain the body, as a runtime would
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": ANSWER})
        return
    status = 200 if scope["path"] in ("/v2/health/ready", "/v2/health/live") else 404
    await send({"type": "http.response.start", "status": status, "headers": EMPTY_HEADERS})
    await send({"type": "http.response.body", "body": b""})


def main() -> int:
    """Serve ``app`` on ``RUNTIME_HOST:RUNTIME_PORT`` until interrupted."""
    import uvicorn

    uvicorn.run(
        app,
        host=os.environ.get("RUNTIME_HOST", "127.0.0.1"),
        port=int(os.environ.get("RUNTIME_PORT", "8080")),
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
