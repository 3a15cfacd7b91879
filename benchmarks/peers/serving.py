"""The model work every peer server does, the same for all: decode, one ONNX Runtime call, top-1.

Imported by the peers' ``server.py`` files inside their own virtualenvs (numpy, pillow,
onnxruntime, pydantic, orjson and pyyaml are all they need of it). Pre-processing is this
repository's own ``runtimes.onnx.preprocess.Preprocessor`` with the imagenet service's settings,
so every server decodes and normalises exactly as ours does: what differs between the servers is
how they serve, not the work per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import yaml

from runtimes.onnx.preprocess import Preprocessor
from runtimes.onnx.spec import PreprocessSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICE_FILE = REPO_ROOT / "model_images" / "imagenet" / "service.yaml"
MAX_PIXELS = 40_000_000


def preprocessor() -> Preprocessor:
    """The imagenet service's pre-processing, read from its FDL file."""
    spec = yaml.safe_load(SERVICE_FILE.read_text(encoding="utf-8"))["services"][0]
    return Preprocessor(PreprocessSpec(**spec["preprocess"]), max_pixels=MAX_PIXELS)


def session(model: Path | str, threads: int = 0) -> Any:
    """A CPU ONNX Runtime session with ``threads`` intra-op threads (0: ONNX Runtime's default)."""
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def read_labels(path: Path | str) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


class Classifier:
    """JPEG bytes -> ``{"label", "index", "score"}``, one image or a batch of them."""

    def __init__(self, model: Path | str, labels: Path | str, threads: int = 0) -> None:
        self.preprocess = preprocessor()
        self.session = session(model, threads)
        self.input_name: str = self.session.get_inputs()[0].name
        self.labels = read_labels(labels)

    def predict(self, jpeg: bytes) -> dict[str, Any]:
        return self.predict_batch([jpeg])[0]

    def predict_batch(self, images: Sequence[bytes]) -> list[dict[str, Any]]:
        batch = np.stack([self.preprocess(image) for image in images])
        (logits,) = self.session.run(None, {self.input_name: batch})
        return [self.top1(row) for row in logits]

    def top1(self, logits: np.ndarray) -> dict[str, Any]:
        index = int(np.argmax(logits))
        return {"label": self.labels[index], "index": index, "score": float(logits[index])}
