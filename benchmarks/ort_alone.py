"""``python -m benchmarks.ort_alone``: ONNX Runtime by itself, in one process, no HTTP at all.

The ceiling the served numbers are compared with: EfficientNet-Lite0 on the flower photo,
preprocessed once (224x224 centre crop, ``(x - 127) / 128``), then inference back to back for a
fixed time in three set-ups: one session with 1 intra-op thread, one with 2, and two 1-thread
sessions driven by two Python threads at once (ORT releases the GIL). Prints one JSON object:
``{"<setup>": images_per_second, ...}``. Run in its own process so nothing else shares it.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.payloads import REPO_ROOT, imagenet_payload

MODEL = REPO_ROOT / "model_images" / "imagenet" / "models" / "efficientnet-lite0.onnx"
SETUPS = ("1 thread, batch 1", "2 threads, batch 1", "2 sessions x 1 thread")


def flower_tensor(size: int = 224) -> np.ndarray:
    """The flower JPEG as a (1, 3, size, size) float32 tensor, as the imagenet service sees it."""
    from PIL import Image

    image = Image.open(io.BytesIO(imagenet_payload().body)).convert("RGB")
    scale = size / 0.875 / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)))
    left, top = (image.width - size) // 2, (image.height - size) // 2
    image = image.crop((left, top, left + size, top + size))
    pixels = (np.asarray(image, dtype=np.float32) - 127.0) / 128.0
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])


def session(model: Path, threads: int) -> Any:
    """An inference session set up for latency: all graph optimisations, ``threads`` intra-op."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def images_per_second(sessions: Sequence[Any], tensor: np.ndarray, seconds: float) -> float:
    """Each session in its own thread, back to back for ``seconds`` (after one warm-up call)."""
    name = sessions[0].get_inputs()[0].name
    for s in sessions:
        s.run(None, {name: tensor})
    counts = [0] * len(sessions)
    start = time.perf_counter()
    stop_at = start + seconds

    def loop(index: int) -> None:
        s = sessions[index]
        while time.perf_counter() < stop_at:
            s.run(None, {name: tensor})
            counts[index] += tensor.shape[0]

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(sessions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def measure(seconds: float, model: Path = MODEL) -> dict[str, float]:
    """Images/s of each set-up in ``SETUPS``."""
    tensor = flower_tensor()
    return {
        SETUPS[0]: images_per_second([session(model, 1)], tensor, seconds),
        SETUPS[1]: images_per_second([session(model, 2)], tensor, seconds),
        SETUPS[2]: images_per_second([session(model, 1), session(model, 1)], tensor, seconds),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ort_alone", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per set-up")
    args = parser.parse_args(argv)
    if not MODEL.is_file():
        print(f"error: no model at {MODEL} (run `make models`)", file=sys.stderr)
        return 2
    print(json.dumps(measure(args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
