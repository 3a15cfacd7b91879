"""Each peer's own virtualenv, ``.venv-peers/<key>``, built from its ``requirements.txt``.

A virtualenv is (re)built when its marker file ``.installed`` is missing or older than the
requirements file, the way the Makefile builds ``.venv`` (pip quiet but for its errors, which go
to stderr).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.peers.catalog import REPO_ROOT, Peer
from benchmarks.processes import BenchmarkError

MARKER = ".installed"


def marker(peer: Peer) -> Path:
    return peer.venv / MARKER


def is_current(peer: Peer) -> bool:
    """Whether the peer's virtualenv was built from its requirements file as it is now."""
    done = marker(peer)
    return done.is_file() and done.stat().st_mtime >= peer.requirements.stat().st_mtime


def build(peer: Peer) -> None:
    """Create the virtualenv if needed and install the peer's requirements into it."""
    if not peer.venv_python.is_file():
        python = shutil.which(peer.python) or shutil.which("python3")
        if python is None:
            raise BenchmarkError(f"{peer.python} is not installed: cannot build {peer.venv}")
        _call([python, "-m", "venv", str(peer.venv)], peer)
    pip = [str(peer.venv_python), "-m", "pip", "install", "--disable-pip-version-check"]
    _call([*pip, "--progress-bar", "off", "-qq", "-r", str(peer.requirements)], peer)
    marker(peer).touch()


def build_missing(peers: Sequence[Peer], log: Callable[[str], None]) -> None:
    """Build every virtualenv that is not current, one after the other, saying so."""
    stale = [peer for peer in peers if not is_current(peer)]
    for index, peer in enumerate(stale, 1):
        started = time.monotonic()
        log(f"building {_shown(peer.venv)} ({index}/{len(stale)})...")
        build(peer)
        took = time.monotonic() - started
        log(f"built {_shown(peer.venv)} in {took:.0f} s, {size_mib(peer):.0f} MiB")


def size_mib(peer: Peer) -> float:
    """The size of the peer's virtualenv on disk, in MiB (links counted as links)."""
    total = 0
    for root, _dirs, files in os.walk(peer.venv):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total / 2**20


def _call(argv: list[str], peer: Peer) -> None:
    code = subprocess.call(argv, stdin=subprocess.DEVNULL, stdout=sys.stderr, cwd=REPO_ROOT)
    if code != 0:
        raise BenchmarkError(f"building {_shown(peer.venv)} failed: {' '.join(argv)} -> {code}")


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
