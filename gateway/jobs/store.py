"""JobStore: jobs, their items and the objects already seen, durable in one SQLite file (WAL).

Every state change is one transaction, so a ``kill -9`` at any point leaves a consistent store:
items it finds ``running`` at start were interrupted and go back to the queue (their outputs are
written again under the same keys). The ``seen`` table holds every object (storage, key, etag)
that became a job, whatever its source (API upload, S3 event, watcher, pipeline): it is both the
event deduplication and the bucket watcher's checkpoint. Calls are short and run on the event
loop; ``synchronous=NORMAL`` in WAL mode survives a process crash (not a power loss).

The ``kube_jobs`` table names the Kubernetes Job of each job that runs as one (`gateway.jobs.kube`),
recorded before the Job is created. Such a job's items are never claimed by the HTTP workers nor
re-queued at start: they stay ``queued`` while the Job waits in the cluster, become ``running`` once
its pod runs, and the gateway resumes watching the Job after a restart.

A finished item keeps its output files (``files``) and its JSON answer (``answer``, under the cap
of `gateway.jobs.results`) in its row; a store made before these columns gets them at open.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import orjson

from gateway.errors import Conflict, NotFound
from gateway.jobs.model import (
    FINISHED,
    Answer,
    Item,
    ItemState,
    Job,
    JobStatus,
    ObjectRef,
    OutputFile,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, service TEXT NOT NULL, status TEXT NOT NULL, source TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL, started REAL);
CREATE INDEX IF NOT EXISTS jobs_by_service ON jobs (service, created);
CREATE TABLE IF NOT EXISTS items (
    job_id TEXT NOT NULL REFERENCES jobs (id), idx INTEGER NOT NULL, service TEXT NOT NULL,
    storage TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, outputs TEXT NOT NULL DEFAULT '[]', error TEXT, log TEXT,
    files TEXT NOT NULL DEFAULT '[]', answer TEXT,
    PRIMARY KEY (job_id, idx));
CREATE INDEX IF NOT EXISTS items_by_state ON items (service, state);
CREATE TABLE IF NOT EXISTS kube_jobs (
    job_id TEXT PRIMARY KEY REFERENCES jobs (id), name TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS seen (
    storage TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL, job_id TEXT NOT NULL,
    PRIMARY KEY (storage, key, etag));
"""
_JOB_COLUMNS = "id, service, status, source, created, updated, started"
_ITEM_COLUMNS = (
    "job_id, idx, service, storage, key, state, attempts, outputs, error, log, files, answer"
)
#: columns added since the first schema: (name, definition), added to an older store at open
_ADDED_COLUMNS = (("files", "TEXT NOT NULL DEFAULT '[]'"), ("answer", "TEXT"))


