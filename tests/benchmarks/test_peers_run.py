"""The bench-peers runner against a real peer: the plain Starlette one, which runs in our venv.

Its ``server.py`` needs nothing beyond this project's own dependencies, so these tests start it
with our interpreter (the runner itself starts it from ``.venv-peers/starlette``) and measure it
with the real wrk and the real EfficientNet-Lite0 model.
"""

from __future__ import annotations

import base64
import shutil
import sys
from pathlib import Path

import pytest

from benchmarks.payloads import imagenet_payload
from benchmarks.peers.catalog import PEER_KEYS, PEERS_DIR, REPO_ROOT, load_peer
from benchmarks.peers.report import Row
from benchmarks.peers.run import LABELS, MODEL, Contender, Launch, Options, measure, run
from benchmarks.processes import Child, ProcessGroup, free_port

needs_wrk = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (`make test` installs it)"
)
OPTIONS = Options(clients=(1, 2), rounds=1, seconds=1, warmup=0, ready_timeout=120)


def starlette_peer(expect: str, started: list[Child]) -> Contender:
    """The Starlette peer's first setting, started with this interpreter."""
    peer = load_peer("starlette")
    setting = peer.settings[0]

    def start(group: ProcessGroup, work: Path) -> Launch:
        port = free_port()
        argv = [sys.executable, str(peer.server), "--port", str(port), "--model", str(MODEL)]
        argv += ["--labels", str(LABELS), *setting.args]
        child = group.start("starlette peer", argv, {"PYTHONPATH": str(REPO_ROOT)}, work / "s.log")
        started.append(child)
        base = f"http://127.0.0.1:{port}"
        return Launch(base, base + peer.ready_path, child)

    request = peer.build_request(imagenet_payload().body)
    return Contender(Row(peer.title, setting.name), request, expect, start)


@needs_wrk
def test_a_peer_is_measured_at_each_load_then_stopped(tmp_path: Path) -> None:
    started: list[Child] = []
    with ProcessGroup() as group:
        measured = measure(starlette_peer("daisy", started), OPTIONS, group, tmp_path)
        (child,) = started
        assert child.popen.poll() is not None  # stopped before measure() returned
    assert sorted(measured) == [1, 2]
    assert all(s.requests > 0 and s.failures == 0 for s in measured.values())


@needs_wrk
def test_a_peer_that_answers_wrongly_is_left_out_and_the_run_goes_on(tmp_path: Path) -> None:
    started: list[Child] = []
    contender = starlette_peer("tulip", started)
    with ProcessGroup() as group:
        limit = run([contender], OPTIONS, group, tmp_path, lambda message: None)
    assert "without 'tulip'" in contender.row.failure
    assert contender.row.runs == {}
    assert started[0].popen.poll() is not None
    assert limit.rps > 0


def test_every_peer_here_sends_the_flower_photo_and_expects_daisy() -> None:
    jpeg = imagenet_payload().body
    keys = [key for key in PEER_KEYS if (PEERS_DIR / key / "peer.py").is_file()]
    assert {"kserve", "litserve", "starlette"} <= set(keys)
    for key in keys:
        peer = load_peer(key)
        request = peer.build_request(jpeg)
        assert peer.expect == "daisy" and peer.settings, key
        assert jpeg in request.body or base64.b64encode(jpeg) in request.body, key
        assert peer.requirements.is_file() and peer.server.is_file(), key
