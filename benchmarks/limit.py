"""``python -m benchmarks.limit [--model imagenet|digits]``: the single-request limit, no HTTP.

What one request cannot go below on this machine: decoding, resizing and normalising the model's
benchmark image (``benchmarks.payloads``: the flower JPEG, a digit PNG) with the runtime's own
``Preprocessor``, then one ONNX Runtime call with every core (the runtime's own wide session) -
medians of back-to-back runs, each stage timed alone. Prints one JSON object ``{"decode_ms",
"ort_ms", "limit_ms"}``. Run in its own process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence

import yaml

from benchmarks.payloads import PAYLOADS
from benchmarks.targets import service_file


def measure(runs: int, model_name: str = "imagenet") -> dict[str, float]:
    """Median decode and inference times of ``model_name`` over ``runs`` runs (after one
    warm-up)."""
    from runtimes.onnx.cores import usable_cores
    from runtimes.onnx.model import OnnxModel
    from runtimes.onnx.preprocess import Preprocessor
    from runtimes.onnx.spec import PreprocessSpec

    path = service_file(model_name)
    spec = yaml.safe_load(path.read_text())["services"][0]
    preprocessor = Preprocessor(PreprocessSpec(**spec["preprocess"]), max_pixels=40_000_000)
    model = OnnxModel.load(path.parent / spec["model"], threads=usable_cores(), spin=True)
    data = PAYLOADS[model_name]().body
    name = model.input().name
    model.run({name: preprocessor(data)[None]})
    decode, infer = [], []
    for _ in range(runs):
        started = time.perf_counter()
        sample = preprocessor(data)[None]
        decoded = time.perf_counter()
        model.run({name: sample})
        decode.append(decoded - started)
        infer.append(time.perf_counter() - decoded)
    decode_ms = statistics.median(decode) * 1000
    ort_ms = statistics.median(infer) * 1000
    return {"decode_ms": decode_ms, "ort_ms": ort_ms, "limit_ms": decode_ms + ort_ms}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.limit", description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--model", choices=sorted(PAYLOADS), default="imagenet")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.runs, args.model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
