"""``python -m runtimes.script [--host H] [--port P]``: serve a script from ``RUNTIME_*``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import uvicorn
from pydantic import ValidationError

from runtimes.script.app import create_app
from runtimes.script.config import ScriptSettings


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, read the environment, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m runtimes.script", description=__doc__)
    parser.add_argument("--host", help="override RUNTIME_HOST")
    parser.add_argument("--port", type=int, help="override RUNTIME_PORT")
    args = parser.parse_args(argv)
    try:
        settings = ScriptSettings()  # required fields come from the environment
    except ValidationError as exc:
        print(f"invalid RUNTIME_* settings:\n{exc}", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)
    level = settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger(__name__).info(
        "serving script %s on %s:%d", settings.name, settings.host, settings.port
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level.lower(),
        workers=1,
        timeout_graceful_shutdown=30,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
