"""``python -m runtimes.onnx [--host H] [--port P]``: serve one model from ``RUNTIME_*`` settings.

One process, uvicorn with uvloop and httptools, no access log (metrics count requests instead).
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence

import uvicorn
from PIL import Image
from pydantic import ValidationError

from runtimes.onnx.app import create_app
from runtimes.onnx.config import RuntimeSettings


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, read the environment, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m runtimes.onnx", description=__doc__)
    parser.add_argument("--host", help="override RUNTIME_HOST")
    parser.add_argument("--port", type=int, help="override RUNTIME_PORT")
    args = parser.parse_args(argv)
    try:
        settings = RuntimeSettings()  # required fields come from the environment
    except ValidationError as exc:
        print(f"invalid RUNTIME_* settings:\n{exc}", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)
    level = settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Our own max_pixels check refuses oversized images; Pillow's warning would only be noise.
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    logging.getLogger(__name__).info(
        "serving %s (%s) on %s:%d", settings.name, settings.model_path, settings.host, settings.port
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
