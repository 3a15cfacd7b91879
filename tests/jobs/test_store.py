"""JobStore: durable state transitions, job status, deduplication, recovery after a crash."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.errors import Conflict, NotFound
from gateway.jobs import JobStore, ObjectRef
from gateway.jobs.model import Answer, OutputFile


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    jobs = JobStore(tmp_path / "jobs.db")
    yield jobs
    jobs.close()


def _refs(*names: str) -> list[ObjectRef]:
    return [ObjectRef("default", f"b/in/{n}", f"etag-{n}") for n in names]


def test_status_follows_the_items(store: JobStore) -> None:
    job = store.create("svc", "api", _refs("a", "b"))
    assert job is not None and job.status == "queued" and len(job.items) == 2
    first = store.claim("svc", 1)
    assert [i.key for i in first] == ["b/in/a"] and first[0].attempts == 1
    assert store.get(job.id).status == "running"
    store.finish([replace(first[0], state="succeeded", outputs=("b/out/a.json",))])
    assert store.get(job.id).status == "running"  # one still queued
    (second,) = store.claim("svc", 10)
    store.finish([replace(second, state="failed", error={"code": "x", "message": "bad"})])
    done = store.get(job.id)
    assert done.status == "failed"
    assert done.counts == {"succeeded": 1, "failed": 1}
    assert done.items[0].outputs == ("b/out/a.json",)
    assert done.items[1].error == {"code": "x", "message": "bad"}
    assert [j.id for j in store.list("svc", "failed")] == [job.id]
    assert store.list("other", None) == [] and store.list(None, "queued") == []


def test_dedup_makes_one_job_per_object(store: JobStore) -> None:
    assert store.create("svc", "watcher", _refs("a")) is not None
    assert store.create("svc", "s3-event", _refs("a")) is None
    again = store.create("svc", "s3-event", _refs("a", "b"))
    assert again is not None and [i.key for i in again.items] == ["b/in/b"]
    changed = [ObjectRef("default", "b/in/a", "new-etag")]  # new content: a new object
    assert store.create("svc", "watcher", changed) is not None
    assert store.create("svc", "api", _refs("a"), dedup=False) is not None  # asked for: always


def test_running_items_are_requeued_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    first = JobStore(path)
    job = first.create("svc", "api", _refs("a", "b", "c"))
    assert job is not None
    claimed = first.claim("svc", 2)
    first.finish([replace(claimed[0], state="succeeded")])
    first.close()  # claimed[1] was left running: the process died
    second = JobStore(path)
    try:
        assert second.requeue_running() == 1
        assert second.services_with_work() == ["svc"]
        keys = [i.key for i in second.claim("svc", 10)]
        assert keys == ["b/in/b", "b/in/c"]
        item = second.get(job.id).items[1]
        assert item.attempts == 2  # started twice, ends once
    finally:
        second.close()


def test_cancel_only_a_queued_job(store: JobStore) -> None:
    job = store.create("svc", "api", _refs("a"))
    assert job is not None
    cancelled = store.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.items[0].state == "cancelled"
    assert store.claim("svc", 10) == []
    with pytest.raises(Conflict):
        store.cancel(job.id)
    with pytest.raises(NotFound):
        store.get("nope")


def test_an_items_files_and_answer_are_kept(store: JobStore) -> None:
    job = store.create("svc", "api", _refs("a"))
    assert job is not None
    (item,) = store.claim("svc", 1)
    file = OutputFile("default", "b/out/a.json", "a.json", 12, "etag")
    answer = Answer("a.json", 12, {"label": "daisy"})
    store.finish([replace(item, state="succeeded", files=(file,), answer=answer)])
    (done,) = store.get(job.id).items
    assert done.files == (file,) and done.answer == answer


def test_a_store_made_before_results_were_kept_gains_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the items table as the first schema made it
        db.execute(
            "CREATE TABLE items (job_id TEXT NOT NULL, idx INTEGER NOT NULL, service TEXT NOT "
            "NULL, storage TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, attempts "
            "INTEGER NOT NULL DEFAULT 0, outputs TEXT NOT NULL DEFAULT '[]', error TEXT, log TEXT, "
            "PRIMARY KEY (job_id, idx))"
        )
        db.execute("INSERT INTO items (job_id, idx, service, storage, key, state) "
                   "VALUES ('j', 0, 'svc', 'default', 'b/in/a', 'queued')")  # fmt: skip
    db.close()
    jobs = JobStore(path)
    try:
        (item,) = jobs.claim("svc", 1)
        assert item.files == () and item.answer is None
    finally:
        jobs.close()
