"""A closed-loop load generator that speaks HTTP and the OIP's gRPC alike (one child process).

``python -m benchmarks.oip_load SPEC.json``: ``clients`` callers send the same request back to
back for ``seconds`` (after ``warmup`` seconds not counted) and print one ``OIP_LOAD {...}`` line
with counts and latency percentiles in microseconds. wrk cannot speak gRPC, so the protocols
section (`benchmarks.protocols`) drives every protocol with this one generator: their numbers
compare with each other, not with wrk's. An answer counts as a failure unless it is a 200 (HTTP)
or OK (gRPC) whose body is at least ``min_answer_bytes`` long.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import numpy as np
import uvloop

from runtimes.oip.grpc_calls import method

MARKER = "OIP_LOAD "
Send = Callable[[], Awaitable[int]]  # one request; the answer's size, or -1 when it failed


async def _http_sender(spec: dict[str, Any], body: bytes) -> tuple[Send, Callable[[], Any]]:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
    url, headers = spec["url"], spec["headers"]

    async def send() -> int:
        async with session.post(url, data=body, headers=headers) as response:
            answer = await response.read()
            return len(answer) if response.status == 200 else -1

    return send, session.close


async def _grpc_sender(spec: dict[str, Any], body: bytes) -> tuple[Send, Callable[[], Any]]:
    options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    channel = grpc.aio.insecure_channel(spec["target"], options=options)
    call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method("ModelInfer"))

    async def send() -> int:
        try:
            answer: bytes = await call(body, metadata=tuple(spec["headers"].items()))
        except grpc.aio.AioRpcError:
            return -1
        return len(answer)

    return send, channel.close


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure as ``spec`` says; returns the counts and percentiles."""
    body = Path(spec["body_file"]).read_bytes()
    make = _grpc_sender if spec["kind"] == "grpc" else _http_sender
    send, close = await make(spec, body)
    latencies: list[float] = []
    failures = 0
    started = time.perf_counter()
    counting_from = started + spec["warmup"]
    until = counting_from + spec["seconds"]

    async def caller() -> None:
        nonlocal failures
        while (now := time.perf_counter()) < until:
            try:
                size = await send()
            except (aiohttp.ClientError, OSError):
                size = -1
            if now >= counting_from:
                latencies.append(time.perf_counter() - now)
                failures += size < spec["min_answer_bytes"]

    try:
        await asyncio.gather(*(caller() for _ in range(spec["clients"])))
    finally:
        await close()
    elapsed = time.perf_counter() - counting_from
    times = np.array(latencies or [float("nan")]) * 1e6
    return {
        "requests": len(latencies),
        "failures": failures,
        "duration_us": elapsed * 1e6,
        "p50_us": float(np.percentile(times, 50)),
        "p99_us": float(np.percentile(times, 99)),
        "mean_us": float(times.mean()),
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    result = uvloop.run(run(spec))
    sys.stdout.write(MARKER + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
