"""The bench-peers report: medians of the rounds, the best peer per load, ratios and verdicts."""

from __future__ import annotations

from benchmarks.peers.report import (
    GATEWAY,
    IN_PROCESS,
    OURS,
    RUNTIME,
    Limit,
    Row,
    all_rows_table,
    headline_table,
    limit_table,
)
from benchmarks.stats import Stats


def stats(rps: float, p50_ms: float = 10.0, failures: int = 0) -> Stats:
    return Stats(1000, failures, rps, p50_ms=p50_ms, p99_ms=20.0, mean_ms=11.0)


def row(
    server: str,
    setting: str,
    by_clients: dict[int, list[float]],
    ours: bool = False,
    reference: bool = False,
) -> Row:
    measured = Row(server, setting, ours=ours, reference=reference)
    for clients, values in by_clients.items():
        for rps in values:
            measured.add(clients, stats(rps))
    return measured


def rows() -> list[Row]:
    return [
        row(OURS, GATEWAY, {1: [99.0, 101.0, 150.0], 4: [160.0]}, ours=True),
        row(OURS, IN_PROCESS, {1: [120.0], 4: [170.0]}, ours=True),
        row(OURS, RUNTIME, {1: [130.0], 4: [175.0]}, ours=True),
        row("KServe 0.21", "ORT 2 intra-op threads", {1: [110.0], 4: [90.0]}),
        row("KServe 0.21", "thread pool", {1: [80.0], 4: [140.0]}),
    ]


def test_the_headline_puts_each_load_against_the_best_peer_setting_at_that_load() -> None:
    plain = row("plain Starlette", "thread pool", {1: [202.0], 4: [200.0]}, reference=True)
    one, four = headline_table([*rows(), plain], [1, 4])[2:]
    # the gateway's median of three rounds is 101: 101 / 110 = 0.92x, 0.18x short of 1.10x;
    # the plain reference app, faster than every peer, is compared apart (101 / 202 = 0.50x)
    assert one == (
        "| 1 | KServe 0.21, ORT 2 intra-op threads | 110.0 | 101.0 | 0.92x | MISS by 0.18x "
        "| 120.0 | 1.09x | MISS by 0.01x | 202.0 | 0.50x |"
    )
    assert four == (
        "| 4 | KServe 0.21, thread pool | 140.0 | 160.0 | 1.14x | PASS | 170.0 | 1.21x | PASS "
        "| 200.0 | 0.80x |"
    )


def test_ours_at_one_client_is_a_share_of_the_single_request_limit() -> None:
    limit = Limit(decode_ms=1.0, ort_ms=7.0)  # 125 images/s one at a time
    gateway, in_process, runtime = limit_table(rows(), limit)[2:]
    assert gateway == (
        "| defaults, through the gateway | 101.0 | 125.0 | 81 % | ≥ 85 % | MISS by 4 points |"
    )
    assert in_process.endswith("| 120.0 | 125.0 | 96 % | ≥ 85 % | PASS |")
    assert runtime.endswith("| 130.0 | 125.0 | 104 % | ≥ 85 % | PASS |")


def test_the_full_table_bolds_the_best_of_each_load_and_names_failures() -> None:
    failed = Row("Ray Serve 2.60", "defaults", failure="not ready after 180 s")
    measured = [*rows(), failed]
    measured[3].add(1, stats(120.0, failures=2))  # KServe 2 threads: median of 110 and 120
    measured[4].failure = "exited | in round 2"  # measured once, then failed
    table = all_rows_table(measured, [1, 4])
    assert table[0] == "| server | setting | 1 client | 4 clients | errors |"
    assert table[5] == (
        "| KServe 0.21 | ORT 2 intra-op threads | 115.0 (10.0 ms) | 90.0 (10.0 ms) | 2 |"
    )
    assert table[4] == (
        "| this gateway | its runtime alone (no gateway) | **130.0 (10.0 ms)** "
        "| **175.0 (10.0 ms)** | 0 |"
    )
    assert table[6] == (
        "| KServe 0.21 | thread pool | 80.0 (10.0 ms) | 140.0 (10.0 ms) "
        "| 0; then failed: exited \\| in round 2 |"
    )
    assert table[-1] == "| Ray Serve 2.60 | defaults | - | - | failed: not ready after 180 s |"
