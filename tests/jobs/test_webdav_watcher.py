"""The bucket watcher on a real WebDAV server (WsgiDAV): files uploaded to a folder become jobs
once each, whole (not while they are written), and a restarted watcher (same job store) neither
loses nor repeats one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.jobs.intake import Intake
from gateway.jobs.store import JobStore
from gateway.jobs.watcher import BucketWatcher
from gateway.registry import Registry
from gateway.services import ServiceSpec, StorageIO
from gateway.storage.webdav import WebDavStore
from tests.jobs.fakes import StuckBackend
from tests.webdav import DavServer


@pytest.fixture
async def dav(webdav: DavServer) -> AsyncIterator[WebDavStore]:
    store = WebDavStore(webdav.url, webdav.login, webdav.password)
    yield store
    await store.aclose()


def _watcher(db: Path, folder: str, store: WebDavStore) -> tuple[BucketWatcher, JobStore]:
    spec = ServiceSpec(
        name="thumbs", runtime="script", script="true", backend="knative",
        input=(StorageIO(storage="webdav.dcache", path=folder),),
    )  # fmt: skip
    registry = Registry({"knative": StuckBackend()})  # type: ignore[dict-item]
    registry.register(spec)
    jobs = JobStore(db)
    stores = {"webdav.dcache": store}
    intake = Intake(jobs, registry, stores, lambda _: None)
    return BucketWatcher(jobs, registry, stores, intake, interval=0.1), jobs


def _keys(jobs: JobStore) -> list[str]:
    return sorted(i.key for j in jobs.list("thumbs", None) for i in jobs.get(j.id).items)


async def test_uploads_become_jobs_once_across_a_restart(
    webdav: DavServer, dav: WebDavStore, tmp_path: Path
) -> None:
    bucket = webdav.new_bucket()
    with webdav.client() as user:
        for folder in (bucket, f"{bucket}/in", f"{bucket}/elsewhere"):
            assert user.request("MKCOL", folder).status_code == 201
        for name in ("b.jpg", "a.jpg"):
            assert user.put(f"{bucket}/in/{name}", content=name.encode()).status_code == 201
        user.put(f"{bucket}/elsewhere/c.jpg", content=b"c")

        watcher, jobs = _watcher(tmp_path / "jobs.db", f"{bucket}/in", dav)
        assert await watcher.poll() == 0  # first sight: wait one pass for the files to settle
        assert await watcher.poll() == 1
        assert _keys(jobs) == [f"{bucket}/in/a.jpg", f"{bucket}/in/b.jpg"]
        assert await watcher.poll() == 0  # nothing new
        user.put(f"{bucket}/in/0-first-in-key-order.jpg", content=b"0")
        jobs.close()  # the gateway stops; an upload lands while it is down

        watcher, jobs = _watcher(tmp_path / "jobs.db", f"{bucket}/in", dav)
        try:
            assert await watcher.poll() == 0
            assert await watcher.poll() == 1  # the new object, though first in key order
            assert await watcher.poll() == 0
            user.put(f"{bucket}/in/a.jpg", content=b"new content")  # a new version: new etag
            await watcher.poll()
            assert await watcher.poll() == 1
            keys = _keys(jobs)
            assert keys.count(f"{bucket}/in/a.jpg") == 2 and keys.count(f"{bucket}/in/b.jpg") == 1
            assert f"{bucket}/in/0-first-in-key-order.jpg" in keys
            assert all("elsewhere" not in k for k in keys)
        finally:
            jobs.close()


async def test_a_file_still_being_written_is_taken_once_whole(
    webdav: DavServer, dav: WebDavStore, tmp_path: Path
) -> None:
    bucket = webdav.new_bucket()
    watcher, jobs = _watcher(tmp_path / "jobs.db", f"{bucket}/in", dav)
    try:
        growing = webdav.folder / bucket / "in" / "scan.tif"
        growing.parent.mkdir(parents=True)
        with growing.open("wb") as upload:  # as a WebDAV server writes an upload, in place
            upload.write(b"first half")
            upload.flush()
            assert await watcher.poll() == 0
            upload.write(b" and the rest")
            upload.flush()
            assert await watcher.poll() == 0  # it changed since the last pass: not yet
        assert await watcher.poll() == 1  # the upload ended: unchanged since the last pass
        assert await watcher.poll() == 0
        (item,) = jobs.get(jobs.list("thumbs", None)[0].id).items
        assert item.key == f"{bucket}/in/scan.tif"
        assert await dav.get(item.key) == b"first half and the rest"
    finally:
        jobs.close()
