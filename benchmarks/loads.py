"""``python -m benchmarks.loads [--model imagenet|digits]``: one model at 1, 4, 16 and 64 clients,
side by side (issue 15).

Three targets, started together and measured interleaved (each round runs every client count on
every target back to back, so a ratio compares runs made seconds apart): the runtime called
directly, the gateway with its default runtime process, and the gateway with the service in
process (``in_process: true``). Before the load, interleaved the same way: the single-request
limit (``benchmarks.limit``, in its own process: decode + one ONNX Runtime call on every core) and
each target's server time at 1 client, from the request's last byte to the response's first (a
raw socket, every answer's top label checked: "daisy" for the flower, "0" for the digit). Load
comes from wrk (closed loop, keep-alive; an answer that is not a 200 with that label counts as an
error). Then the
gateway's own cost against issue 15's goals: the p50 it adds at 1 client (≤ 0.3 ms) and its
images/s against the runtime's at each load (≥ 0.97x at 16 and 64 clients), and the CPU time it
adds per request (all its processes, less the runtime alone's: the figure a busy machine disturbs
least). Prints the markdown
tables and writes them to ``benchmarks/results/loads.md`` (imagenet) or ``loads-digits.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import yaml

from benchmarks.cpu import tree_cpu_seconds
from benchmarks.payloads import EXPECTED, PAYLOADS, Payload
from benchmarks.processes import BenchmarkError, ProcessGroup, run_json_child, run_main, wait_ready
from benchmarks.stats import Stats
from benchmarks.targets import Target, service_file, start_gateway, start_runtime
from benchmarks.wrk import run_wrk

RESULTS = Path(__file__).with_name("results")
CLIENTS = (1, 4, 16, 64)
DIRECT, PROCESS, IN_PROCESS = "runtime direct", "gateway (process)", "gateway (in process)"
LIMIT_TARGET = 1.15  # 1-client server time within 15 % of decode + one all-core ORT call
ADDED_P50_TARGET_MS = 0.3  # the gateway's own cost: added p50 at 1 client ...
THROUGHPUT_TARGET = 0.97  # ... and images/s against the runtime alone at these loads
THROUGHPUT_LOADS = (16, 64)


def output_file(model: str) -> Path:
    """Where the tables of ``model`` go by default."""
    return RESULTS / ("loads.md" if model == "imagenet" else f"loads-{model}.md")


def in_process_file(work: Path, model: str) -> Path:
    """The model's service definition with ``in_process: true`` (absolute model paths)."""
    source = service_file(model)
    services = yaml.safe_load(source.read_text())["services"]
    for service in services:
        service["in_process"] = True
        for key in ("model", "labels"):
            service[key] = str(source.parent / service[key])
    path = work / f"{model}-in-process.yaml"
    path.write_text(yaml.safe_dump({"services": services}))
    return path


def top_label(body: bytes) -> str | None:
    """The first prediction's label in a ``/predict`` answer, if it is one."""
    try:
        return str(orjson.loads(body)["predictions"][0]["label"])
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None


def first_byte_ms(target: Target, payload: Payload, requests: int, expected: str) -> float:
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
            if not header.startswith(b"HTTP/1.1 200") or top_label(body[:length]) != expected:
                raise BenchmarkError(f"{target.name}: unexpected answer {answer[:300]!r}")
    return statistics.median(times) * 1000


def single_limit(group: ProcessGroup, work: Path, model: str) -> dict[str, float]:
    """``benchmarks.limit`` in a child process: decode, ORT and their sum in ms."""
    argv = [sys.executable, "-m", "benchmarks.limit", "--model", model]
    return run_json_child(group, "the limit measurement", argv, work / "limit.log", 300)


