"""What one suite run measured, as plain data: load points, cold starts, RSS, ORT alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks.coldstart import ColdStart
from benchmarks.stats import Stats

# Target names used in load points.
DIRECT, GATEWAY, BATCHING_OFF = "direct", "gateway", "batching off"
ECHO_DIRECT, ECHO_GATEWAY = "echo direct", "echo via gateway"


@dataclass(frozen=True)
class LoadPoint:
    """One closed-loop run: ``users`` clients on ``target`` serving ``model``."""

    model: str
    target: str
    users: int
    stats: Stats


@dataclass(frozen=True)
class ProtocolPoint:
    """One closed-loop run of one protocol (raw image, OIP JSON/binary/gRPC) on one target."""

    model: str
    protocol: str
    target: str  # DIRECT or GATEWAY
    clients: int
    request_bytes: int
    stats: Stats


@dataclass
class RunResults:
    """Everything a run measured; ``report`` and ``goals`` derive the ratios from it."""

    points: list[LoadPoint] = field(default_factory=list)
    cold_starts: list[ColdStart] = field(default_factory=list)
    rss_mb: dict[str, dict[str, float]] = field(default_factory=dict)  # process -> phase -> MiB
    ort_alone: dict[str, float] = field(default_factory=dict)  # set-up -> images/s
    protocols: list[ProtocolPoint] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def stats(self, model: str, target: str, users: int) -> Stats | None:
        """The stats of one load point, if it was measured."""
        for p in self.points:
            if (p.model, p.target, p.users) == (model, target, users):
                return p.stats
        return None

    def users(self, model: str, target: str) -> list[int]:
        """The user counts measured for ``model`` on ``target``, ascending."""
        return sorted({p.users for p in self.points if (p.model, p.target) == (model, target)})
