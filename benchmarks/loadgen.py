"""Load on a target: a short warm-up from this process, then a headless locust run per data point.

Locust runs as a subprocess (``benchmarks/locustfile.py``); its final ``--json-file`` becomes a
``Stats``, and its CSVs (the per-second history included) stay in the raw results folder.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from benchmarks.payloads import PAYLOADS, REPO_ROOT, Payload
from benchmarks.processes import BenchmarkError, ProcessGroup
from benchmarks.stats import Stats, read_stats
from benchmarks.targets import Target

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def warm_up(target: Target, model: str, users: int, seconds: float, timeout: float = 60.0) -> int:
    """Send requests until one succeeds, then ``users`` at a time for ``seconds``.

    Returns how many warm-up requests succeeded; raises if none did.
    """
    payload = PAYLOADS[model]()
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=30.0) as client:
        while _post(client, target, payload) != 200:
            if time.monotonic() > deadline:
                raise BenchmarkError(f"{target.name}: no 200 from {target.predict_url}")
            time.sleep(0.2)
    stop_at = time.monotonic() + seconds

    def loop() -> int:
        ok = 0
        with httpx.Client(timeout=30.0) as client:
            while time.monotonic() < stop_at:
                ok += _post(client, target, payload) == 200
        return ok

    with ThreadPoolExecutor(max_workers=users) as pool:
        return 1 + sum(pool.map(lambda _: loop(), range(users)))


def _post(client: httpx.Client, target: Target, payload: Payload) -> int:
    try:
        response = client.post(
            target.predict_url,
            content=payload.body,
            headers={"Content-Type": payload.content_type},
        )
    except httpx.HTTPError:
        return 0
    return response.status_code


def run_locust(
    group: ProcessGroup,
    target: Target,
    model: str,
    users: int,
    seconds: int,
    prefix: Path,
) -> Stats:
    """Run locust headless against ``target`` and return its aggregated stats."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "-u", str(users),
        "-r", str(users),
        "-t", f"{seconds}s",
        "--host", target.base_url,
        "--csv", str(prefix),
        "--json-file", str(prefix),  # locust adds ".json"
        "--only-summary",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {"BENCH_MODEL": model, "BENCH_PATH": target.path, "PYTHONPATH": str(REPO_ROOT)}
    child = group.start(f"locust {target.name}", argv, env, prefix.with_suffix(".log"))
    try:
        child.popen.wait(seconds + 60)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"locust did not finish:\n{child.log_tail()}") from None
    finally:
        group.stop(child)
    stats_json = prefix.with_name(prefix.name + ".json")
    if not stats_json.is_file():
        raise BenchmarkError(f"locust wrote no {stats_json.name}:\n{child.log_tail()}")
    return read_stats(stats_json)
