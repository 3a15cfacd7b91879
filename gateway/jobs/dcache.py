"""DcacheEvents: dCache's storage events (its frontend's SSE channels) as a source of jobs.

For a WebDAV storage with an ``events_url`` (dCache's frontend, ``https://<host>:3880``), the
gateway keeps one channel (``POST /api/v1/events/channels``, the URL in ``Location``), subscribes
it to ``inotify`` events with ``IN_CLOSE_WRITE`` and ``IN_MOVED_TO`` on every input folder of the
services in that storage (``POST <channel>/subscriptions/inotify {"path", "flags"}``; a folder that
does not exist yet is created, as dCache requires it), and reads the channel as
``text/event-stream``. A file closed after writing, or moved in whole (as this gateway's own writes
are), becomes a job through the intake, with the etag a listing shows (read with PROPFIND), so the
bucket watcher, still polling as a safety net, never makes it a job a second time.

Connection losses are retried with a doubling delay (1 s to 30 s), sending ``Last-Event-ID`` so
dCache resends what was missed; a channel dCache dropped (404: idle past its timeout) is created
again, and what happened meanwhile is the watcher's to find. The channel, its subscriptions and the
last event id handled are kept in a small JSON file, so a restarted gateway resumes the same
channel. The id is saved only once its job exists: a crash in between replays the event, and the
intake's deduplication keeps it one job. Events are dCache's documented format; this client was
tested against a server replaying that format, not against a real dCache.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from gateway.errors import GatewayError, InvalidInput
from gateway.jobs.bindings import prefix_of
from gateway.jobs.intake import Intake
from gateway.jobs.model import ObjectRef
from gateway.jobs.sse import SseEvent, read_events
from gateway.registry import Registry
from gateway.storage import ObjectStore, check_key
from gateway.storage.webdav import WebDavStore

log = logging.getLogger("gateway.jobs.dcache")
FLAGS = ("IN_CLOSE_WRITE", "IN_MOVED_TO")
_STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=None)


class DcacheEvents:
    """One storage's dCache event channel, turned into jobs (run `run` as a task)."""

    def __init__(
        self,
        storage: str,
        store: WebDavStore,
        events_url: str,
        registry: Registry,
        intake: Intake,
        state_path: Path,
        *,
        retry_delay: float = 1.0,
        max_delay: float = 30.0,
    ) -> None:
        self.storage = storage
        self._store = store
        self._channels = events_url.rstrip("/") + "/api/v1/events/channels"
        self._registry = registry
        self._intake = intake
        self._state_path = state_path
        self._retry_delay = retry_delay
        self._max_delay = max_delay
        state = _load(state_path)
        self.channel: str | None = state.get("channel")
        self.last_event_id: str | None = state.get("last_event_id")
        self._subscriptions: dict[str, str] = state.get("subscriptions") or {}  # url -> folder

    def folders(self) -> set[str]:
        """The input folders of the services whose input is in this storage."""
        return {
            prefix_of(binding).rstrip("/")
            for entry in self._registry
            for binding in entry.spec.input
            if binding.storage == self.storage
        }

    async def run(self) -> None:
        """Follow the channel until cancelled, reconnecting after any failure."""
        delay = self._retry_delay
        while True:
            try:
                if await self._follow():
                    delay = self._retry_delay  # it delivered events: reconnect at once
                    continue
            except GatewayError as exc:
                log.warning("dCache events of %s: %s", self.storage, exc.message)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("dCache events of %s: connection lost: %r", self.storage, exc)
            except Exception:  # a bug: keep following; the watcher covers what is missed
                log.exception("dCache events of %s failed", self.storage)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_delay)

    async def _follow(self) -> bool:
        """One connection: ensure the channel and subscriptions, read events until it closes;
        True if any event came."""
        session = self._store.session()
        if self.channel is None:
            await self._open_channel(session)
        await self._subscribe(session)
        headers = {"Accept": "text/event-stream"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        assert self.channel is not None
        async with session.get(self.channel, headers=headers, timeout=_STREAM_TIMEOUT) as answer:
            if answer.status == 404:  # dCache removed the idle channel: open a new one
                log.info("dCache events of %s: channel gone, opening a new one", self.storage)
                self.channel, self._subscriptions, self.last_event_id = None, {}, None
                self._save()
                return True
            if answer.status != 200:
                raise self._store.error_for(f"events channel {self.channel}", answer.status)
            log.info("dCache events of %s: following %s", self.storage, self.channel)
            got = False
            async for event in read_events(answer.content):
                got = True
                await self._handle(event)
            return got

    async def _open_channel(self, session: aiohttp.ClientSession) -> None:
        body = {"client-id": f"inference-gateway-{self.storage}"}
        async with session.post(self._channels, json=body) as answer:
            if answer.status != 201 or "Location" not in answer.headers:
                what = f"create events channel {self._channels}"
                raise self._store.error_for(what, answer.status)
            self.channel = answer.headers["Location"]
        self._subscriptions, self.last_event_id = {}, None
        self._save()

    async def _subscribe(self, session: aiohttp.ClientSession) -> None:
        """Subscribe the channel to every input folder it does not watch yet."""
        watched = set(self._subscriptions.values())
        for folder in sorted(self.folders() - watched):
            await self._store.ensure_folder(folder)  # dCache: "the target must exist"
            body = {"path": self._store.path_of(folder), "flags": list(FLAGS)}
            url = f"{self.channel}/subscriptions/inotify"
            async with session.post(url, json=body) as answer:
                if answer.status != 201 or "Location" not in answer.headers:
                    raise self._store.error_for(f"subscribe to {folder}", answer.status)
                self._subscriptions[answer.headers["Location"]] = folder
            self._save()

    async def _handle(self, event: SseEvent) -> None:
        try:
            data = json.loads(event.data)
        except ValueError:
            data = None
        if isinstance(data, dict):
            if event.event == "inotify":
                await self._inotify(data)
            elif event.event == "SYSTEM" and data.get("type") == "SUBSCRIPTION_CLOSED":
                self._subscriptions.pop(str(data.get("subscription")), None)
        if event.id is not None and event.id != self.last_event_id:
            self.last_event_id = event.id
            self._save()

    async def _inotify(self, data: dict[str, Any]) -> None:
        folder = self._subscriptions.get(str(data.get("subscription")))
        detail = data.get("event")
        if folder is None or not isinstance(detail, dict):
            return
        mask = set(detail.get("mask") or ())
        if "IN_Q_OVERFLOW" in mask:
            log.warning("dCache events of %s: events were lost; the watcher will catch up",
                        self.storage)  # fmt: skip
        if "IN_IGNORED" in mask:
            self._subscriptions = {u: f for u, f in self._subscriptions.items() if f != folder}
        if "IN_ISDIR" in mask or not mask & set(FLAGS) or not detail.get("name"):
            return
        try:
            key = check_key(f"{folder}/{detail['name']}")
        except InvalidInput:  # a hidden (part) file, or a name that is no object key
            return
        info = await self._store.stat(key)
        if info is None:  # gone again already
            return
        ref = ObjectRef(self.storage, key, info.etag)
        jobs = await self._intake.objects_created([ref], "dcache")
        if jobs:
            log.info("dCache event: %s -> job %s", key, jobs[0].id)

    def _save(self) -> None:
        state = {
            "channel": self.channel,
            "last_event_id": self.last_event_id,
            "subscriptions": self._subscriptions,
        }
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        temp = self._state_path.with_suffix(".tmp")
        temp.write_text(json.dumps(state))
        os.replace(temp, self._state_path)


def _load(path: Path) -> dict[str, Any]:
    with contextlib.suppress(FileNotFoundError, ValueError):
        state = json.loads(path.read_text())
        if isinstance(state, dict):
            return state
    return {}


def event_sources(
    stores: Mapping[str, ObjectStore], registry: Registry, intake: Intake, data_dir: Path
) -> list[DcacheEvents]:
    """One `DcacheEvents` per WebDAV store with an ``events_url`` (its state in `data_dir`)."""
    sources = []
    for name, objects in stores.items():
        if isinstance(objects, WebDavStore) and objects.events_url:
            state = data_dir / f"dcache-events-{name}.json"
            sources.append(DcacheEvents(name, objects, objects.events_url, registry, intake, state))
    return sources
