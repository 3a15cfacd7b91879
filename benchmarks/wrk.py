"""Raw throughput with wrk: one closed-loop run against a URL, read back as ``Stats``.

wrk (C, one thread) costs far less CPU than locust, so on a 2-core host it disturbs the
measured processes less and reaches 20k+ req/s. ``wrk_post.lua`` makes it POST a body file and
print exact counts and microsecond percentiles as one ``WRK_JSON`` line when it is done; given
``expect``, it checks every answer (status 200 and that text in the body) and counts the others.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
from pathlib import Path

from benchmarks.payloads import Payload
from benchmarks.processes import BenchmarkError, ProcessGroup
from benchmarks.stats import Stats

SCRIPT = Path(__file__).with_name("wrk_post.lua")
MARKER = "WRK_JSON "


def wrk_binary() -> str:
    """The wrk executable; a clear error when it is missing."""
    path = shutil.which("wrk")
    if path is None:
        raise BenchmarkError("wrk is not installed (apt-get install -y wrk)")
    return path


def run_wrk(
    group: ProcessGroup,
    url: str,
    payload: Payload | None,
    connections: int,
    seconds: float,
    prefix: Path,
    expect: str = "",
) -> Stats:
    """``connections`` clients back to back on ``url`` for ``seconds``; GET when no payload.

    With ``expect``, an answer that is not a 200 containing that text counts as a failure."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    env = {"WRK_BODY_FILE": "", "WRK_CONTENT_TYPE": "", "WRK_EXPECT": expect}
    if payload is not None:
        body = prefix.parent / f"{hashlib.sha1(payload.body).hexdigest()[:12]}.body"
        if not body.is_file():
            body.write_bytes(payload.body)
        env |= {"WRK_BODY_FILE": str(body), "WRK_CONTENT_TYPE": payload.content_type}
    argv = [
        wrk_binary(), "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "30s", "--latency", "-s", str(SCRIPT), url,
    ]  # fmt: skip
    child = group.start(f"wrk {url}", argv, env, prefix.with_suffix(".log"))
    try:
        child.popen.wait(seconds + 60)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"wrk did not finish:\n{child.log_tail()}") from None
    finally:
        group.stop(child)
    return parse_wrk(child.log_path.read_text(encoding="utf-8", errors="replace"))


def parse_wrk(output: str) -> Stats:
    """The ``WRK_JSON`` line of a run as ``Stats`` (every error kind counts as a failure, and so
    does every answer the script found unexpected)."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            break
    else:
        raise BenchmarkError(f"wrk printed no result:\n{output[-2000:]}")
    kinds = ("connect", "read", "write", "status", "timeout", "unexpected")
    failures = sum(int(data.get(k, 0)) for k in kinds)
    seconds = float(data["duration_us"]) / 1e6
    requests = int(data["requests"])
    return Stats(
        requests=requests,
        failures=failures,
        rps=requests / seconds if seconds > 0 else math.nan,
        p50_ms=float(data["p50_us"]) / 1000,
        p99_ms=float(data["p99_us"]) / 1000,
        mean_ms=float(data["mean_us"]) / 1000,
    )
