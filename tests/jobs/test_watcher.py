"""The bucket watcher against a real S3 server (SeaweedFS): new objects become jobs once, and a
restarted watcher (new process, same job store) neither loses nor repeats one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.jobs.intake import Intake
from gateway.jobs.store import JobStore
from gateway.jobs.watcher import BucketWatcher
from gateway.registry import Registry
from gateway.services import ServiceSpec, StorageIO
from gateway.storage.s3 import S3Store
from tests.jobs.fakes import StuckBackend
from tests.seaweed import Seaweed


@pytest.fixture
async def s3(seaweed: Seaweed) -> AsyncIterator[S3Store]:
    store = S3Store(seaweed.endpoint, seaweed.access_key, seaweed.secret_key)
    yield store
    await store.aclose()


def _watcher(db: Path, bucket: str, store: S3Store) -> tuple[BucketWatcher, JobStore, list[str]]:
    spec = ServiceSpec(
        name="thumbs", runtime="script", script="true", backend="knative",
        input=(StorageIO(storage="minio", path=f"{bucket}/in"),),
    )  # fmt: skip
    registry = Registry({"knative": StuckBackend()})  # type: ignore[dict-item]
    registry.register(spec)
    jobs = JobStore(db)
    woken: list[str] = []
    stores = {"minio": store}
    intake = Intake(jobs, registry, stores, woken.append)
    return BucketWatcher(jobs, registry, stores, intake, interval=0.1), jobs, woken


def _keys(jobs: JobStore) -> list[str]:
    return sorted(i.key for j in jobs.list("thumbs", None) for i in jobs.get(j.id).items)


async def test_watcher_on_seaweedfs_survives_a_restart(
    seaweed: Seaweed, s3: S3Store, tmp_path: Path
) -> None:
    bucket = seaweed.new_bucket()
    client = seaweed.client()
    try:
        client.create_bucket(Bucket=bucket)
        for name in ("b.jpg", "a.jpg"):
            client.put_object(Bucket=bucket, Key=f"in/{name}", Body=name.encode())
        client.put_object(Bucket=bucket, Key="elsewhere/c.jpg", Body=b"c")

        watcher, jobs, woken = _watcher(tmp_path / "jobs.db", bucket, s3)
        assert await watcher.poll() == 1
        assert _keys(jobs) == [f"{bucket}/in/a.jpg", f"{bucket}/in/b.jpg"]
        assert woken == ["thumbs"]
        assert await watcher.poll() == 0  # nothing new
        client.put_object(Bucket=bucket, Key="in/0-first-in-key-order.jpg", Body=b"0")
        jobs.close()  # the gateway stops; an upload lands while it is down

        watcher, jobs, _ = _watcher(tmp_path / "jobs.db", bucket, s3)
        try:
            assert await watcher.poll() == 1  # the new object, even before the others in order
            assert await watcher.poll() == 0
            client.put_object(Bucket=bucket, Key="in/a.jpg", Body=b"new content")  # new etag
            assert await watcher.poll() == 1
            keys = _keys(jobs)
            assert keys.count(f"{bucket}/in/a.jpg") == 2 and keys.count(f"{bucket}/in/b.jpg") == 1
            assert f"{bucket}/in/0-first-in-key-order.jpg" in keys
            assert all("elsewhere" not in k for k in keys)
        finally:
            jobs.close()
    finally:
        client.close()