class JobStore:
    """The durable job store (one connection, used from the event loop)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(items)")}
        for column, definition in _ADDED_COLUMNS:
            if column not in present:
                self._db.execute(f"ALTER TABLE items ADD COLUMN {column} {definition}")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        if "started" not in columns:  # a store from before jobs recorded when they started
            self._db.execute("ALTER TABLE jobs ADD COLUMN started REAL")
        self._cancel_hooks: list[Callable[[str], None]] = []

    def on_cancel(self, hook: Callable[[str], None]) -> None:
        """Call `hook(job_id)` after a job is cancelled."""
        self._cancel_hooks.append(hook)

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def unseen(self, refs: Iterable[ObjectRef]) -> list[ObjectRef]:
        """The objects that have not become a job yet."""
        query = "SELECT 1 FROM seen WHERE storage = ? AND key = ? AND etag = ?"
        return [
            r
            for r in refs
            if self._db.execute(query, (r.storage, r.key, r.etag)).fetchone() is None
        ]

    def create(
        self,
        service: str,
        source: str,
        refs: Sequence[ObjectRef],
        *,
        dedup: bool = True,
        claim: ObjectRef | None = None,
    ) -> Job | None:
        """A queued job with one item per object (`dedup`: only those never seen; None if
        none is left). The objects, and `claim` (a request's idempotency id), are marked seen
        in the same transaction."""
        now = time.time()
        job_id = uuid.uuid4().hex
        with self._tx() as db:
            fresh = self.unseen(refs) if dedup else list(refs)
            if not fresh:
                return None
            db.execute(
                "INSERT INTO jobs (id, service, status, source, created, updated) "
                "VALUES (?, ?, 'queued', ?, ?, ?)",
                (job_id, service, source, now, now),
            )
            db.executemany(
                "INSERT INTO items (job_id, idx, service, storage, key, state) "
                "VALUES (?, ?, ?, ?, ?, 'queued')",
                [(job_id, i, service, r.storage, r.key) for i, r in enumerate(fresh)],
            )
            marked = [*fresh, claim] if claim is not None else fresh
            db.executemany(
                "INSERT OR REPLACE INTO seen VALUES (?, ?, ?, ?)",
                [(r.storage, r.key, r.etag, job_id) for r in marked],
            )
        return self.get(job_id)

    def requeue_running(self) -> int:
        """Put back in the queue the items a previous process left running; returns how many."""
        with self._tx() as db:
            count = db.execute(
                "UPDATE items SET state = 'queued' WHERE state = 'running' "
                "AND job_id NOT IN (SELECT job_id FROM kube_jobs)"
            ).rowcount
        return int(count)

    def services_with_work(self) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT service FROM items WHERE state = 'queued'")
        return [str(row[0]) for row in rows]

    def claim(self, service: str, limit: int) -> list[Item]:
        """Mark up to `limit` queued items of `service` running (oldest first) and return them."""
        with self._tx() as db:
            rows = db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE service = ? AND state = 'queued' "
                "AND job_id NOT IN (SELECT job_id FROM kube_jobs) ORDER BY rowid LIMIT ?",
                (service, limit),
            ).fetchall()
            db.executemany(
                "UPDATE items SET state = 'running', attempts = attempts + 1 "
                "WHERE job_id = ? AND idx = ?",
                [(row[0], row[1]) for row in rows],
            )
            self._refresh(db, {row[0] for row in rows})
        return [_item(row, state="running", attempts=row[6] + 1) for row in rows]

    def finish(self, items: Sequence[Item]) -> None:
        """Record the end state, outputs, answer, error and log of items (one transaction)."""
        with self._tx() as db:
            db.executemany(
                "UPDATE items SET state = ?, attempts = ?, outputs = ?, error = ?, log = ?, "
                "files = ?, answer = ? WHERE job_id = ? AND idx = ?",
                [
                    (
                        i.state,
                        i.attempts,
                        _dumps(list(i.outputs)),
                        _dumps(i.error) if i.error is not None else None,
                        i.log,
                        _dumps([f.to_record() | {"etag": f.etag} for f in i.files]),
                        _dumps(i.answer.to_record()) if i.answer is not None else None,
                        i.job_id,
                        i.index,
                    )
                    for i in items
                ],
            )
            self._refresh(db, {i.job_id for i in items})

    def cancel(self, job_id: str) -> Job:
        """Cancel a job that has not started; `Conflict` (409) once it runs or has finished."""
        with self._tx() as db:
            job = self.get(job_id)
            if job.status != "queued":
                raise Conflict(f"job {job_id} is {job.status}: only a queued job can be cancelled")
            db.execute("UPDATE items SET state = 'cancelled' WHERE job_id = ?", (job_id,))
            self._refresh(db, {job_id})
        for hook in self._cancel_hooks:
            hook(job_id)
        return self.get(job_id)

    def submit_kube_job(self, service: str, name_for: Callable[[str], str]) -> Job | None:
        """The oldest queued job of `service` without a Kubernetes Job, its Job's name
        (`name_for(job_id)`) recorded; None if there is none. Its items stay queued."""
        with self._tx() as db:
            row = db.execute(
                "SELECT job_id FROM items WHERE service = ? AND state = 'queued' "
                "AND job_id NOT IN (SELECT job_id FROM kube_jobs) ORDER BY rowid LIMIT 1",
                (service,),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "INSERT INTO kube_jobs VALUES (?, ?, ?)", (row[0], name_for(row[0]), time.time())
            )
        return self.get(row[0])

    def kube_job(self, job_id: str) -> tuple[str, float] | None:
        """The name of the job's Kubernetes Job and when it was recorded, if it has one."""
        row = self._db.execute(
            "SELECT name, created FROM kube_jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
        return (str(row[0]), float(row[1])) if row else None

    def unfinished_kube_jobs(self) -> list[str]:
        """Jobs running as Kubernetes Jobs with items not finished yet (to watch after a start)."""
        rows = self._db.execute(
            "SELECT k.job_id FROM kube_jobs k WHERE EXISTS (SELECT 1 FROM items i "
            "WHERE i.job_id = k.job_id AND i.state IN ('queued', 'running')) ORDER BY k.created"
        )
        return [str(row[0]) for row in rows]

    def start_items(self, job_id: str) -> None:
        """The job's queued items are running now (its Kubernetes Job's pod runs)."""
        with self._tx() as db:
            db.execute(
                "UPDATE items SET state = 'running', attempts = attempts + 1 "
                "WHERE job_id = ? AND state = 'queued'",
                (job_id,),
            )
            self._refresh(db, {job_id})

    def get(self, job_id: str, *, answers: bool = True) -> Job:
        """The job and its items (`answers`: with the items' answers, else without)."""
        row = self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"job {job_id!r} does not exist")
        columns = _ITEM_COLUMNS if answers else _ITEM_COLUMNS.replace(", answer", ", NULL")
        items = self._db.execute(
            f"SELECT {columns} FROM items WHERE job_id = ? ORDER BY idx", (job_id,)
        ).fetchall()
        return _job(row, self._counts(job_id), tuple(_item(r) for r in items))

    def service_of(self, job_id: str) -> str:
        """The service of a job; `NotFound` if there is no such job."""
        row = self._db.execute("SELECT service FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"job {job_id!r} does not exist")
        return str(row[0])

    def item(self, job_id: str, index: int) -> Item:
        """One item of a job, without its answer; `NotFound` if there is no such item."""
        columns = _ITEM_COLUMNS.replace(", answer", ", NULL")
        row = self._db.execute(
            f"SELECT {columns} FROM items WHERE job_id = ? AND idx = ?", (job_id, index)
        ).fetchone()
        if row is None:
            raise NotFound(f"job {job_id!r} has no item {index}")
        return _item(row)

    def list(
        self, service: str | None, status: str | None, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """Jobs, newest first, without their items."""
        query = (
            f"SELECT {_JOB_COLUMNS} FROM jobs "
            "WHERE (? IS NULL OR service = ?) AND (? IS NULL OR status = ?)"
        )
        rows = self._db.execute(
            query + " ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?",
            (service, service, status, status, limit, offset),
        ).fetchall()
        return [_job(row, self._counts(row[0])) for row in rows]

    def count(self, service: str | None = None) -> dict[str, int]:
        """How many jobs there are in each status (of one service, or of all)."""
        rows = self._db.execute(
            "SELECT status, COUNT(*) FROM jobs WHERE ? IS NULL OR service = ? GROUP BY status",
            (service, service),
        )
        return {str(status): int(count) for status, count in rows}

    def delete(self, job_id: str) -> None:
        """Forget a job that is not running (a queued one is cancelled first); `Conflict` (409)
        while it runs. The objects it took stay seen, so they do not become a job again."""
        job = self.get(job_id)
        if job.status == "queued":
            job = self.cancel(job_id)
        if job.status == "running":
            raise Conflict(f"job {job_id} is running: it can be deleted once it has finished")
        with self._tx() as db:
            db.execute("DELETE FROM items WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM kube_jobs WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def seen_job(self, ref: ObjectRef) -> str | None:
        """The job an object (storage, key, etag) already became, if any."""
        row = self._db.execute(
            "SELECT job_id FROM seen WHERE storage = ? AND key = ? AND etag = ?",
            (ref.storage, ref.key, ref.etag),
        ).fetchone()
        return None if row is None else str(row[0])

    def _counts(self, job_id: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT state, COUNT(*) FROM items WHERE job_id = ? GROUP BY state", (job_id,)
        )
        return {str(state): int(count) for state, count in rows}

    def _refresh(self, db: sqlite3.Connection, job_ids: Iterable[str]) -> None:
        now = time.time()
        for job_id in job_ids:
            status = _status(self._counts(job_id))
            db.execute(
                "UPDATE jobs SET status = ?, updated = ?, started = COALESCE(started, "
                "CASE WHEN ? IN ('queued', 'cancelled') THEN NULL ELSE ? END) WHERE id = ?",
                (status, now, status, now, job_id),
            )


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _status(counts: dict[str, int]) -> JobStatus:
    total = sum(counts.values())
    if counts.get("cancelled"):
        return "cancelled"
    if counts.get("queued", 0) == total:
        return "queued"
    if sum(counts.get(s, 0) for s in FINISHED) < total:
        return "running"
    return "failed" if counts.get("failed") else "succeeded"


def _item(row: Any, **update: Any) -> Item:
    values = dict(zip(_ITEM_COLUMNS.split(", "), row, strict=True)) | update
    return Item(
        job_id=values["job_id"],
        index=values["idx"],
        service=values["service"],
        storage=values["storage"],
        key=values["key"],
        state=cast(ItemState, values["state"]),
        attempts=values["attempts"],
        outputs=tuple(orjson.loads(values["outputs"])),
        error=orjson.loads(values["error"]) if values["error"] else None,
        log=values["log"],
        files=tuple(OutputFile(**f) for f in orjson.loads(values["files"])),
        answer=Answer.from_record(orjson.loads(values["answer"])) if values["answer"] else None,
    )


def _job(row: Any, counts: dict[str, int], items: tuple[Item, ...] = ()) -> Job:
    job_id, service, status, source, created, updated, started = row
    return Job(
        job_id, service, cast(JobStatus, status), source, created, updated, counts, items, started
    )
