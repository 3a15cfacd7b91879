"""``python -m benchmarks.loads``: imagenet at 1, 4, 16 and 64 clients, side by side (issue 15).

Three targets, started together and measured interleaved (each round runs every client count on
every target back to back, so a ratio compares runs made seconds apart): the runtime called
directly, the gateway with its default runtime process, and the gateway with the service in
process (``in_process: true``). Before the load, interleaved the same way: the single-request
limit (``benchmarks.limit``, in its own process: decode + one ONNX Runtime call on every core) and
each target's server time at 1 client, from the request's last byte to the response's first (a
raw socket, every answer checked for "daisy"). Load comes from wrk (closed loop, keep-alive; any
non-2xx answer counts as an error). Prints the markdown table and writes it to
``benchmarks/results/loads.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from benchmarks.payloads import Payload, imagenet_payload
from benchmarks.processes import BenchmarkError, ProcessGroup, run_main, wait_ready
from benchmarks.stats import Stats
from benchmarks.targets import Target, service_file, start_gateway, start_runtime
from benchmarks.wrk import run_wrk

RESULTS = Path(__file__).with_name("results") / "loads.md"
CLIENTS = (1, 4, 16, 64)
DIRECT, PROCESS, IN_PROCESS = "runtime direct", "gateway (process)", "gateway (in process)"
LIMIT_TARGET = 1.15  # 1-client server time within 15 % of decode + one all-core ORT call


def in_process_file(work: Path) -> Path:
    """The imagenet service definition with ``in_process: true`` (absolute model paths)."""
    source = service_file("imagenet")
    services = yaml.safe_load(source.read_text())["services"]
    for service in services:
        service["in_process"] = True
        for key in ("model", "labels"):
            service[key] = str(source.parent / service[key])
    path = work / "imagenet-in-process.yaml"
    path.write_text(yaml.safe_dump({"services": services}))
    return path


def first_byte_ms(target: Target, payload: Payload, requests: int) -> float:
    """Median ms from a request's last byte sent to its answer's first byte, one client."""
    url = urlsplit(target.predict_url)
    head = (
        f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: {payload.content_type}"
        f"\r\nContent-Length: {len(payload.body)}\r\n\r\n"
    ).encode()
    times = []
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(requests):
            sock.sendall(head + payload.body)
            sent = time.perf_counter()
            answer = sock.recv(65536)
            times.append(time.perf_counter() - sent)
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(65536)
            header, _, body = answer.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in header.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:
                body += sock.recv(65536)
            if not header.startswith(b"HTTP/1.1 200") or b'"daisy"' not in body:
                raise BenchmarkError(f"{target.name}: unexpected answer {answer[:300]!r}")
    return statistics.median(times) * 1000


def single_limit(group: ProcessGroup, work: Path) -> dict[str, float]:
    """``benchmarks.limit`` in a child process: decode, ORT and their sum in ms."""
    child = group.start("limit", [sys.executable, "-m", "benchmarks.limit"], {}, work / "limit.log")
    try:
        code = child.popen.wait(300)
    finally:
        group.stop(child)
    lines = child.log_path.read_text(encoding="utf-8").strip().splitlines()
    if code != 0 or not lines:
        raise BenchmarkError(f"the limit measurement failed:\n{child.log_tail()}")
    values: dict[str, float] = json.loads(lines[-1])
    return values


def run(args: argparse.Namespace) -> str:
    payload = imagenet_payload()
    points: dict[tuple[str, int], list[Stats]] = {}
    with tempfile.TemporaryDirectory(prefix="loads-") as tmp, ProcessGroup() as group:
        work = Path(tmp)
        direct, direct_child = start_runtime(group, "imagenet", work)
        url, gateway = start_gateway(group, [service_file("imagenet")], work)
        in_url, in_gateway = start_gateway(group, [in_process_file(work)], work, "in-process")
        targets = {
            DIRECT: direct,
            PROCESS: Target(PROCESS, url, "/predict/imagenet"),
            IN_PROCESS: Target(IN_PROCESS, in_url, "/predict/imagenet"),
        }
        children = {direct.ready_url: direct_child}
        children[targets[PROCESS].ready_url] = gateway
        children[targets[IN_PROCESS].ready_url] = in_gateway
        wait_ready(children, 180)
        first_byte: dict[str, list[float]] = {name: [] for name in targets}
        limits: list[dict[str, float]] = []
        for _ in range(args.rounds):  # the limit too, so each ratio compares neighbouring runs
            limits.append(single_limit(group, work))
            for name, target in targets.items():
                first_byte[name].append(first_byte_ms(target, payload, args.requests))
        limit = {key: statistics.median(m[key] for m in limits) for key in limits[0]}
        for round_index in range(args.rounds):
            for users in args.clients:
                for name, target in targets.items():
                    prefix = work / "raw" / f"{name.replace(' ', '-')}-u{users}-r{round_index}"
                    stats = run_wrk(group, target.predict_url, payload, users, args.seconds, prefix)
                    points.setdefault((name, users), []).append(stats)
    first = {name: statistics.median(values) for name, values in first_byte.items()}
    return report(args, limit, first, points)


def report(
    args: argparse.Namespace,
    limit: dict[str, float],
    first: dict[str, float],
    points: dict[tuple[str, int], list[Stats]],
) -> str:
    """The markdown tables: 1-client server time against the limit, then images/s per load."""
    lines = [
        f"Single-request limit: decode {limit['decode_ms']:.2f} ms + one ONNX Runtime call on "
        f"every core {limit['ort_ms']:.2f} ms = {limit['limit_ms']:.2f} ms.",
        "",
        "| target | server time at 1 client (ms, median) | / limit | goal | verdict |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, value in first.items():
        ratio = value / limit["limit_ms"]
        verdict = "PASS" if ratio <= LIMIT_TARGET else "MISS"
        lines.append(f"| {name} | {value:.2f} | {ratio:.2f}x | ≤ {LIMIT_TARGET:.2f}x | {verdict} |")
    lines += [
        "",
        f"| clients | {DIRECT} img/s | {PROCESS} img/s | {IN_PROCESS} img/s | "
        "process / direct | in process / direct | p50 ms direct / process / in process | errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for users in args.clients:
        runs = {name: points[(name, users)] for name in (DIRECT, PROCESS, IN_PROCESS)}
        rps = {name: statistics.median(s.rps for s in v) for name, v in runs.items()}
        p50 = {name: statistics.median(s.p50_ms for s in v) for name, v in runs.items()}
        errors = sum(s.failures for v in runs.values() for s in v)
        lines.append(
            f"| {users} | {rps[DIRECT]:.1f} | {rps[PROCESS]:.1f} | {rps[IN_PROCESS]:.1f} | "
            f"{rps[PROCESS] / rps[DIRECT]:.2f}x | {rps[IN_PROCESS] / rps[DIRECT]:.2f}x | "
            f"{p50[DIRECT]:.1f} / {p50[PROCESS]:.1f} / {p50[IN_PROCESS]:.1f} | {errors} |"
        )
    load = os.getloadavg()
    lines += [
        "",
        f"Server times and the limit are medians of {args.rounds} interleaved rounds of "
        f"{args.requests} requests (the limit: 300 runs a round).",
        "",
        f"Made by `python -m benchmarks.loads` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: "
        f"{args.rounds} interleaved round(s), wrk {args.seconds:.0f} s per point (medians of the "
        f"rounds); load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on "
        f"{os.cpu_count()} core(s).",
    ]
    text = "\n".join(lines) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.loads",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per load point (8)")
    parser.add_argument("--requests", type=int, default=200, help="1-client timed requests (200)")
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS))
    parser.add_argument("--output", type=Path, default=RESULTS, help="markdown output file")
    args = parser.parse_args(argv)
    return run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
