"""The markdown of ``make bench-peers``: every server x setting x load, then ours against the best.

Pure functions of what a run measured (``Row``: one server at one setting, a ``Stats`` per round
and client count), so the tables and their ratios are tested without starting anything.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks.stats import Stats

OURS = "this gateway"
GATEWAY = "defaults, through the gateway"
IN_PROCESS = "in_process: true, through the gateway"
RUNTIME = "its runtime alone (no gateway)"
PEER_TARGET = 1.10  # ours / the best peer's best setting at each load
LIMIT_TARGET = 0.85  # ours at 1 client / the single-request limit


@dataclass
class Row:
    """One server at one setting: a ``Stats`` per round for each client count."""

    server: str
    setting: str
    ours: bool = False
    reference: bool = False  # a plain app (not a model server): compared apart from the peers
    runs: dict[int, list[Stats]] = field(default_factory=dict)
    failure: str = ""  # why it could not be measured, if it could not

    @property
    def name(self) -> str:
        return f"{self.server}, {self.setting}"

    def add(self, clients: int, stats: Stats) -> None:
        self.runs.setdefault(clients, []).append(stats)

    def rps(self, clients: int) -> float:
        """Median images/s over the rounds (NaN when never measured)."""
        runs = self.runs.get(clients)
        return statistics.median(s.rps for s in runs) if runs else math.nan

    def p50_ms(self, clients: int) -> float:
        runs = self.runs.get(clients)
        return statistics.median(s.p50_ms for s in runs) if runs else math.nan

    def errors(self) -> int:
        return sum(s.failures for runs in self.runs.values() for s in runs)


@dataclass(frozen=True)
class Limit:
    """The single-request limit measured in the same run (``benchmarks.limit``, medians)."""

    decode_ms: float
    ort_ms: float

    @property
    def rps(self) -> float:
        return 1000 / (self.decode_ms + self.ort_ms)


def find(rows: Sequence[Row], setting: str) -> Row | None:
    return next((r for r in rows if r.ours and r.setting == setting), None)


def best_peer(rows: Sequence[Row], clients: int, *, reference: bool = False) -> Row | None:
    """The peer setting with the most images/s at ``clients`` (None if no peer was measured);
    ``reference``: among the plain reference apps instead of the model servers."""
    measured = [
        r
        for r in rows
        if not r.ours and r.reference == reference and not math.isnan(r.rps(clients))
    ]
    return max(measured, key=lambda r: r.rps(clients), default=None)


def ratio_verdict(ratio: float, target: float) -> str:
    if math.isnan(ratio):
        return "-"
    return "PASS" if ratio >= target else f"MISS by {target - ratio:.2f}x"


def points(value: float) -> str:
    shown = f"{value:.0f}"
    return f"{shown} point" if shown == "1" else f"{shown} points"


def all_rows_table(rows: Sequence[Row], clients: Sequence[int]) -> list[str]:
    """Images/s (p50 ms) of every server x setting at every load; the best of each column bold."""
    head = " | ".join(f"{c} client{'s' if c > 1 else ''}" for c in clients)
    lines = [
        f"| server | setting | {head} | errors |",
        "| --- | --- |" + " ---: |" * len(clients) + " ---: |",
    ]
    best = {c: max((r.rps(c) for r in rows if r.runs.get(c)), default=math.nan) for c in clients}
    for row in rows:
        failed = f"failed: {row.failure}".replace("|", "\\|") if row.failure else ""
        if failed and not row.runs:
            cells = " | ".join("-" for _ in clients)
            lines.append(f"| {row.server} | {row.setting} | {cells} | {failed} |")
            continue
        shown = []
        for c in clients:
            rps = row.rps(c)
            cell = "-" if math.isnan(rps) else f"{rps:.1f} ({row.p50_ms(c):.1f} ms)"
            shown.append(f"**{cell}**" if rps == best[c] else cell)
        errors = f"{row.errors()}; then {failed}" if failed else f"{row.errors()}"
        lines.append(f"| {row.server} | {row.setting} | {' | '.join(shown)} | {errors} |")
    return lines


def headline_table(rows: Sequence[Row], clients: Sequence[int]) -> list[str]:
    """Per load: the best peer's best setting against the gateway (and the in-process variant),
    then the best plain reference app (no model server) against the gateway."""
    gateway, in_process = find(rows, GATEWAY), find(rows, IN_PROCESS)
    lines = [
        "| clients | best peer at this load (its setting) | img/s | this gateway img/s | ratio "
        "| verdict | in process img/s | ratio | verdict | plain reference img/s | gateway / it |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in clients:
        peer = best_peer(rows, c)
        peer_rps = peer.rps(c) if peer else math.nan
        cells = [f"{c}", peer.name if peer else "(no peer measured)", f"{peer_rps:.1f}"]
        for ours in (gateway, in_process):
            rps = ours.rps(c) if ours else math.nan
            ratio = rps / peer_rps
            cells += [f"{rps:.1f}", f"{ratio:.2f}x", ratio_verdict(ratio, PEER_TARGET)]
        plain = best_peer(rows, c, reference=True)
        plain_rps = plain.rps(c) if plain else math.nan
        gateway_rps = gateway.rps(c) if gateway else math.nan
        cells += [f"{plain_rps:.1f}", f"{gateway_rps / plain_rps:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def limit_table(rows: Sequence[Row], limit: Limit) -> list[str]:
    """Ours at 1 client as a share of what one request at a time can do on this machine."""
    lines = [
        "| ours at 1 client | img/s | single-request limit img/s | share | target | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for setting in (GATEWAY, IN_PROCESS, RUNTIME):
        row = find(rows, setting)
        if row is None:
            continue
        rps = row.rps(1)
        share = rps / limit.rps
        verdict = (
            "-"
            if math.isnan(share)
            else "PASS"
            if share >= LIMIT_TARGET
            else f"MISS by {points(100 * (LIMIT_TARGET - share))}"
        )
        lines.append(
            f"| {setting} | {rps:.1f} | {limit.rps:.1f} | {100 * share:.0f} % "
            f"| ≥ {100 * LIMIT_TARGET:.0f} % | {verdict} |"
        )
    return lines


def markdown(
    rows: Sequence[Row], clients: Sequence[int], limit: Limit, notes: Sequence[str]
) -> str:
    """The whole report: the headline first, then every row, then how it was made."""
    lines = [
        f"Ours against the best peer's best setting at each load (target ≥ {PEER_TARGET:.2f}x):",
        "",
        *headline_table(rows, clients),
        "",
        f"Single-request limit, same run: decode {limit.decode_ms:.2f} ms + one ONNX Runtime "
        f"call on every core {limit.ort_ms:.2f} ms = {limit.rps:.1f} img/s one at a time.",
        "",
        *limit_table(rows, limit),
        "",
        "Every server x setting, images/s (p50 latency); the best of each column in bold:",
        "",
        *all_rows_table(rows, clients),
        "",
        *notes,
    ]
    return "\n".join(lines) + "\n"
