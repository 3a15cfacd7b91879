"""What a job is: frozen records read from the job store, and their JSON form for the API.

A job holds one item per input object. Item states: ``queued -> running -> succeeded | failed``
(``cancelled`` when its queued job is cancelled). The job's status follows from its items:
``queued`` (none started), ``running``, ``succeeded`` (every item succeeded), ``failed`` (all
finished and at least one failed: the others' results are kept and listed, item by item), or
``cancelled``.

A finished item lists its output objects (`OutputFile`: storage, key, name, size), each with its
download route ``/jobs/{id}/items/{index}/outputs/{name}``, and its `Answer`: the service's JSON
result for it, inline under a size cap (`gateway.jobs.results`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

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
class OutputFile:
    """An object an item wrote: where it is, its name (relative to its output path) and size."""

    storage: str
    key: str
    name: str
    size: int | None = None
    etag: str = ""

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.storage, self.key, self.etag)

    def to_record(self) -> dict[str, Any]:
        return {"storage": self.storage, "key": self.key, "name": self.name, "size": self.size}


#: why an answer is not inline: over the size cap, or its file is not valid JSON
Omitted = Literal["too_large", "not_json"]


@dataclass(frozen=True, slots=True)
class Answer:
    """An item's JSON answer: the output file `name` holding it, its size, and the parsed
    `document` (None when `omitted`; `limit` is the cap it was over)."""

    name: str
    size: int
    document: Any = None
    omitted: Omitted | None = None
    limit: int | None = None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.name, "size": self.size}
        if self.omitted is None:
            return record | {"document": self.document}
        record["omitted"] = self.omitted
        if self.limit is not None:
            record["limit"] = self.limit
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Answer:
        return cls(
            record["name"], record["size"], record.get("document"), record.get("omitted"),
            record.get("limit"),
        )  # fmt: skip


def output_url(job_id: str, index: int, name: str) -> str:
    """The download route of an item's output file."""
    return f"/jobs/{job_id}/items/{index}/outputs/{quote(name)}"


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
    files: tuple[OutputFile, ...] = ()
    answer: Answer | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "index": self.index,
            "key": self.key,
            "storage": self.storage,
            "status": self.state,
            "attempts": self.attempts,
            "outputs": list(self.outputs),
        }
        if self.files:
            body["files"] = [
                {**f.to_record(), "url": output_url(self.job_id, self.index, f.name)}
                for f in self.files
            ]
        if self.answer is not None:
            body.update(self._answer_json(self.answer))
        if self.error is not None:
            body["error"] = self.error
        if self.log:
            body["log"] = self.log
        return body

    def _answer_json(self, answer: Answer) -> dict[str, Any]:
        """``result``: the document; else ``result_omitted``: why, its size and where it is."""
        if answer.omitted is None:
            return {"result": answer.document}
        marker: dict[str, Any] = {
            "reason": answer.omitted,
            "name": answer.name,
            "size": answer.size,
        }
        if answer.limit is not None:
            marker["limit"] = answer.limit
        if any(f.name == answer.name for f in self.files):
            marker["url"] = output_url(self.job_id, self.index, answer.name)
        return {"result_omitted": marker}


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
