"""Inputs for the Open Inference Protocol tests: sample images as the services preprocess them."""

from __future__ import annotations

from functools import cache

import numpy as np

from runtimes.onnx.preprocess import Preprocessor
from tests.runtimes.conftest import sample_jpeg, service_settings

#: ImageNet's class for a daisy: what EfficientNet-Lite0 answers for the flower.
DAISY = 985


@cache
def imagenet_tensor(name: str = "flower.jpg") -> np.ndarray:
    """A sample photo preprocessed as the imagenet service does, shape (1, 3, 224, 224)."""
    settings = service_settings("imagenet")
    preprocess = Preprocessor(settings.preprocess, max_pixels=settings.max_pixels)
    array: np.ndarray = preprocess(sample_jpeg(name))[None].astype(np.float32)
    return array
