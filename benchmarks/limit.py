"""``python -m benchmarks.limit [--model imagenet|digits]``: the single-request limit, no HTTP.

What one request cannot go below on this machine: decoding, resizing and normalising the model's
benchmark image (``benchmarks.payloads``: the flower JPEG, a digit PNG) with the runtime's own
``Preprocessor``, then one ONNX Runtime call with every core (the runtime's own wide session) -
medians of back-to-back runs, each stage timed alone. Prints one JSON object ``{"decode_ms",
"ort_ms", "limit_ms", "after_ms", "warm_ms"}``. Run in its own process.

``after_ms`` and ``warm_ms`` are not part of the limit: they time the runtime's top-5 answer
(``Postprocessor.top_k``) right after each ONNX Runtime call and then once more at once. The
first is what a server pays for whatever follows a model run (the run leaves the caches cold);
the second is what the same code costs warm.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import yaml

from benchmarks.payloads import PAYLOADS
from benchmarks.targets import service_file


def measure(runs: int, model_name: str = "imagenet") -> dict[str, float]:
    """Median decode and inference times of ``model_name`` over ``runs`` runs (after one
    warm-up)."""
    from runtimes.onnx.config import RuntimeSettings
    from runtimes.onnx.cores import usable_cores
    from runtimes.onnx.inference import ModelService
    from runtimes.onnx.model import OnnxModel

    path = service_file(model_name)
    spec = yaml.safe_load(path.read_text())["services"][0]
    values: dict[str, Any] = {
        "name": spec["name"],
        "model_path": path.parent / spec["model"],
        "labels_path": path.parent / spec["labels"] if spec.get("labels") else None,
        "preprocess": spec.get("preprocess", {}),
        "postprocess": spec.get("postprocess", {}),
    }
    model = OnnxModel.load(values["model_path"], threads=usable_cores(), spin=True)
    # the runtime's own pre- and post-processing and score output, built as it builds them
    service = ModelService(RuntimeSettings(**values), model)
    preprocessor, postprocessor = service.preprocessor, service.postprocessor
    data = PAYLOADS[model_name]().body
    name = model.input().name
    model.run({name: preprocessor(data)[None]})
    decode, infer, after, warm = [], [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        sample = preprocessor(data)[None]
        decoded = time.perf_counter()
        (scores,) = model.run({name: sample}, [service.score_output])
        inferred = time.perf_counter()
        postprocessor.top_k(scores, 5)
        answered = time.perf_counter()
        postprocessor.top_k(scores, 5)
        decode.append(decoded - started)
        infer.append(inferred - decoded)
        after.append(answered - inferred)
        warm.append(time.perf_counter() - answered)
    decode_ms = statistics.median(decode) * 1000
    ort_ms = statistics.median(infer) * 1000
    return {
        "decode_ms": decode_ms,
        "ort_ms": ort_ms,
        "limit_ms": decode_ms + ort_ms,
        "after_ms": statistics.median(after) * 1000,
        "warm_ms": statistics.median(warm) * 1000,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.limit", description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--model", choices=sorted(PAYLOADS), default="imagenet")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.runs, args.model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
