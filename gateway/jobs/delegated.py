"""Job items delegated to a service's members, as OSCAR delegates jobs, and followed.

An item whose service cannot take it here (not ready: starting, restarting, failed, stopped) goes
to a member's ``POST /job/<service>`` with OSCAR's delegated body ``{"storage_provider":
"minio.<store>", "event": <storage event of the item's object>}`` and the headers
``X-Delegated-Job-ID`` and ``X-Delegated-From``; the member reads the object from its store of
the same id (a store both reach). The object's "etag" in that event is the item's own id, so the
same item sent again (after a restart here) is the same job there, not a second one.

A member that names its job (``X-Job-Id``: a gateway of this project) is polled at its ``GET
/jobs/<id>`` until the item ends there; the item here then ends the same way, with its result
and error, and its log says where it ran. While it runs there, its log here says so already. An
OSCAR cluster does not name its job: the item ends ``succeeded`` once the member took it (its log
says it was not followed). Items of jobs that were themselves delegated here are never delegated
again; nor are items no member takes: those run here as any item.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson

from gateway.config import Settings
from gateway.errors import Unavailable
from gateway.federation import DELEGATED_JOB, Delegator, Member, MemberFailed, has_members
from gateway.jobs.model import FINISHED, Answer, Item
from gateway.jobs.runner import failed
from gateway.jobs.store import JobStore
from gateway.services import ServiceSpec

log = logging.getLogger("gateway.jobs.delegated")

DELEGATED_SOURCE = "delegated"  # the source of a job a member made here for another gateway
_NOT_HERE = frozenset({"starting", "restarting", "failed", "stopped"})


class DelegatedItems:
    """Sends job items to members and follows them there."""

    def __init__(self, settings: Settings, store: JobStore, delegator: Delegator) -> None:
        self._settings = settings
        self._store = store
        self._delegator = delegator

    def wanted(self, spec: ServiceSpec, state: str) -> bool:
        """Whether the service's items go to its members now."""
        return has_members(spec) and state in _NOT_HERE

    async def run(self, spec: ServiceSpec, items: Sequence[Item]) -> tuple[list[Item], list[Item]]:
        """The items that ran at a member (finished), and those left to run here."""
        sources: dict[str, str] = {}
        for item in items:
            if item.job_id not in sources:
                sources[item.job_id] = self._store.get(item.job_id, answers=False).source
        outcomes = await asyncio.gather(
            *(self._one(spec, item) for item in items if sources[item.job_id] != DELEGATED_SOURCE)
        )
        sent = iter(outcomes)
        done: list[Item] = []
        here: list[Item] = []
        for item in items:
            outcome = next(sent) if sources[item.job_id] != DELEGATED_SOURCE else None
            (here if outcome is None else done).append(outcome or item)
        return done, here

    async def _one(self, spec: ServiceSpec, item: Item) -> Item | None:
        item_id = f"{item.job_id}/{item.index}"
        bucket, _, key = item.key.partition("/")
        event = {
            "Records": [
                {
                    "eventSource": "minio:s3",
                    "s3": {"bucket": {"name": bucket}, "object": {"key": key, "eTag": item_id}},
                }
            ]
        }
        body = orjson.dumps({"storage_provider": f"minio.{item.storage}", "event": event})
        try:
            answer = await self._delegator.send(
                spec,
                "POST",
                "/job/{service}",
                body=body,
                headers={"Content-Type": "application/json", DELEGATED_JOB: item_id},
                timeout=self._settings.delegation_timeout,
                only_success=True,
            )
        except Unavailable as exc:
            log.warning("job item %s of %s runs here: %s", item_id, spec.name, exc.message)
            return None
        member = answer.member
        if answer.job_id is None:
            note = f"delegated to {member.name} (it names no job: not followed)"
            return replace(item, state="succeeded", log=note, error=None)
        note = f"delegated to {member.name} as its job {answer.job_id}"
        self._store.finish([replace(item, log=note)])  # still running: GET /jobs/{id} says where
        return await self._follow(item, member, answer.job_id, note)

    async def _follow(self, item: Item, member: Member, job_id: str, note: str) -> Item:
        interval = self._settings.delegation_poll_interval
        while True:
            try:
                answer = await self._delegator.client.send(
                    member, "GET", f"/jobs/{job_id}", body=None, headers={},
                    timeout=self._settings.delegation_timeout,
                )  # fmt: skip
                job = orjson.loads(answer.body) if answer.status == 200 else None
            except (MemberFailed, orjson.JSONDecodeError) as exc:
                log.info("job %s at %s: %s; asked again in %.1f s", job_id, member.name, exc,
                         interval)  # fmt: skip
                job = None
            if isinstance(job, dict) and job.get("status") in FINISHED:
                return _ended(item, job, note)
            await asyncio.sleep(interval)


def _ended(item: Item, job: dict[str, Any], note: str) -> Item:
    """The item here, ended as the member's item ended."""
    remote = (job.get("items") or [{}])[0]
    state = remote.get("status", job["status"])
    text = "\n".join(filter(None, [note, str(remote.get("log") or "")]))
    if state != "succeeded":
        error = remote.get("error") or {"code": "failed", "message": f"{state} at the member"}
        return replace(failed(item, error), log=text)
    answer = None
    if "result" in remote:
        document = remote["result"]
        answer = Answer("result.json", len(orjson.dumps(document)), document)
    return replace(item, state="succeeded", error=None, log=text, answer=answer)
