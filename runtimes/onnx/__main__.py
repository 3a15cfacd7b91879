"""``python -m runtimes.onnx [--host H] [--port P]``: serve one model from ``RUNTIME_*`` settings.

One process, uvicorn with uvloop and httptools, no access log (metrics count requests instead).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

from PIL import Image

from runtimes.onnx.app import create_app
from runtimes.onnx.config import RuntimeSettings
from runtimes.serving import serve


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the model the environment names until interrupted."""
    # Our own max_pixels check refuses oversized images; Pillow's warning would only be noise.
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    return serve(
        "runtimes.onnx",
        RuntimeSettings,
        create_app,
        argv,
        describe=lambda s: f"{s.name} ({s.model_path})",
    )


if __name__ == "__main__":
    sys.exit(main())
