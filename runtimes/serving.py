"""The start of every runtime process: settings from ``RUNTIME_*`` (flags override host and port),
logging, then the app under uvicorn with uvloop and httptools: on ``RUNTIME_UNIX_SOCKET`` when it
is set (the gateway's local backend: no TCP port is opened), else on host and port."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from pydantic import ValidationError

from runtimes.prctl import forbid_inspection

if TYPE_CHECKING:
    from starlette.applications import Starlette


class ServedSettings(Protocol):
    """What every runtime's settings carry."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def unix_socket(self) -> Path | None: ...
    @property
    def log_level(self) -> str: ...
    def model_copy(self, *, update: dict[str, object]) -> ServedSettings: ...


S = TypeVar("S", bound=ServedSettings)


def serve(
    prog: str,
    load_settings: Callable[[], S],
    create_app: Callable[[S], Starlette],
    argv: Sequence[str] | None = None,
    *,
    describe: Callable[[S], str],
    grace: int = 30,
) -> int:
    """Parse the command line, read the environment, serve until interrupted; 2 on bad settings."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--host", help="override RUNTIME_HOST")
    parser.add_argument("--port", type=int, help="override RUNTIME_PORT")
    args = parser.parse_args(argv)
    forbid_inspection()  # a same-user script may not read this process's environment or memory
    try:
        settings = load_settings()  # required fields come from the environment
    except ValidationError as exc:
        print(f"invalid RUNTIME_* settings:\n{exc}", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)  # type: ignore[assignment]
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    where = settings.unix_socket or f"{settings.host}:{settings.port}"
    logging.getLogger(prog).info("serving %s on %s", describe(settings), where)
    app = create_app(settings)
    import uvicorn  # after create_app, which may start work (a model loading) to overlap it

    from runtimes.http_writes import CoalescingProtocol

    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        uds=str(settings.unix_socket) if settings.unix_socket else None,
        loop="uvloop",
        http=CoalescingProtocol,  # httptools, one write per response
        access_log=False,
        proxy_headers=False,  # nothing here reads the client's address: one layer less a request
        log_level=settings.log_level.lower(),
        workers=1,
        timeout_graceful_shutdown=grace,
    )
    return 0
