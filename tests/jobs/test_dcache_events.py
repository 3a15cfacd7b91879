"""dCache storage events (SSE channels) as a job source, against a frontend served by the test that
speaks dCache's documented channel API and event format (dCache User Guide, "Storage Events"), with
the files themselves on a real WebDAV server. Not run against a real dCache.

The frontend sends recorded-format events: ``IN_CREATE`` then ``IN_CLOSE_WRITE`` of an upload, a
hidden part file, an ``IN_MOVED_TO``; it breaks the first connection, checks the client resumes
with ``Last-Event-ID``, and later forgets the channel (404) to check it is created again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from gateway.jobs.dcache import DcacheEvents
from gateway.jobs.intake import Intake
from gateway.jobs.store import JobStore
from gateway.registry import Registry
from gateway.services import ServiceSpec, StorageIO
from gateway.storage.webdav import WebDavStore
from tests.jobs.fakes import StuckBackend
from tests.support import free_port
from tests.webdav import DavServer


@dataclass
class Frontend:
    """A dCache frontend's events API: channels, inotify subscriptions, the SSE stream."""

    auth: str
    url: str = ""
    channels: list[str] = field(default_factory=list)
    subscriptions: list[dict[str, object]] = field(default_factory=list)
    last_event_ids: list[str | None] = field(default_factory=list)
    streams: list[list[list[str]]] = field(default_factory=list)  # new events, per connection
    drop: asyncio.Event = field(default_factory=asyncio.Event)
    gone: bool = False  # answer 404 for the channel (dCache dropped it)
    connected: asyncio.Condition = field(default_factory=asyncio.Condition)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/events/channels", self.create_channel)
        app.router.add_post("/api/v1/events/channels/{id}/subscriptions/inotify", self.subscribe)
        app.router.add_get("/api/v1/events/channels/{id}", self.stream)
        return app

    def _authorised(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != self.auth:
            raise web.HTTPUnauthorized()

    async def create_channel(self, request: web.Request) -> web.Response:
        self._authorised(request)
        assert (await request.json())["client-id"] == "inference-gateway-webdav.dcache"
        channel = f"{self.url}/api/v1/events/channels/ch{len(self.channels)}"
        self.channels.append(channel)
        self.gone = False
        return web.Response(status=201, headers={"Location": channel})

    async def subscribe(self, request: web.Request) -> web.Response:
        self._authorised(request)
        self.subscriptions.append(await request.json())
        where = f"{self.url}{request.path}/sub{len(self.subscriptions)}"
        return web.Response(status=201, headers={"Location": where})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        self._authorised(request)
        if self.gone or f"{self.url}{request.path}" != self.channels[-1]:
            raise web.HTTPNotFound()
        assert request.headers["Accept"] == "text/event-stream"
        last = request.headers.get("Last-Event-ID")
        async with self.connected:
            self.last_event_ids.append(last)
            self.connected.notify_all()
        answer = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await answer.prepare(request)
        for lines in self.streams.pop(0) if self.streams else []:
            if lines == DROP:  # the connection breaks, once the test says so
                await self.drop.wait()
                assert request.transport is not None
                request.transport.close()
                return answer
            await answer.write("\n".join(lines).encode() + b"\n")
        await asyncio.Event().wait()  # stays open until the client goes
        return answer


DROP = ["DROP"]


def inotify(subscription: str, event_id: int, name: str, *mask: str) -> list[str]:
    """One inotify event, in the lines dCache sends (the blank line ends it)."""
    data = {"event": {"name": name, "mask": list(mask)}, "subscription": subscription}
    return ["event: inotify", f"id: {event_id}", f"data: {json.dumps(data)}", ""]


def system(kind: str, subscription: str) -> list[str]:
    data = {"type": kind, "subscription": subscription}
    return ["event: SYSTEM", f"data: {json.dumps(data)}", ""]


@pytest.fixture
async def frontend(webdav: DavServer) -> AsyncIterator[Frontend]:
    from aiohttp import encode_basic_auth

    server = Frontend(auth=encode_basic_auth(webdav.login, webdav.password))
    runner = web.AppRunner(server.app(), handler_cancellation=True)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


@dataclass
class Setup:
    bucket: str
    store: WebDavStore
    jobs: JobStore
    registry: Registry
    intake: Intake
    state: Path

    def source(self, frontend: Frontend) -> DcacheEvents:
        return DcacheEvents(
            "webdav.dcache", self.store, frontend.url, self.registry, self.intake, self.state,
            retry_delay=0.05, max_delay=0.2,
        )  # fmt: skip

    def keys(self) -> list[str]:
        jobs = self.jobs.list("scans", None)
        assert all(job.source == "dcache" for job in jobs)
        return sorted(i.key for j in jobs for i in self.jobs.get(j.id).items)


@pytest.fixture
async def setup(webdav: DavServer, tmp_path: Path) -> AsyncIterator[Setup]:
    bucket = webdav.new_bucket()
    spec = ServiceSpec(
        name="scans", runtime="script", script="true", backend="knative",
        input=(StorageIO(storage="webdav.dcache", path=f"{bucket}/in"),),
    )  # fmt: skip
    registry = Registry({"knative": StuckBackend()})  # type: ignore[dict-item]
    registry.register(spec)
    store = WebDavStore(webdav.url, webdav.login, webdav.password, events_url="set")
    jobs = JobStore(tmp_path / "jobs.db")
    stores = {"webdav.dcache": store}
    intake = Intake(jobs, registry, stores, lambda _: None)
    try:
        yield Setup(bucket, store, jobs, registry, intake, tmp_path / "dcache.json")
    finally:
        jobs.close()
        await store.aclose()


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not condition():
            await asyncio.sleep(0.02)


async def _connections(frontend: Frontend, count: int) -> None:
    async with asyncio.timeout(30), frontend.connected:
        await frontend.connected.wait_for(lambda: len(frontend.last_event_ids) >= count)


async def test_uploads_closed_or_moved_in_become_jobs_once_resuming_after_a_drop(
    frontend: Frontend, setup: Setup, webdav: DavServer
) -> None:
    bucket = setup.bucket
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        await setup.store.put(f"{bucket}/in/{name}", name.encode())
    sub = f"{frontend.url}/api/v1/events/channels/ch0/subscriptions/inotify/sub1"
    frontend.streams = [
        [
            system("NEW_SUBSCRIPTION", sub),
            [": a comment line", ""],
            inotify(sub, 0, "a.jpg", "IN_CREATE"),  # the upload starts: not yet
            inotify(sub, 1, "a.jpg", "IN_CLOSE_WRITE"),
            inotify(sub, 2, ".b.jpg.1f2e.part", "IN_CLOSE_WRITE"),  # a part file: never a job
            inotify(sub, 3, "b.jpg", "IN_MOVED_TO"),  # renamed into place, whole
            inotify(sub, 4, "sub", "IN_MOVED_TO", "IN_ISDIR"),
            DROP,
        ],
        [
            inotify(sub, 5, "c.jpg", "IN_CLOSE_WRITE"),
            inotify(sub, 6, "a.jpg", "IN_CLOSE_WRITE"),  # the same file again: no new job
            inotify(sub, 7, "gone.jpg", "IN_CLOSE_WRITE"),  # deleted before we looked
        ],
    ]
    source = setup.source(frontend)
    task = asyncio.create_task(source.run())
    try:
        await _until(lambda: source.last_event_id == "4")
        frontend.drop.set()
        await _until(lambda: source.last_event_id == "7")
    finally:
        task.cancel()
    assert setup.keys() == [f"{bucket}/in/a.jpg", f"{bucket}/in/b.jpg", f"{bucket}/in/c.jpg"]
    assert frontend.last_event_ids == [None, "4"]  # resumed after the last event it handled
    assert frontend.subscriptions == [
        {"path": f"/dav/{bucket}/in", "flags": ["IN_CLOSE_WRITE", "IN_MOVED_TO"]}
    ]
    assert len(frontend.channels) == 1

    # A restarted gateway resumes the same channel from its saved last event id.
    frontend.streams = [[inotify(sub, 8, "c.jpg", "IN_CLOSE_WRITE")]]
    again = setup.source(frontend)
    task = asyncio.create_task(again.run())
    try:
        await _until(lambda: again.last_event_id == "8")
    finally:
        task.cancel()
    assert frontend.last_event_ids[-1] == "7" and len(frontend.channels) == 1
    assert len(setup.keys()) == 3


async def test_a_channel_dcache_dropped_is_opened_again(frontend: Frontend, setup: Setup) -> None:
    await setup.store.put(f"{setup.bucket}/in/late.jpg", b"late")
    source = setup.source(frontend)
    task = asyncio.create_task(source.run())
    try:
        await _connections(frontend, 1)
        frontend.gone = True  # idle past its timeout: dCache removed it
        sub = f"{frontend.url}/api/v1/events/channels/ch1/subscriptions/inotify/sub2"
        frontend.streams = [[inotify(sub, 0, "late.jpg", "IN_CLOSE_WRITE")]]
        task.cancel()  # the connection breaks; the client comes back to a channel that is gone
        with pytest.raises(asyncio.CancelledError):
            await task
        task = asyncio.create_task(source.run())
        await _until(lambda: setup.keys() == [f"{setup.bucket}/in/late.jpg"])
    finally:
        task.cancel()
    assert len(frontend.channels) == 2 and len(frontend.subscriptions) == 2
    assert frontend.last_event_ids == [None, None]  # a new channel starts from its beginning


async def test_the_frontend_refusing_the_credentials_is_retried_and_logged(
    frontend: Frontend, setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    frontend.auth = "Basic bm90LXRoaXMtb25l"
    source = setup.source(frontend)
    task = asyncio.create_task(source.run())
    try:
        await _until(lambda: "refused the credentials (401)" in caplog.text)
    finally:
        task.cancel()
    assert frontend.channels == [] and "dav-test-password" not in caplog.text