def run(args: argparse.Namespace) -> str:
    model = args.model
    payload = PAYLOADS[model]()
    points: dict[tuple[str, int], list[Stats]] = {}
    cpu_us: dict[tuple[str, int], list[float]] = {}  # CPU microseconds per request
    with tempfile.TemporaryDirectory(prefix="loads-") as tmp, ProcessGroup() as group:
        work = Path(tmp)
        direct, direct_child = start_runtime(group, model, work)
        url, gateway = start_gateway(group, [service_file(model)], work)
        in_file = in_process_file(work, model)
        in_url, in_gateway = start_gateway(group, [in_file], work, "in-process")
        targets = {
            DIRECT: direct,
            PROCESS: Target(PROCESS, url, f"/predict/{model}"),
            IN_PROCESS: Target(IN_PROCESS, in_url, f"/predict/{model}"),
        }
        children = {direct.ready_url: direct_child}
        children[targets[PROCESS].ready_url] = gateway
        children[targets[IN_PROCESS].ready_url] = in_gateway
        pids = {DIRECT: direct_child.popen.pid, PROCESS: gateway.popen.pid}
        pids[IN_PROCESS] = in_gateway.popen.pid
        wait_ready(children, 180)
        first_byte: dict[str, list[float]] = {name: [] for name in targets}
        limits: list[dict[str, float]] = []
        for _ in range(args.rounds):  # the limit too, so each ratio compares neighbouring runs
            limits.append(single_limit(group, work, model))
            for name, target in targets.items():
                first_byte[name].append(
                    first_byte_ms(target, payload, args.requests, EXPECTED[model])
                )
        limit = {key: statistics.median(m[key] for m in limits) for key in limits[0]}
        for round_index in range(args.rounds):
            for users in args.clients:
                for name, target in targets.items():
                    prefix = work / "raw" / f"{name.replace(' ', '-')}-u{users}-r{round_index}"
                    before = tree_cpu_seconds(pids[name])
                    stats = run_wrk(
                        group, target.predict_url, payload, users, args.seconds, prefix,
                        expect=EXPECTED[model],
                    )  # fmt: skip
                    used = tree_cpu_seconds(pids[name]) - before
                    points.setdefault((name, users), []).append(stats)
                    cpu_us.setdefault((name, users), []).append(used / max(stats.requests, 1) * 1e6)
    first = {name: statistics.median(values) for name, values in first_byte.items()}
    return report(args, limit, first, points, cpu_us)


def report(
    args: argparse.Namespace,
    limit: dict[str, float],
    first: dict[str, float],
    points: dict[tuple[str, int], list[Stats]],
    cpu_us: dict[tuple[str, int], list[float]],
) -> str:
    """The markdown tables: 1-client server time against the limit, then images/s per load."""
    lines = [
        f"Model: {args.model}. Single-request limit: decode {limit['decode_ms']:.2f} ms + one "
        f"ONNX Runtime call on "
        f"every core {limit['ort_ms']:.2f} ms = {limit['limit_ms']:.2f} ms.",
        "",
        "Not in the limit: the runtime's top-5 answer takes "
        f"{limit['after_ms'] * 1000:.0f} us right after that call and {limit['warm_ms'] * 1000:.0f}"
        " us when run again at once: what follows a model run starts on cold caches.",
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
    lines += ["", *own_cost(args.clients, points, cpu_us)]
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


def own_cost(
    clients: Sequence[int],
    points: dict[tuple[str, int], list[Stats]],
    cpu_us: dict[tuple[str, int], list[float]],
) -> list[str]:
    """The gateway's own cost against issue 15's goals, for each way of running the service:
    p50 added at 1 client, images/s against the runtime alone at each load; and the CPU it adds
    per request."""
    lines = [
        "| gateway | clients | added p50 (ms) | img/s / runtime direct | goal | verdict | "
        "added CPU per request (us) |",
        "| --- | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for name in (PROCESS, IN_PROCESS):
        for users in clients:
            direct, own = points[(DIRECT, users)], points[(name, users)]
            added = statistics.median(s.p50_ms for s in own) - statistics.median(
                s.p50_ms for s in direct
            )
            ratio = statistics.median(s.rps for s in own) / statistics.median(s.rps for s in direct)
            if users == 1:
                goal, met = f"added p50 ≤ {ADDED_P50_TARGET_MS} ms", added <= ADDED_P50_TARGET_MS
            elif users in THROUGHPUT_LOADS:
                goal, met = f"≥ {THROUGHPUT_TARGET:.2f}x", ratio >= THROUGHPUT_TARGET
            else:
                goal, met = "—", None
            verdict = "—" if met is None else "PASS" if met else "MISS"
            cpu = statistics.median(cpu_us[(name, users)]) - statistics.median(
                cpu_us[(DIRECT, users)]
            )
            lines.append(
                f"| {name} | {users} | {added:+.2f} | {ratio:.3f}x | {goal} | {verdict} | "
                f"{cpu:+.0f} |"
            )
    return lines


def load_parser(prog: str, doc: str | None, rounds: int, seconds: float) -> argparse.ArgumentParser:
    """The options every per-load benchmark of one model takes: model, rounds, seconds, clients."""
    parser = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=sorted(EXPECTED), default="imagenet")
    parser.add_argument("--rounds", type=int, default=rounds, help=f"interleaved rounds ({rounds})")
    parser.add_argument(
        "--seconds", type=float, default=seconds, help=f"seconds per load point ({seconds:g})"
    )
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = load_parser("python -m benchmarks.loads", __doc__, rounds=3, seconds=8.0)
    parser.add_argument("--requests", type=int, default=200, help="1-client timed requests (200)")
    parser.add_argument("--output", type=Path, help="markdown output file (see above)")
    args = parser.parse_args(argv)
    args.output = args.output or output_file(args.model)
    return run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
