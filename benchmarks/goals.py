"""The targets of issue 5 (item 5) and the ratios of a run checked against them.

Each ``Check`` is one measured ratio or value next to its goal, with PASS/MISS. Throughput
"must never cost" checks allow ``NOISE`` (5 %): two runs of the same thing differ by that much on a
shared 2-core host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from benchmarks.results import (
    BATCHING_OFF,
    DIRECT,
    ECHO_DIRECT,
    ECHO_GATEWAY,
    GATEWAY,
    RunResults,
)

ADDED_P50_MS = 0.5
ADDED_P99_MS = 2.0
FORWARDING_RATIO = 0.5
ORT_RATIO = 0.9
ORT_RATIO_USERS = 16
GATEWAY_IDLE_RSS_MB = 80.0
NOISE = 0.05
# Images/s at 16 clients measured on this machine (ENVIRONMENT.md; not this run): for reference.
PEERS_AT_16 = {
    "KServe 0.21": 81,
    "MLServer 1.7.1": 84,
    "MLServer + batching": 92,
    "BentoML 1.4": 71,
    "BentoML + batching": 77,
    "Starlette + thread pool": 166,
}


@dataclass(frozen=True)
class Check:
    """One measured value against its goal."""

    section: str
    what: str
    measured: float
    text: str  # the measured value, formatted
    goal: str
    passed: bool | None  # None: not measured

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else ("PASS" if self.passed else "MISS")


def _check(section: str, what: str, value: float, fmt: str, goal: str, ok: bool) -> Check:
    if math.isnan(value):
        return Check(section, what, value, "n/a", goal, None)
    return Check(section, what, value, fmt.format(value), goal, ok)


def gateway_checks(results: RunResults, model: str) -> list[Check]:
    """(a) added p50/p99 at every user count measured on both targets."""
    out = []
    for users in results.users(model, GATEWAY):
        direct, gateway = results.stats(model, DIRECT, users), results.stats(model, GATEWAY, users)
        if direct is None or gateway is None:
            continue
        p50, p99 = gateway.p50_ms - direct.p50_ms, gateway.p99_ms - direct.p99_ms
        where = f"{model}, {users} client(s)"
        out.append(
            _check("a", f"added p50, {where}", p50, "{:+.2f} ms", "≤ 0.5 ms", p50 <= ADDED_P50_MS)
        )
        out.append(
            _check("a", f"added p99, {where}", p99, "{:+.2f} ms", "≤ 2 ms", p99 <= ADDED_P99_MS)
        )
    return out


def forwarding_checks(results: RunResults) -> list[Check]:
    """(b) echo through the gateway / echo alone, req/s."""
    out = []
    for users in results.users("echo", ECHO_GATEWAY):
        bare, via = (
            results.stats("echo", ECHO_DIRECT, users),
            results.stats("echo", ECHO_GATEWAY, users),
        )
        if bare is None or via is None:
            continue
        ratio = via.rps / bare.rps
        out.append(
            _check(
                "b",
                f"forwarding req/s vs bare echo, {users} clients",
                ratio,
                "{:.2f}x",
                "≥ 0.50x",
                ratio >= FORWARDING_RATIO,
            )
        )
    return out


def batching_checks(results: RunResults, model: str = "imagenet") -> list[Check]:
    """(c) batching on / off: throughput gain and p99 ratio (it must never cost either)."""
    out = []
    for users in results.users(model, BATCHING_OFF):
        on, off = results.stats(model, DIRECT, users), results.stats(model, BATCHING_OFF, users)
        if on is None or off is None:
            continue
        gain, p99 = on.rps / off.rps, on.p99_ms / off.p99_ms
        out.append(
            _check(
                "c",
                f"batching img/s gain, {users} client(s)",
                gain,
                "{:.2f}x",
                "≥ 1.00x (-5 % noise)",
                gain >= 1 - NOISE,
            )
        )
        out.append(
            _check(
                "c",
                f"batching p99 on/off, {users} client(s)",
                p99,
                "{:.2f}x",
                "≤ 1.00x (+5 % noise)",
                p99 <= 1 + NOISE,
            )
        )
    return out


def cold_start_checks(results: RunResults) -> list[Check]:
    """(d) median seconds from process start to the first answer."""
    return [
        _check(
            "d",
            f"cold start, {c.what}",
            c.median_s,
            "{:.2f} s",
            f"≤ {c.target_s:g} s",
            c.median_s <= c.target_s,
        )
        for c in results.cold_starts
    ]


def memory_checks(results: RunResults) -> list[Check]:
    """(e) the gateway's own RSS when idle."""
    idle = results.rss_mb.get("gateway", {}).get("idle", math.nan)
    return [
        _check("e", "gateway idle RSS", idle, "{:.0f} MiB", "≤ 80 MB", idle <= GATEWAY_IDLE_RSS_MB)
    ]


def ort_checks(results: RunResults) -> list[Check]:
    """(f) imagenet end to end at 16 clients through the gateway / ONNX Runtime alone, best."""
    gateway = results.stats("imagenet", GATEWAY, ORT_RATIO_USERS)
    best = max(results.ort_alone.values(), default=math.nan)
    ratio = gateway.rps / best if gateway is not None and best > 0 else math.nan
    return [
        _check(
            "f",
            f"imagenet via gateway at {ORT_RATIO_USERS} clients / ORT alone best",
            ratio,
            "{:.2f}x",
            "≥ 0.90x",
            ratio >= ORT_RATIO,
        )
    ]


def all_checks(results: RunResults) -> list[Check]:
    """Every check of a run, in section order."""
    return [
        *gateway_checks(results, "digits"),
        *gateway_checks(results, "imagenet"),
        *forwarding_checks(results),
        *batching_checks(results),
        *cold_start_checks(results),
        *memory_checks(results),
        *ort_checks(results),
    ]
