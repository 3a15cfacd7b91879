"""(g) One image four ways, direct and through the gateway: raw JPEG/PNG on ``/predict``, OIP JSON
tensors, OIP binary tensors (``Inference-Header-Content-Length``) and OIP gRPC (ModelInfer with
``raw_input_contents``), for imagenet and digits.

The tensors are the sample image preprocessed as the service does, so every protocol asks the
same question; the gateway's added cost is measured per protocol against the same runtime called
directly, point after point in one run. ``benchmarks.oip_load`` drives all four (wrk has no gRPC).
``python -m benchmarks.protocols [--seconds S] [--clients 1 16]`` runs this section alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from benchmarks.payloads import PAYLOADS, REPO_ROOT
from benchmarks.processes import BenchmarkError, Child, ProcessGroup, free_port, wait_ready
from benchmarks.results import DIRECT, GATEWAY, ProtocolPoint
from benchmarks.stats import Stats
from benchmarks.targets import service_file, start_gateway, start_runtime

PROTOCOLS = ("raw image", "OIP JSON", "OIP binary", "OIP gRPC")
MODELS = ("imagenet", "digits")
Log = Callable[[str], None]


@dataclass(frozen=True)
class Request:
    """One protocol's request for one model: where it goes and what it carries."""

    protocol: str
    path: str  # HTTP path on the gateway ("" for gRPC)
    body: bytes
    headers: dict[str, str]


def requests_for(model: str) -> list[Request]:
    """The four requests for ``model``'s sample image."""
    from gateway.services import load_file
    from runtimes.oip import grpc_predict_v2_pb2 as pb
    from runtimes.onnx.preprocess import Preprocessor

    image = PAYLOADS[model]()
    spec = next(s for s in load_file(service_file(model)).services if s.name == model)
    tensor = Preprocessor(spec.preprocess, max_pixels=40_000_000)(image.body)[None]
    tensor = np.ascontiguousarray(tensor, dtype="<f4")
    infer = f"/v2/models/{model}/infer"
    described = {"name": "input", "shape": list(tensor.shape), "datatype": "FP32"}
    as_json = orjson.dumps(
        {"inputs": [{**described, "data": tensor.reshape(-1)}]}, option=orjson.OPT_SERIALIZE_NUMPY
    )
    raw = tensor.tobytes()
    header = orjson.dumps(
        {
            "inputs": [{**described, "parameters": {"binary_data_size": len(raw)}}],
            "parameters": {"binary_data_output": True},
        }
    )
    message = pb.ModelInferRequest(model_name=model, raw_input_contents=[raw])
    message.inputs.add(name="input", datatype="FP32", shape=tensor.shape)
    binary_headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header)),
    }
    return [
        Request("raw image", f"/predict/{model}", image.body, {"Content-Type": image.content_type}),
        Request("OIP JSON", infer, as_json, {"Content-Type": "application/json"}),
        Request("OIP binary", infer, header + raw, binary_headers),
        Request("OIP gRPC", "", message.SerializeToString(), {}),
    ]


def run_load(
    group: ProcessGroup, work: Path, http: str, grpc_target: str, request: Request, clients: int,
    seconds: float, warmup: float, *, direct: bool,
) -> Stats:  # fmt: skip
    """One closed-loop run of ``benchmarks.oip_load`` in a child process."""
    path = request.path
    if direct and path.startswith("/predict/"):
        path = "/predict"  # a runtime serves one model
    stem = f"{request.protocol.replace(' ', '-')}-{abs(hash((http, path))) % 10**8}"
    body = work / f"{stem}.body"
    body.write_bytes(request.body)
    spec = {
        "kind": "grpc" if request.protocol == "OIP gRPC" else "http",
        "url": http + path,
        "target": grpc_target,
        "headers": request.headers,
        "body_file": str(body),
        "clients": clients,
        "seconds": seconds,
        "warmup": warmup,
        "min_answer_bytes": 20,
    }
    spec_file = work / f"{stem}-c{clients}.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    argv = [sys.executable, "-m", "benchmarks.oip_load", str(spec_file)]
    child = group.start(
        "oip load", argv, {"PYTHONPATH": str(REPO_ROOT)}, spec_file.with_suffix(".log")
    )
    try:
        child.popen.wait(seconds + warmup + 60)
    finally:
        group.stop(child)
    for line in reversed(child.log_path.read_text(encoding="utf-8").splitlines()):
        if line.startswith("OIP_LOAD "):
            data = json.loads(line.removeprefix("OIP_LOAD "))
            break
    else:
        raise BenchmarkError(f"the load generator printed no result:\n{child.log_tail()}")
    elapsed = data["duration_us"] / 1e6
    return Stats(
        requests=data["requests"],
        failures=data["failures"],
        rps=data["requests"] / elapsed if elapsed > 0 else float("nan"),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
    )


