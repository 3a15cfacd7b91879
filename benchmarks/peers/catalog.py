"""What a peer is to the runner: how it starts, what it is sent, what a good answer contains.

Runs in our own virtualenv (the runner's side). A peer's ``server.py`` runs in the peer's
virtualenv and never imports this module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.payloads import EXPECTED

PEERS_DIR = Path(__file__).resolve().parent
REPO_ROOT = PEERS_DIR.parents[1]
VENVS_DIR = REPO_ROOT / ".venv-peers"

#: Every peer, in the order the runner measures them (the folder names under benchmarks/peers/).
PEER_KEYS = ("kserve", "mlserver", "bentoml", "rayserve", "litserve", "starlette")


@dataclass(frozen=True)
class Request:
    """One HTTP POST that asks a peer for the flower photo's class."""

    path: str
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Setting:
    """One way to run a peer: extra ``server.py`` arguments and environment variables."""

    name: str  # "defaults", "ORT 2 intra-op threads", "2 workers + adaptive batching", ...
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Peer:
    """A peer model server: its folder, settings (the first is its defaults) and protocol."""

    key: str  # the folder name under benchmarks/peers/ and .venv-peers/
    title: str  # with the version measured, e.g. "KServe 0.21"
    ready_path: str  # GET answers 200 once the model can be called
    settings: tuple[Setting, ...]
    build_request: Callable[[bytes], Request]  # JPEG bytes -> the request this peer takes
    expect: str = EXPECTED["imagenet"]  # every good answer body contains it (the top-1 label)
    python: str = "python3.11"  # the interpreter its virtualenv is made from
    reference: bool = False  # a plain app, not a model server: shown beside the peers, apart

    @property
    def folder(self) -> Path:
        return PEERS_DIR / self.key

    @property
    def requirements(self) -> Path:
        return self.folder / "requirements.txt"

    @property
    def server(self) -> Path:
        return self.folder / "server.py"

    @property
    def venv(self) -> Path:
        return VENVS_DIR / self.key

    @property
    def venv_python(self) -> Path:
        return self.venv / "bin" / "python"


def load_peer(key: str) -> Peer:
    """``benchmarks.peers.<key>.peer.PEER``."""
    module = importlib.import_module(f"benchmarks.peers.{key}.peer")
    peer = module.PEER
    if not isinstance(peer, Peer) or peer.key != key:
        raise TypeError(f"benchmarks/peers/{key}/peer.py must define PEER = Peer(key={key!r}, ...)")
    return peer
