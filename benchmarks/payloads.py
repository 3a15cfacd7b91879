"""The request bodies the benchmarks send: one real photo and one small digit image.

Built once, offline, from files in the repository or scikit-learn's bundled data; no network.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
FLOWER_JPEG = REPO_ROOT / "model_images" / "imagenet" / "samples" / "flower.jpg"


@dataclass(frozen=True)
class Payload:
    """A request body and its media type."""

    body: bytes
    content_type: str


def imagenet_payload(path: Path | None = None) -> Payload:
    """The flower photo as JPEG bytes (the sample file, else scikit-learn's copy of it)."""
    path = path or FLOWER_JPEG
    if path.is_file():
        return Payload(path.read_bytes(), "image/jpeg")
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(_sklearn_datasets().load_sample_image("flower.jpg")).save(
        buffer, format="JPEG", quality=90
    )
    return Payload(buffer.getvalue(), "image/jpeg")


def digits_payload(index: int = 0) -> Payload:
    """One of scikit-learn's 8x8 digits as a greyscale PNG (a drawn "3" without scikit-learn)."""
    from PIL import Image, ImageDraw

    try:
        datasets = _sklearn_datasets()
    except ImportError:
        image = Image.new("L", (8, 8), 0)
        ImageDraw.Draw(image).text((1, -2), "3", fill=255)
    else:
        pixels = (datasets.load_digits().images[index] * 16).clip(0, 255).astype("uint8")
        image = Image.fromarray(pixels, mode="L")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return Payload(buffer.getvalue(), "image/png")


def _sklearn_datasets() -> Any:
    """``sklearn.datasets`` (a dev dependency, untyped), imported only when needed."""
    return importlib.import_module("sklearn.datasets")


PAYLOADS: dict[str, Callable[[], Payload]] = {
    "imagenet": imagenet_payload,
    "digits": digits_payload,
}
#: the top label each model must answer for its payload: every good answer contains it
EXPECTED = {"imagenet": "daisy", "digits": "0"}