def measure_protocols(
    group: ProcessGroup, work: Path, clients: Sequence[int], seconds: float, warmup: float,
    log: Log,
) -> list[ProtocolPoint]:  # fmt: skip
    """Start a runtime per model and a gateway in front of both (all with gRPC), measure every
    (model, protocol, clients) direct then through the gateway, stop them."""
    started: dict[str, Child] = {}  # ready URL -> process
    try:
        direct: dict[str, tuple[str, str]] = {}
        for model in MODELS:
            port = free_port()
            target, child = start_runtime(
                group, model, work, name="oip", overrides={"RUNTIME_GRPC_PORT": str(port)}
            )
            started[target.ready_url] = child
            direct[model] = (target.base_url, f"127.0.0.1:{port}")
        grpc_port = free_port()
        files = [service_file(m) for m in MODELS]
        url, gateway = start_gateway(group, files, work, "oip-gateway", grpc_port=grpc_port)
        started[f"{url}/v2/health/ready"] = gateway
        wait_ready(started, 180)
        targets = {
            DIRECT: direct,
            GATEWAY: {m: (url, f"127.0.0.1:{grpc_port}") for m in MODELS},
        }
        points = []
        for model in MODELS:
            for request in requests_for(model):
                for count in clients:
                    for name, where in targets.items():
                        log(f"{model} {request.protocol} {name}: {count} client(s)")
                        http, grpc_target = where[model]
                        stats = run_load(
                            group, work, http, grpc_target, request, count, seconds, warmup,
                            direct=name == DIRECT,
                        )  # fmt: skip
                        points.append(
                            ProtocolPoint(
                                model, request.protocol, name, count, len(request.body), stats
                            )
                        )
        return points
    finally:
        for child in reversed(started.values()):
            group.stop(child)


def protocol_table(points: Sequence[ProtocolPoint]) -> list[str]:
    """The section as markdown: direct vs gateway per model, protocol and client count."""
    lines = [
        "#### (g) Protocols: one image four ways, direct and through the gateway",
        "",
        "| model | protocol | request bytes | clients | direct req/s | gateway req/s | ratio "
        "| p50 ms direct → gw | added p50 | p99 ms direct → gw | added p99 | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    found = {(p.model, p.protocol, p.target, p.clients): p for p in points}
    for p in points:
        if p.target != DIRECT or (p.model, p.protocol, GATEWAY, p.clients) not in found:
            continue
        d, g = p.stats, found[p.model, p.protocol, GATEWAY, p.clients].stats
        lines.append(
            f"| {p.model} | {p.protocol} | {p.request_bytes:,} | {p.clients} | {d.rps:.0f} "
            f"| {g.rps:.0f} | {g.rps / d.rps:.2f}x | {d.p50_ms:.2f} → {g.p50_ms:.2f} "
            f"| {g.p50_ms - d.p50_ms:+.2f} ms | {d.p99_ms:.2f} → {g.p99_ms:.2f} "
            f"| {g.p99_ms - d.p99_ms:+.2f} ms | {d.failures + g.failures} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    import tempfile

    from benchmarks.processes import run_main

    parser = argparse.ArgumentParser(prog="python -m benchmarks.protocols", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per point (5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="per point, not counted (1)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args(argv)

    def work() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-oip-") as tmp, ProcessGroup() as group:
            points = measure_protocols(
                group, Path(tmp), args.clients, args.seconds, args.warmup, _log
            )
        print("\n".join(protocol_table(points)))

    return run_main(work)


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
