"""One run of ``make bench-peers``: each server started alone, checked, loaded, stopped.

A contender is one server at one setting: this gateway (defaults, and the service in process),
its runtime alone, and every peer setting. Only one runs at a time (each is stopped, its whole
process group, before the next starts, so an idle server takes no CPU from the measured one). A
contender is started, waited for, asked once (200 and the expected label, or it is not
measured), warmed up, then loaded by wrk at each client count, every answer checked. Rounds
measure every contender, in reverse order every other round, so drift in the machine's load
favours no one; the single-request limit is measured at the start of each round.
"""

from __future__ import annotations

import functools
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.loads import in_process_file, single_limit
from benchmarks.payloads import EXPECTED, Payload
from benchmarks.peers.catalog import REPO_ROOT, Peer, Request, Setting
from benchmarks.peers.report import GATEWAY, IN_PROCESS, OURS, RUNTIME, Limit, Row
from benchmarks.peers.stop import stop_tree
from benchmarks.processes import BenchmarkError, Child, ProcessGroup, free_port, wait_ready
from benchmarks.stats import Stats
from benchmarks.targets import READY_PATH, service_file, start_gateway, start_runtime
from benchmarks.wrk import run_wrk

MODEL_DIR = service_file("imagenet").parent / "models"
MODEL = MODEL_DIR / "efficientnet-lite0.onnx"
LABELS = MODEL_DIR / "imagenet-labels.txt"
EXPECT = EXPECTED["imagenet"]  # the flower photo's top-1 class, in every good answer
READY_TIMEOUT_S = 300.0  # a first start of Ray or BentoML imports a lot on a busy 2-core host


@dataclass(frozen=True)
class Options:
    """How long and at which loads each contender is measured."""

    clients: tuple[int, ...]
    rounds: int
    seconds: float
    warmup: float
    ready_timeout: float


@dataclass(frozen=True)
class Launch:
    """A started server: where to send requests, where to ask if it is ready, its process."""

    base_url: str
    ready_url: str
    child: Child


@dataclass(frozen=True)
class Contender:
    """One server at one setting, how to start it and what to send it."""

    row: Row
    request: Request
    expect: str
    start: Callable[[ProcessGroup, Path], Launch]


def ours(jpeg: bytes) -> list[Contender]:
    """This gateway at its defaults, with the service in process, and its runtime alone."""
    through_gateway = Request("/predict/imagenet", "image/jpeg", jpeg)
    return [
        Contender(Row(OURS, GATEWAY, ours=True), through_gateway, EXPECT, _gateway),
        Contender(Row(OURS, IN_PROCESS, ours=True), through_gateway, EXPECT, _in_process),
        Contender(
            Row(OURS, RUNTIME, ours=True), Request("/predict", "image/jpeg", jpeg), EXPECT, _runtime
        ),
    ]


def peer_contenders(peer: Peer, jpeg: bytes) -> list[Contender]:
    """Every setting of ``peer``, each with the request that peer takes."""
    return [
        Contender(
            Row(peer.title, setting.name, reference=peer.reference),
            peer.build_request(jpeg),
            peer.expect,
            functools.partial(start_peer, peer, setting),
        )
        for setting in peer.settings
    ]


def run(
    contenders: Sequence[Contender],
    options: Options,
    group: ProcessGroup,
    work: Path,
    log: Callable[[str], None],
) -> Limit:
    """Measure every contender in ``options.rounds`` rounds; their rows collect the stats."""
    limits: list[dict[str, float]] = []
    per_server = options.warmup + len(options.clients) * options.seconds + 5  # 5: start, checks
    minutes = options.rounds * len(contenders) * per_server / 60
    log(f"{len(contenders)} servers x settings, {options.rounds} round(s): about {minutes:.0f} min")
    for index in range(options.rounds):
        log(f"round {index + 1}/{options.rounds}: the single-request limit...")
        limits.append(single_limit(group, work, "imagenet"))
        order = contenders if index % 2 == 0 else list(reversed(contenders))
        for contender in order:
            row = contender.row
            if row.failure:
                continue
            log(f"round {index + 1}/{options.rounds}: {row.name}...")
            try:
                measured = measure(contender, options, group, work / f"r{index}")
            except BenchmarkError as exc:
                if row.ours:
                    raise
                row.failure = str(exc).splitlines()[0][:200]
                log(f"{row.name} is left out: {exc}")
                continue
            for clients, stats in measured.items():
                row.add(clients, stats)
            summary = ", ".join(f"{c}: {s.rps:.1f}/s" for c, s in measured.items())
            log(f"  {summary}; errors {sum(s.failures for s in measured.values())}")
    return Limit(
        decode_ms=statistics.median(m["decode_ms"] for m in limits),
        ort_ms=statistics.median(m["ort_ms"] for m in limits),
    )


