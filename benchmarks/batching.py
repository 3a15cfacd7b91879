"""``python -m benchmarks.batching [--require-gpu]``: batching on against off, at 1-64 clients.

Two runtimes of the same model, started the way the gateway starts them (``targets.runtime_env``):
one with the service's batching, one with batching off. Both run on whatever ONNX Runtime finds:
the GPU where the CUDA provider starts (``onnxruntime-gpu`` installed, a GPU and its libraries),
else the CPU; each runtime's provider is read back from its model metadata and printed, and
``--require-gpu`` stops the run when it is not CUDA. Load comes from wrk (closed loop, keep-alive,
every answer checked), interleaved: each round runs every client count on both runtimes back to
back. The mean batch size comes from each runtime's ``runtime_batch_size`` histogram. Prints the
markdown table and writes it to ``benchmarks/results/batching.md`` (or ``--output``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.loads import RESULTS, load_parser
from benchmarks.payloads import EXPECTED, PAYLOADS
from benchmarks.processes import BenchmarkError, ProcessGroup, run_main, wait_ready
from benchmarks.stats import Stats
from benchmarks.targets import BATCHING_OFF_ENV, Target, start_runtime
from benchmarks.wrk import run_wrk

ON, OFF = "batching on", "batching off"
GPU_PROVIDER = "CUDAExecutionProvider"


def provider(target: Target, model: str) -> str:
    """The execution provider a runtime's model runs on (its OIP model metadata)."""
    answer = httpx.get(f"{target.base_url}/v2/models/{model}", timeout=10).json()
    return str(answer["execution_provider"])


#: what the runtime's histograms have counted so far: requests in batches, batches, run seconds
COUNTERS = (
    "runtime_batch_size_sum",
    "runtime_batch_size_count",
    "runtime_inference_duration_seconds_sum",
)


def counters(target: Target) -> dict[str, float]:
    """The runtime's ``COUNTERS`` now (its ``/metrics``)."""
    text = httpx.get(f"{target.base_url}/metrics", timeout=10).text
    values = dict.fromkeys(COUNTERS, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in values:
                values[sample.name] += sample.value
    return values


def per_batch(before: dict[str, float], after: dict[str, float]) -> tuple[float, float]:
    """Mean batch size and mean model-run ms of the batches run between two readings."""
    runs = after["runtime_batch_size_count"] - before["runtime_batch_size_count"]
    if not runs:
        return 0.0, 0.0
    requests = after["runtime_batch_size_sum"] - before["runtime_batch_size_sum"]
    seconds = (
        after["runtime_inference_duration_seconds_sum"]
        - before["runtime_inference_duration_seconds_sum"]
    )
    return requests / runs, seconds / runs * 1000


def gpu_name() -> str:
    """The GPU nvidia-smi names, or "" without one."""
    if shutil.which("nvidia-smi") is None:
        return ""
    done = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout else ""


def run(args: argparse.Namespace) -> str:
    payload = PAYLOADS[args.model]()
    points: dict[tuple[str, int], list[Stats]] = {}
    sizes: dict[tuple[str, int], list[tuple[float, float]]] = {}  # mean batch size, run ms
    with tempfile.TemporaryDirectory(prefix="batching-") as tmp, ProcessGroup() as group:
        work = Path(tmp)
        extra = dict(item.split("=", 1) for item in args.env)
        on, on_child = start_runtime(group, args.model, work, name="batching-on", overrides=extra)
        off, off_child = start_runtime(
            group, args.model, work, name="batching-off", overrides=extra | BATCHING_OFF_ENV
        )
        wait_ready({on.ready_url: on_child, off.ready_url: off_child}, args.ready_timeout)
        targets = {ON: on, OFF: off}
        providers = {name: provider(target, args.model) for name, target in targets.items()}
        _log(f"providers: {providers}")
        if args.require_gpu and set(providers.values()) != {GPU_PROVIDER}:
            raise BenchmarkError(f"--require-gpu: the runtimes run on {providers}")
        for round_index in range(args.rounds):
            for users in args.clients:
                for name, target in targets.items():
                    prefix = work / "raw" / f"{name.replace(' ', '-')}-u{users}-r{round_index}"
                    before = counters(target)
                    stats = run_wrk(
                        group,
                        target.predict_url,
                        payload,
                        users,
                        args.seconds,
                        prefix,
                        expect=EXPECTED[args.model],
                    )
                    sizes.setdefault((name, users), []).append(per_batch(before, counters(target)))
                    points.setdefault((name, users), []).append(stats)
                    _log(f"round {round_index + 1} {name} {users} client(s): {stats.rps:.1f}/s")
    return report(args, providers, points, sizes)


def report(
    args: argparse.Namespace,
    providers: dict[str, str],
    points: dict[tuple[str, int], list[Stats]],
    sizes: dict[tuple[str, int], list[tuple[float, float]]],
) -> str:
    """The markdown table: images/s, latency and mean batch size, on against off, per load."""
    device = gpu_name() if GPU_PROVIDER in providers.values() else ""
    where = f"{providers[ON]}" + (f" ({device})" if device else "")
    lines = [
        f"Model: {args.model}, on {where}; {os.cpu_count()} CPU core(s), {platform.machine()}"
        + (f"; runtimes' environment adds {' '.join(args.env)}." if args.env else "."),
        "",
        f"| clients | {ON} img/s | {OFF} img/s | on / off | p50 ms on / off | "
        "p99 ms on / off | mean batch on | model run ms on / off | errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for users in args.clients:
        on, off = points[(ON, users)], points[(OFF, users)]
        rps_on, rps_off = (statistics.median(s.rps for s in runs) for runs in (on, off))
        p50 = [statistics.median(s.p50_ms for s in runs) for runs in (on, off)]
        p99 = [statistics.median(s.p99_ms for s in runs) for runs in (on, off)]
        errors = sum(s.failures for s in [*on, *off])
        batch = statistics.median(size for size, _ in sizes[(ON, users)])
        run_ms = [statistics.median(ms for _, ms in sizes[(name, users)]) for name in (ON, OFF)]
        lines.append(
            f"| {users} | {rps_on:.1f} | {rps_off:.1f} | {rps_on / rps_off:.2f}x | "
            f"{p50[0]:.2f} / {p50[1]:.2f} | {p99[0]:.2f} / {p99[1]:.2f} | {batch:.1f} | "
            f"{run_ms[0]:.2f} / {run_ms[1]:.2f} | {errors} |"
        )
    lines += [
        "",
        f"Made by `python -m benchmarks.batching` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} "
        f"UTC: {args.rounds} interleaved round(s), wrk {args.seconds:.0f} s per point (medians "
        "of the rounds), every answer checked; both runtimes as the gateway starts them.",
    ]
    text = "\n".join(lines) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    return text


def _log(message: str) -> None:
    print(f"[batching] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = load_parser("python -m benchmarks.batching", __doc__, rounds=2, seconds=5.0)
    parser.add_argument("--require-gpu", action="store_true", help="stop unless both use CUDA")
    parser.add_argument(
        "--env", nargs="*", default=[], metavar="KEY=VALUE", help="add to both runtimes' env"
    )
    parser.add_argument("--ready-timeout", type=float, default=300.0, help="seconds (300)")
    parser.add_argument("--output", type=Path, default=RESULTS / "batching.md")
    args = parser.parse_args(argv)
    return run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
