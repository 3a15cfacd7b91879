"""The BentoML service: a ``@bentoml.service`` class whose API takes JPEG files (multipart).

What BentoML's docs have a user write for an image model: a service class that loads the model
in ``__init__`` and an ``@bentoml.api`` method with file inputs (``pathlib.Path``: BentoML saves
each uploaded part to a file). Its settings come from ``bentoml serve --arg KEY=VALUE`` (BentoML's
template arguments), since the decorators read them when BentoML imports this module in each
worker. The model work is ``benchmarks.peers.serving.Classifier``, the same for every peer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bentoml
from pydantic import BaseModel

from benchmarks.peers.serving import Classifier


class Arguments(BaseModel):
    model: str
    labels: str
    workers: int = 1  # BentoML's default
    threads: int = 0  # ONNX Runtime intra-op threads (0: its default)
    batchable: bool = False  # adaptive batching (BentoML's default: off)
    max_batch_size: int = 100  # BentoML's defaults for a batchable API
    max_latency_ms: int = 60000


ARGS = bentoml.use_arguments(Arguments)


@bentoml.service(workers=ARGS.workers)
class ImageClassifier:
    """EfficientNet-Lite0: JPEG files in, their top-1 ImageNet labels out."""

    def __init__(self) -> None:
        self.classifier = Classifier(ARGS.model, ARGS.labels, ARGS.threads)

    @bentoml.api(
        batchable=ARGS.batchable,
        max_batch_size=ARGS.max_batch_size,
        max_latency_ms=ARGS.max_latency_ms,
    )
    def classify(self, images: list[Path]) -> list[dict[str, Any]]:
        return self.classifier.predict_batch([path.read_bytes() for path in images])
