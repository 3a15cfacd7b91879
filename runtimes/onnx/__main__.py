"""``python -m runtimes.onnx [--host H] [--port P]``: serve one model from ``RUNTIME_*`` settings.

One process, uvicorn with uvloop and httptools, no access log (metrics count requests instead).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from runtimes.onnx.config import RuntimeSettings
from runtimes.onnx.preload import Preload
from runtimes.serving import serve

if TYPE_CHECKING:
    from starlette.applications import Starlette


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the model the environment names until interrupted."""
    return serve(
        "runtimes.onnx",
        RuntimeSettings,
        _app,
        argv,
        describe=lambda s: f"{s.name} ({s.model_path})",
    )


def _app(settings: RuntimeSettings) -> Starlette:
    """The app, imported and built while the model loads (`Preload`)."""
    preload = Preload(settings)
    from PIL import Image

    from runtimes.onnx.app import create_app

    # Our own max_pixels check refuses oversized images; Pillow's warning would only be noise.
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    return create_app(settings, loader=preload.loader)


if __name__ == "__main__":
    sys.exit(main())
