"""Check peers by hand: ``python -m benchmarks.peers.check KEY [KEY...] [--load 1,16]``.

For each peer: build its virtualenv when it is missing or older than its requirements (timed,
with its size), then for each setting start ``server.py`` the way the runner does, wait for the
ready path, send one request and check that the answer is 200 and names the expected label,
optionally run wrk for a rough figure (images/s, noisy) and ask once more, then stop the server
as the runner does (SIGTERM; after 10 s, SIGKILL to its process group) and check that every
process it started is gone: Ray's and BentoML's workers run in process groups of their own, so
only their own shutdown stops them. One line per setting; exit status 1 when any check failed.

MLServer 1.7 may not stop on SIGTERM while requests are still in flight (wrk leaves some when it
stops): it closes its worker pool first, and its REST server then waits for those requests for
ever. The request after the load makes that less likely; the SIGKILL to the group ends it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from benchmarks.payloads import Payload, imagenet_payload
from benchmarks.peers.catalog import PEER_KEYS, REPO_ROOT, Peer, Request, Setting, load_peer
from benchmarks.processes import (
    BenchmarkError,
    Child,
    ProcessGroup,
    free_port,
    run_main,
    wait_ready,
)
from benchmarks.wrk import run_wrk

MODEL = REPO_ROOT / "model_images" / "imagenet" / "models" / "efficientnet-lite0.onnx"
LABELS = REPO_ROOT / "model_images" / "imagenet" / "models" / "imagenet-labels.txt"
READY_TIMEOUT_S = 300.0  # a first start imports a lot (Ray, BentoML) on a busy 2-core host
STOP_GRACE_S = 10.0  # the launch contract: SIGTERM, then SIGKILL to the group after 10 s
WARMUP_S = 3.0


def server_argv(peer: Peer, setting: Setting, port: int) -> list[str]:
    """The launch contract's command line for one setting of ``peer``."""
    return [
        str(peer.venv_python), str(peer.server), "--port", str(port),
        "--model", str(MODEL), "--labels", str(LABELS), *setting.args,
    ]  # fmt: skip


def server_env(setting: Setting) -> dict[str, str]:
    """The launch contract's environment additions: the setting's, and the repository root."""
    return {**setting.env, "PYTHONPATH": str(REPO_ROOT)}


def ensure_venv(peer: Peer) -> str:
    """Build ``.venv-peers/<key>`` unless it is up to date; say how long it took and its size."""
    marker = peer.venv / ".installed"
    if marker.is_file() and marker.stat().st_mtime >= peer.requirements.stat().st_mtime:
        return f"venv present, {_size_mib(peer.venv):.0f} MiB"
    start = time.monotonic()
    if not peer.venv_python.exists():
        subprocess.run([peer.python, "-m", "venv", str(peer.venv)], check=True)
    pip = [str(peer.venv_python), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, "--progress-bar", "off", "-qq", "-r", str(peer.requirements)], check=True)
    marker.touch()
    took = time.monotonic() - start
    return f"venv built in {took:.0f} s, {_size_mib(peer.venv):.0f} MiB"


def _size_mib(folder: Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total / 2**20


# -- the processes a server started -------------------------------------------------------------

Proc = tuple[int, str]  # pid and start time (clock ticks since boot): a pid is reused, this is not


def _table() -> dict[int, tuple[int, int, str, str]]:
    """pid -> (parent pid, process group, start time, state) for every process."""
    table: dict[int, tuple[int, int, str, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry)] = (int(fields[1]), int(fields[2]), fields[19], fields[0])
    return table


def process_tree(root: int) -> set[Proc]:
    """``root``, its descendants, and whatever else is in its process group."""
    table = _table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _pgid, _start, _state) in table.items():
        children.setdefault(ppid, []).append(pid)
    found = {pid for pid, (_ppid, pgid, _s, _st) in table.items() if pgid == root} | {root}
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return {(pid, table[pid][2]) for pid in found if pid in table}


def alive(tree: set[Proc]) -> set[Proc]:
    """The processes of ``tree`` that still run (zombies count as gone)."""
    table = _table()
    return {
        (pid, start)
        for pid, start in tree
        if pid in table and table[pid][2] == start and table[pid][3] != "Z"
    }


