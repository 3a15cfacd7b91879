"""``python -m benchmarks.overload [--factor 4] [--seconds 15]``: the gateway far past capacity.

Starts ``gateway serve`` with the imagenet service, measures its capacity (closed loop, a few
seconds), then offers ``--factor`` times that rate OPEN loop (a request every 1/rate seconds,
whether or not earlier ones were answered) for ``--seconds``, sampling the gateway's RSS. It
reports the answers by status (admitted requests should finish with 200; the rest be refused at
once with 429 or 503 and ``Retry-After``), the latency of the admitted ones, the time to refuse,
and the gateway's RSS before, at most and after. A report, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from benchmarks import memory
from benchmarks.payloads import PAYLOADS, Payload
from benchmarks.processes import BenchmarkError, ProcessGroup, run_main, wait_ready
from benchmarks.targets import Target, service_file, start_gateway

MODEL = "imagenet"


async def _closed_loop(url: str, payload: Payload, clients: int, seconds: float) -> float:
    """Requests per second that `clients` back-to-back clients get answered (the capacity)."""
    done = 0
    deadline = time.monotonic() + seconds
    headers = {"Content-Type": payload.content_type}
    async with aiohttp.ClientSession() as session:

        async def client() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                async with session.post(url, data=payload.body, headers=headers) as response:
                    await response.read()
                    done += response.status == 200

        await asyncio.gather(*(client() for _ in range(clients)))
    return done / seconds


async def _open_loop(
    url: str, payload: Payload, rate: float, seconds: float, pid: int
) -> tuple[Counter[int], dict[int, list[float]], list[float], int]:
    """Offer `rate` requests per second for `seconds`; answers by status, latencies, RSS."""
    statuses: Counter[int] = Counter()
    latencies: dict[int, list[float]] = {}
    rss: list[float] = []
    missing_retry_after = 0
    headers = {"Content-Type": payload.content_type}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            nonlocal missing_retry_after
            started = time.perf_counter()
            try:
                async with session.post(url, data=payload.body, headers=headers) as response:
                    await response.read()
                    status = response.status
                    if status in (429, 503) and "Retry-After" not in response.headers:
                        missing_retry_after += 1
            except aiohttp.ClientError:
                status = 0  # the connection failed: never expected
            statuses[status] += 1
            latencies.setdefault(status, []).append((time.perf_counter() - started) * 1000)

        tasks = []
        start = time.monotonic()
        sent = 0
        while (now := time.monotonic()) < start + seconds:
            due = int((now - start) * rate) + 1
            for _ in range(due - sent):
                tasks.append(asyncio.create_task(one()))
            sent = due
            if not rss or len(rss) < (now - start):
                rss.append(memory.rss_mb(pid))
            await asyncio.sleep(0.002)
        await asyncio.gather(*tasks)
        rss.append(memory.rss_mb(pid))
    return statuses, latencies, rss, missing_retry_after


def _p(values: list[float], q: int) -> float:
    """The q-th percentile (q in 1..99)."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[q - 1]


def run(args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="overload-") as tmp, ProcessGroup() as group:
        url, gateway = start_gateway(group, [service_file(MODEL)], Path(tmp), "overload-gateway")
        target = Target("gateway", url, f"/predict/{MODEL}")
        wait_ready({target.ready_url: gateway}, 120)
        payload = PAYLOADS[MODEL]()
        pid = gateway.popen.pid
        capacity = asyncio.run(_closed_loop(target.predict_url, payload, 16, args.capacity_seconds))
        rate = capacity * args.factor
        before = memory.rss_mb(pid)
        print(f"capacity {capacity:.0f} req/s; offering {rate:.0f} req/s for {args.seconds} s")
        statuses, latencies, rss, no_retry_after = asyncio.run(
            _open_loop(target.predict_url, payload, rate, args.seconds, pid)
        )
        if gateway.popen.poll() is not None:
            raise BenchmarkError(f"the gateway exited under overload:\n{gateway.log_tail()}")
    total = sum(statuses.values())
    lines = [
        f"## Overload: {args.factor:g}x capacity, open loop, {args.seconds:g} s ({MODEL})",
        "",
        f"capacity (16 clients, closed loop): {capacity:.0f} req/s; offered {rate:.0f} req/s",
        "",
        "| status | answers | share | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for status in sorted(statuses):
        values = latencies[status]
        label = "connection error" if status == 0 else str(status)
        lines.append(
            f"| {label} | {statuses[status]} | {statuses[status] / total:.0%} | "
            f"{_p(values, 50):.1f} | {_p(values, 99):.1f} |"
        )
    lines += [
        "",
        f"refusals without Retry-After: {no_retry_after}",
        f"gateway RSS: {before:.0f} MiB before, {max(rss):.0f} MiB at most, {rss[-1]:.0f} after",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overload", description=__doc__)
    parser.add_argument("--factor", type=float, default=4.0, help="times the measured capacity")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--capacity-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    return run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
