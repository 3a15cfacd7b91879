"""The suite of issue 5 in one run: ORT alone, cold starts, then every target under load.

Order matters on a shared 2-core host: ONNX Runtime alone and the cold starts run first, with
nothing else started; then every target starts at once, idle RSS is read, each target is warmed
up, and the load points run interleaved by client count (direct, then gateway, then batching off,
for the same count back to back), so each ratio compares runs made seconds apart.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import memory
from benchmarks.coldstart import ColdStart, measure_cold_start
from benchmarks.payloads import PAYLOADS, Payload
from benchmarks.processes import Child, ProcessGroup, run_json_child, wait_ready
from benchmarks.protocols import measure_protocols
from benchmarks.results import (
    BATCHING_OFF,
    DIRECT,
    ECHO_DIRECT,
    ECHO_GATEWAY,
    GATEWAY,
    LoadPoint,
    RunResults,
)
from benchmarks.stats import Stats
from benchmarks.targets import (
    BATCHING_OFF_ENV,
    Target,
    service_file,
    start_echo,
    start_echo_gateway,
    start_gateway,
    start_runtime,
)
from benchmarks.wrk import run_wrk

ECHO_PAYLOAD = Payload(b'{"inputs": [1, 2, 3]}', "application/json")
Log = Callable[[str], None]
Key = tuple[str, str]  # (model, target)


@dataclass(frozen=True)
class Plan:
    """What to measure and for how long."""

    users: dict[Key, list[int]]
    duration_s: float
    warmup_s: float
    cold_runs: int
    ort_seconds: float
    protocol_clients: tuple[int, ...] = (1, 16)
    protocol_seconds: float = 5.0


def make_plan(quick: bool, duration: float | None = None, warmup: float | None = None) -> Plan:
    """The full suite, or ``quick`` (fewer client counts, shorter runs: under 2 minutes)."""
    digits, imagenet, batching = ([1, 32], [1, 16], [1, 16]) if quick else (
        [1, 8, 32], [1, 8, 16, 32], [1, 16, 32]
    )  # fmt: skip
    users = {
        ("digits", DIRECT): digits,
        ("digits", GATEWAY): digits,
        ("imagenet", DIRECT): sorted({*imagenet, *batching}),
        ("imagenet", GATEWAY): imagenet,
        ("imagenet", BATCHING_OFF): batching,
        ("echo", ECHO_DIRECT): [32],
        ("echo", ECHO_GATEWAY): [32],
    }
    return Plan(
        users=users,
        duration_s=duration or (3.0 if quick else 10.0),
        warmup_s=warmup if warmup is not None else (1.0 if quick else 3.0),
        cold_runs=3 if quick else 5,
        ort_seconds=2.0 if quick else 5.0,
        protocol_clients=(1,) if quick else (1, 16),
        protocol_seconds=2.0 if quick else 5.0,
    )


def run_suite(plan: Plan, group: ProcessGroup, work: Path, raw: Path, log: Log) -> RunResults:
    """Measure everything in ``plan``; every process started goes into ``group``."""
    results = RunResults()
    log("ONNX Runtime alone, in-process")
    results.ort_alone = ort_alone(group, plan.ort_seconds, work)
    log("cold starts")
    results.cold_starts = cold_starts(group, plan.cold_runs, work)
    targets, children = start_targets(group, work)
    wait_ready({t.ready_url: children[k] for k, t in targets.items()}, 180)
    results.rss_mb = {name: {"idle": mb} for name, mb in rss(children).items()}
    for key, target in targets.items():
        log(f"warm-up {key[0]} {key[1]}")
        _load(group, target, key, max(plan.users[key]), plan.warmup_s, raw / "warmup")
    for users in sorted({u for us in plan.users.values() for u in us}):
        for key, target in targets.items():
            if users in plan.users[key]:
                log(f"{key[0]} {key[1]}: {users} client(s) for {plan.duration_s:.0f} s")
                stats = _load(group, target, key, users, plan.duration_s, raw)
                results.points.append(LoadPoint(key[0], key[1], users, stats))
    for name, mb in rss(children).items():
        results.rss_mb.setdefault(name, {})["after load"] = mb
    for child in children.values():  # the protocols section starts its own processes
        group.stop(child)
    results.protocols = measure_protocols(
        group, work, plan.protocol_clients, plan.protocol_seconds, min(plan.warmup_s, 1.0), log
    )
    return results


def _load(
    group: ProcessGroup, target: Target, key: Key, users: int, seconds: float, raw: Path
) -> Stats:
    payload = ECHO_PAYLOAD if key[0] == "echo" else PAYLOADS[key[0]]()
    prefix = raw / f"{key[0]}-{key[1].replace(' ', '-')}-u{users}"
    return run_wrk(group, target.predict_url, payload, users, seconds, prefix)


def ort_alone(group: ProcessGroup, seconds: float, work: Path) -> dict[str, float]:
    """Images/s of ONNX Runtime alone, measured in a child process with nothing else running."""
    argv = [sys.executable, "-m", "benchmarks.ort_alone", "--seconds", str(seconds)]
    return run_json_child(group, "ORT alone", argv, work / "ort-alone.log", seconds * 3 + 120)


def cold_starts(group: ProcessGroup, runs: int, work: Path) -> list[ColdStart]:
    """Runtime alone (imagenet, digits) and ``gateway serve`` with imagenet, each ``runs`` times."""
    out = []
    for model in ("imagenet", "digits"):

        def runtime(index: int, model: str = model) -> tuple[str, Child]:
            target, child = start_runtime(group, model, work, name=f"cold{index}")
            return target.predict_url, child

        out.append(
            measure_cold_start(group, f"runtime {model}", runtime, PAYLOADS[model](), runs, 60)
        )

    def gateway(index: int) -> tuple[str, Child]:
        files = [service_file("imagenet")]
        env = {"GATEWAY_CACHE_DIR": str(work / "cache")}  # the runtimes' cache: built by now
        url, child = start_gateway(group, files, work, f"cold-gateway{index}", env=env)
        return f"{url}/predict/imagenet", child

    imagenet = PAYLOADS["imagenet"]()
    out.append(measure_cold_start(group, "gateway serve + imagenet", gateway, imagenet, runs, 60))
    return out


def start_targets(group: ProcessGroup, work: Path) -> tuple[dict[Key, Target], dict[Key, Child]]:
    """Start every process under load at once: runtimes, gateway, echo and its gateway."""
    targets: dict[Key, Target] = {}
    children: dict[Key, Child] = {}
    for model in ("digits", "imagenet"):
        targets[model, DIRECT], children[model, DIRECT] = start_runtime(group, model, work)
    targets["imagenet", BATCHING_OFF], children["imagenet", BATCHING_OFF] = start_runtime(
        group, "imagenet", work, name="nobatch", overrides=BATCHING_OFF_ENV
    )
    files = [service_file(m) for m in ("digits", "imagenet")]
    url, gateway = start_gateway(group, files, work)
    for model in ("digits", "imagenet"):
        targets[model, GATEWAY] = Target(GATEWAY, url, f"/predict/{model}")
        children[model, GATEWAY] = gateway
    echo, children["echo", ECHO_DIRECT] = start_echo(group, work)
    targets["echo", ECHO_DIRECT] = echo
    targets["echo", ECHO_GATEWAY], children["echo", ECHO_GATEWAY] = start_echo_gateway(
        group, echo, work
    )
    return targets, children


def rss(children: dict[Key, Child]) -> dict[str, float]:
    """RSS in MiB of each started process (once each) and of the gateway's runtimes."""
    names = {
        ("digits", DIRECT): "runtime digits (direct)",
        ("imagenet", DIRECT): "runtime imagenet (direct)",
        ("imagenet", BATCHING_OFF): "runtime imagenet (batching off)",
        ("imagenet", GATEWAY): "gateway",
        ("echo", ECHO_DIRECT): "echo upstream",
        ("echo", ECHO_GATEWAY): "gateway (echo launcher)",
    }
    out = {name: memory.rss_mb(children[key].popen.pid) for key, name in names.items()}
    gateway_pid = children["imagenet", GATEWAY].popen.pid
    for name, mb in sorted(memory.children_rss_mb(gateway_pid).items()):
        out[f"gateway's {name}"] = mb
    return out