def _cmdline(pid: int) -> str:
    try:
        raw = Path("/proc", str(pid), "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:100]


def stop_and_check(group: ProcessGroup, child: Child) -> tuple[bool, str]:
    """Stop the server as the launch contract does; (nothing it started survived, what happened).

    SIGTERM to the server; what is still there after the grace gets the contract's SIGKILL to the
    server's process group. A process outside that group that outlives both (a worker in a
    session of its own) is a leftover: reported, then killed here.
    """
    tree = process_tree(child.popen.pid)
    start = time.monotonic()
    child.popen.send_signal(signal.SIGTERM)
    if _wait_gone(tree, STOP_GRACE_S):
        return True, f"{len(tree)} processes stopped by SIGTERM in {time.monotonic() - start:.1f} s"
    lingering = len(alive(tree))
    group.stop(child)  # SIGKILL to the group, as the runner does after the grace
    _wait_gone(tree, 5.0)
    leftovers = alive(tree)
    note = f"{len(tree)} processes, {lingering} still there {STOP_GRACE_S:.0f} s after SIGTERM"
    if not leftovers:
        return True, note + ", gone after SIGKILL to the group"
    described = "; ".join(f"{pid} {_cmdline(pid)}" for pid, _ in sorted(leftovers))
    for pid, _start in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return False, note + f", LEFT RUNNING after SIGKILL to the group (killed now): {described}"


def _wait_gone(tree: set[Proc], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(tree):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# -- one setting --------------------------------------------------------------------------------


def ask(peer: Peer, base: str, request: Request) -> tuple[bool, str]:
    """One request: whether it answered 200 with the expected label, and the answer in short."""
    headers = {"Content-Type": request.content_type}
    try:
        answer = httpx.post(base + request.path, content=request.body, headers=headers, timeout=120)
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    good = answer.status_code == 200 and peer.expect in answer.text
    return good, f"{answer.status_code} {answer.text[:80]!r}"


def check_setting(
    peer: Peer, setting: Setting, loads: Sequence[int], seconds: float, work: Path
) -> tuple[bool, str]:
    """Start, ready, one checked request, rough load, stop; (passed, one line)."""
    jpeg = imagenet_payload().body
    request = peer.build_request(jpeg)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    prefix = work / f"{peer.key}-{port}"
    parts = [f"{peer.title} | {setting.name}"]
    passed = True
    with ProcessGroup(stop_timeout=STOP_GRACE_S) as group:
        child = group.start(
            peer.key, server_argv(peer, setting, port), server_env(setting), Path(f"{prefix}.log")
        )
        start = time.monotonic()
        try:
            wait_ready({base + peer.ready_path: child}, READY_TIMEOUT_S)
            parts.append(f"ready in {time.monotonic() - start:.1f} s")
            good, answer = ask(peer, base, request)
            passed &= good
            parts.append(f"answer {answer}")
            if good and loads:
                payload = Payload(request.body, request.content_type)
                url = base + request.path
                run_wrk(group, url, payload, max(loads), WARMUP_S, Path(f"{prefix}-warmup"))
                for clients in loads:
                    out = Path(f"{prefix}-c{clients}")
                    stats = run_wrk(group, url, payload, clients, seconds, out)
                    passed &= stats.failures == 0
                    parts.append(
                        f"c{clients}: {stats.rps:.1f} img/s p50 {stats.p50_ms:.1f} ms"
                        + (f" ({stats.failures} failed)" if stats.failures else "")
                    )
                good, answer = ask(peer, base, request)  # also: nothing left in flight
                passed &= good
                parts.append("answer after the load " + ("ok" if good else answer))
        except BenchmarkError as exc:
            passed = False
            parts.append(f"error: {exc}")
        finally:
            clean, stopped = stop_and_check(group, child)
        passed &= clean
        parts.append(stopped)
        if not passed:
            parts.append("log tail:\n" + child.log_tail(15))
    return passed, " | ".join(parts)


def check(keys: Sequence[str], only: str | None, loads: Sequence[int], seconds: float) -> bool:
    passed = True
    with tempfile.TemporaryDirectory(prefix="peer-check-") as tmp:
        for key in keys:
            peer = load_peer(key)
            print(f"{peer.title}: {ensure_venv(peer)}", flush=True)
            for setting in peer.settings:
                if only and only not in setting.name:
                    continue
                ok, line = check_setting(peer, setting, loads, seconds, Path(tmp))
                passed &= ok
                print(("ok   " if ok else "FAIL ") + line, flush=True)
    return passed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers.check", description=__doc__)
    parser.add_argument("keys", nargs="*", default=None, help=f"default: {' '.join(PEER_KEYS)}")
    parser.add_argument("--setting", default=None, help="only settings whose name contains this")
    parser.add_argument("--load", default="", help="wrk client counts, e.g. 1,16 (default: none)")
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk seconds per load")
    args = parser.parse_args(argv)
    keys = args.keys or [k for k in PEER_KEYS if (Path(__file__).parent / k).is_dir()]
    loads = [int(n) for n in args.load.split(",") if n]
    results: list[bool] = []

    def work() -> None:
        results.append(check(keys, args.setting, loads, args.seconds))

    status = run_main(work)
    return status or (0 if all(results) else 1)


if __name__ == "__main__":
    sys.exit(main())
