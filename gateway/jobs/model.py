"""What a job is: frozen records read from the job store, and their JSON form for the API.

A job holds one item per input object. Item states: ``queued -> running -> succeeded | failed``
(``cancelled`` when its queued job is cancelled). The job's status follows from its items:
``queued`` (none started), ``running``, ``succeeded`` (every item succeeded), ``failed`` (all
finished and at least one failed: the others' results are kept and listed, item by item), or
``cancelled``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ItemState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """An object in a named store."""

    storage: str
    key: str
    etag: str = ""


@dataclass(frozen=True, slots=True)
class Item:
    """One input object of a job, and what became of it."""

    job_id: str
    index: int
    service: str
    storage: str
    key: str
    state: ItemState = "queued"
    attempts: int = 0
    outputs: tuple[str, ...] = ()
    error: dict[str, str] | None = None
    log: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "index": self.index,
            "key": self.key,
            "storage": self.storage,
            "status": self.state,
            "attempts": self.attempts,
            "outputs": list(self.outputs),
        }
        if self.error is not None:
            body["error"] = self.error
        if self.log:
            body["log"] = self.log
        return body


@dataclass(frozen=True, slots=True)
class Job:
    """A job: a service, where it came from (api, s3-event, watcher, pipeline) and its items."""

    id: str
    service: str
    status: JobStatus
    source: str
    created: float
    updated: float
    counts: dict[str, int] = field(default_factory=dict)
    items: tuple[Item, ...] = ()
    started: float | None = None  # when its first item started running

    def to_json(self, *, with_items: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "job_id": self.id,
            "service": self.service,
            "status": self.status,
            "source": self.source,
            "created": _iso(self.created),
            "updated": _iso(self.updated),
            "counts": self.counts,
        }
        if with_items:
            body["items"] = [item.to_json() for item in self.items]
        return body


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
