"""The run as a markdown report (one section per measurement) and as a JSON document.

Every measured ratio sits next to its goal from issue 5 with PASS/MISS (see ``goals``); a short
list of the missed targets opens the report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import goals
from benchmarks.goals import Check
from benchmarks.protocols import protocol_table
from benchmarks.results import (
    BATCHING_OFF,
    DIRECT,
    ECHO_DIRECT,
    ECHO_GATEWAY,
    GATEWAY,
    RunResults,
)


def markdown(results: RunResults, notes: Sequence[str] = ()) -> str:
    """The whole report."""
    checks = {c.what: c for c in goals.all_checks(results)}
    missed = [c for c in checks.values() if c.passed is False]
    lines = ["## Targets missed", ""]
    lines += [f"- ({c.section}) {c.what}: {c.text}, goal {c.goal}" for c in missed] or ["- none"]
    for section in (_gateway, _forwarding, _batching, _cold_start, _memory, _ort_alone):
        lines += ["", *section(results, checks)]
    if results.protocols:
        lines += ["", *protocol_table(results.protocols)]
    lines += ["", *notes]
    return "\n".join(lines).rstrip() + "\n"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    align = ["---" if i == 0 else "---:" for i in range(len(header))]
    return [f"| {' | '.join(r)} |" for r in (header, align, *rows)]


def _verdict(checks: Mapping[str, Check], what: str) -> list[str]:
    c = checks.get(what)
    return [c.text, c.goal, c.verdict] if c else ["-", "-", "-"]


def _gateway(results: RunResults, checks: Mapping[str, Check]) -> list[str]:
    rows = []
    for model in ("digits", "imagenet"):
        for users in results.users(model, GATEWAY):
            d, g = results.stats(model, DIRECT, users), results.stats(model, GATEWAY, users)
            if d is None or g is None:
                continue
            where = f"{model}, {users} client(s)"
            rows.append(
                [
                    model,
                    str(users),
                    f"{d.rps:.0f}",
                    f"{g.rps:.0f}",
                    f"{g.rps / d.rps:.2f}x",
                    f"{d.p50_ms:.2f} → {g.p50_ms:.2f}",
                    *_verdict(checks, f"added p50, {where}"),
                    f"{d.p99_ms:.2f} → {g.p99_ms:.2f}",
                    *_verdict(checks, f"added p99, {where}"),
                    f"{d.failures + g.failures}",
                ]
            )
    header = [
        "model",
        "clients",
        "direct req/s",
        "gateway req/s",
        "ratio",
        "p50 ms direct → gw",
        "added p50",
        "target",
        "verdict",
        "p99 ms direct → gw",
        "added p99",
        "target",
        "verdict",
        "errors",
    ]
    return ["## (a) Gateway vs the runtime called directly", "", *_table(header, rows)]


def _forwarding(results: RunResults, checks: Mapping[str, Check]) -> list[str]:
    rows = []
    for users in results.users("echo", ECHO_GATEWAY):
        b, v = results.stats("echo", ECHO_DIRECT, users), results.stats("echo", ECHO_GATEWAY, users)
        if b is None or v is None:
            continue
        rows.append(
            [
                str(users),
                f"{b.rps:,.0f}",
                f"{v.rps:,.0f}",
                *_verdict(checks, f"forwarding req/s vs bare echo, {users} clients"),
                f"{b.p50_ms:.2f} → {v.p50_ms:.2f}",
                f"{b.p99_ms:.2f} → {v.p99_ms:.2f}",
                f"{b.failures + v.failures}",
            ]
        )
    header = [
        "clients",
        "echo req/s",
        "via gateway req/s",
        "ratio",
        "target",
        "verdict",
        "p50 ms echo → gw",
        "p99 ms echo → gw",
        "errors",
    ]
    return ["## (b) Forwarding to a trivial echo upstream (wrk)", "", *_table(header, rows)]


def _batching(results: RunResults, checks: Mapping[str, Check]) -> list[str]:
    rows = []
    for users in results.users("imagenet", BATCHING_OFF):
        on = results.stats("imagenet", DIRECT, users)
        off = results.stats("imagenet", BATCHING_OFF, users)
        if on is None or off is None:
            continue
        rows.append(
            [
                str(users),
                f"{on.rps:.1f}",
                f"{off.rps:.1f}",
                *_verdict(checks, f"batching img/s gain, {users} client(s)"),
                f"{on.p99_ms:.1f} / {off.p99_ms:.1f}",
                *_verdict(checks, f"batching p99 on/off, {users} client(s)"),
            ]
        )
    header = [
        "clients",
        "on img/s",
        "off img/s",
        "gain",
        "target",
        "verdict",
        "p99 ms on / off",
        "ratio",
        "target",
        "verdict",
    ]
    title = "## (c) Batching on vs off (imagenet, runtime called directly)"
    return [title, "", *_table(header, rows)]


def _cold_start(results: RunResults, checks: Mapping[str, Check]) -> list[str]:
    rows = [
        [
            c.what,
            " ".join(f"{t:.2f}" for t in c.runs_s),
            *_verdict(checks, f"cold start, {c.what}"),
        ]
        for c in results.cold_starts
    ]
    header = ["from zero to the first 200 on /predict", "runs (s)", "median", "target", "verdict"]
    return ["## (d) Cold start", "", *_table(header, rows)]


def _memory(results: RunResults, checks: Mapping[str, Check]) -> list[str]:
    rows = []
    for process, phases in results.rss_mb.items():
        verdict = _verdict(checks, "gateway idle RSS")[1:] if process == "gateway" else ["", ""]
        rows.append([process, _mb(phases.get("idle")), _mb(phases.get("after load")), *verdict])
    header = ["process", "idle MiB", "after load MiB", "target (idle)", "verdict"]
    return ["## (e) Resident memory (RSS)", "", *_table(header, rows)]


def _mb(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.0f}"


def _ort_alone(results: RunResults, checks: Mapping[str, Check]) -> list[str]:
    users = goals.ORT_RATIO_USERS
    rows = [[setup, f"{rate:.1f}", "", "", ""] for setup, rate in results.ort_alone.items()]
    served = results.stats("imagenet", GATEWAY, users)
    if served is not None:
        what = f"imagenet via gateway at {users} clients / ORT alone best"
        c = checks[what]
        rows.append(
            [
                f"end to end via the gateway, {users} clients",
                f"{served.rps:.1f}",
                c.text,
                c.goal,
                c.verdict,
            ]
        )
    peers = ", ".join(f"{name} {rate}" for name, rate in goals.PEERS_AT_16.items())
    return [
        "## (f) ONNX Runtime alone, in-process (EfficientNet-Lite0, preprocessed flower)",
        "",
        *_table(["set-up", "images/s", "served / ORT best", "target", "verdict"], rows),
        "",
        f"For reference, peers at 16 clients on this machine (images/s, other runs): {peers}.",
    ]


def to_json(results: RunResults) -> dict[str, Any]:
    """The run as a JSON-ready document: metadata, raw measurements, checks."""
    return {
        "meta": results.meta,
        "load": [
            {"model": p.model, "target": p.target, "users": p.users, **asdict(p.stats)}
            for p in results.points
        ],
        "cold_starts": [
            {"what": c.what, "runs_s": list(c.runs_s), "median_s": c.median_s}
            for c in results.cold_starts
        ],
        "rss_mb": results.rss_mb,
        "ort_alone_images_per_s": results.ort_alone,
        "protocols": [
            {**{k: v for k, v in asdict(p).items() if k != "stats"}, **asdict(p.stats)}
            for p in results.protocols
        ],
        "checks": [{**asdict(c), "verdict": c.verdict} for c in goals.all_checks(results)],
    }


def write(directory: Path, table: str, document: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write ``latest.md`` and ``latest.json`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    md_path, json_path = directory / "latest.md", directory / "latest.json"
    md_path.write_text(table, encoding="utf-8")
    text = json.dumps(_finite(document), indent=2, allow_nan=False, default=str)
    json_path.write_text(text + "\n", encoding="utf-8")
    return md_path, json_path


def _finite(value: Any) -> Any:
    """NaN and infinities (an empty run's percentiles) become JSON null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