def measure(
    contender: Contender, options: Options, group: ProcessGroup, work: Path
) -> dict[int, Stats]:
    """Start the contender, check one answer, warm it up, load it at each client count.

    wrk stops with requests still in flight; a server may go on with them after it has gone, so
    one checked request after each wrk run waits them out before the next load starts."""
    launch = contender.start(group, work)
    request = contender.request
    url = launch.base_url + request.path
    payload = Payload(request.body, request.content_type)
    prefix = work / _slug(contender.row.name)
    try:
        wait_ready({launch.ready_url: launch.child}, options.ready_timeout)
        check(url, request, contender.expect)
        if options.warmup > 0:
            warm = min(16, max(options.clients))
            run_wrk(group, url, payload, warm, options.warmup, prefix / "warmup")
            check(url, request, contender.expect)  # waits out what wrk left queued
        measured = {}
        for clients in options.clients:
            point = prefix / f"c{clients}"
            stats = run_wrk(group, url, payload, clients, options.seconds, point, contender.expect)
            measured[clients] = stats
            check(url, request, contender.expect)
        return measured
    finally:
        stop_tree(group, launch.child)


def check(url: str, request: Request, expect: str) -> str:
    """One request, answered 200 with ``expect`` in the body (its start is returned), or a
    ``BenchmarkError``."""
    try:
        answer = httpx.post(
            url, content=request.body, headers={"Content-Type": request.content_type}, timeout=120
        )
    except httpx.HTTPError as exc:
        raise BenchmarkError(f"{url}: {exc!r}") from None
    if answer.status_code != 200 or expect not in answer.text:
        raise BenchmarkError(
            f"{url} answered {answer.status_code} without {expect!r}: {answer.text[:300]}"
        )
    return answer.text[:80]


def _gateway(group: ProcessGroup, work: Path) -> Launch:
    url, child = start_gateway(group, [service_file("imagenet")], work, "gateway")
    return Launch(url, url + READY_PATH, child)


def _in_process(group: ProcessGroup, work: Path) -> Launch:
    work.mkdir(parents=True, exist_ok=True)
    in_process = [in_process_file(work, "imagenet")]
    url, child = start_gateway(group, in_process, work, "gateway-in-process")
    return Launch(url, url + READY_PATH, child)


def _runtime(group: ProcessGroup, work: Path) -> Launch:
    target, child = start_runtime(group, "imagenet", work, "alone")
    return Launch(target.base_url, target.ready_url, child)


def start_peer(peer: Peer, setting: Setting, group: ProcessGroup, work: Path) -> Launch:
    """``server.py`` in the peer's virtualenv, on a free loopback port, as the launch contract
    says (see ``benchmarks.peers``); its output goes to a log file in ``work``."""
    if not peer.venv_python.is_file():
        raise BenchmarkError(f"{peer.venv} is missing (run without --skip-build)")
    port = free_port()
    argv = [
        str(peer.venv_python), str(peer.server), "--port", str(port),
        "--model", str(MODEL), "--labels", str(LABELS), *setting.args,
    ]  # fmt: skip
    env = {"PYTHONPATH": str(REPO_ROOT), **setting.env}
    log_path = work / f"{peer.key}-{_slug(setting.name)}.log"
    child = group.start(f"{peer.title} ({setting.name})", argv, env, log_path)
    base = f"http://127.0.0.1:{port}"
    return Launch(base, base + peer.ready_path, child)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
