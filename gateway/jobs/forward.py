"""Pipelines across gateways: posts what waits in the outbox to the other cluster's service.

Each file goes to ``<cluster endpoint>/job/<service>`` as OSCAR takes an input there (its
base64 in the body), with the service's token fetched as for a member (`gateway.federation`:
Basic on the cluster's ``GET /system/services/<service>``). The cluster's endpoint and
credentials are those of ``clusters:`` in the definitions of the services here. A member's URL
(a binding's storage ``https://host:port``) is posted to as it is, with the Basic credentials of
the cluster of that endpoint when ``clusters:`` has one. A file is
deleted from the outbox once the other side answered 2xx; until then it is sent again every
``delegation_retry_interval`` seconds, oldest first, however long the other side is down. Each
file carries a stable ``X-Delegated-Job-ID`` (`Parcel.delivery_id`, prefixed with this cluster's
id): a crash between the other side's answer and the delete sends it once more, and the other
side answers the job it made the first time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging

from gateway.config import Settings
from gateway.federation import DELEGATED_JOB, Member, MemberClient, MemberFailed
from gateway.jobs.clusters import cluster_member
from gateway.jobs.outbox import Outbox, Parcel
from gateway.registry import Registry

log = logging.getLogger("gateway.jobs.forward")


class Forwarder:
    """The loop that empties the outbox."""

    def __init__(
        self, settings: Settings, outbox: Outbox, registry: Registry, client: MemberClient
    ) -> None:
        self._settings = settings
        self._outbox = outbox
        self._registry = registry
        self._client = client
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """A file was put in the outbox."""
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            self._wakeup.clear()
            waiting = False
            for parcel in self._outbox.pending():
                if not await self._send(parcel):
                    waiting = True
            timeout = self._settings.delegation_retry_interval if waiting else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _send(self, parcel: Parcel) -> bool:
        member = self._member(parcel)
        if member is None:
            error = f"no cluster {parcel.cluster!r} is declared under 'clusters'"
        elif not parcel.service:
            error = "the binding's path names no service"
        else:
            try:
                answer = await self._client.send(
                    member, "POST", f"/job/{member.service}",
                    body=base64.b64encode(parcel.data),
                    headers={
                        "Content-Type": "text/plain",
                        DELEGATED_JOB: f"{self._client.origin}-{parcel.delivery_id}",
                    },
                    timeout=self._settings.delegation_timeout, hop=False,
                )  # fmt: skip
            except MemberFailed as exc:
                error = str(exc)
            else:
                if 200 <= answer.status < 300:
                    self._outbox.sent(parcel)
                    log.info("sent %s to %s's service %s", parcel.key, member.name, member.service)
                    return True
                error = f"it answered {answer.status}"
        if parcel.attempts == 0 or parcel.attempts % 20 == 0:
            log.warning("%s for %s waits: %s", parcel.key, parcel.storage, error)
        self._outbox.retry(parcel, error)
        return False

    def _member(self, parcel: Parcel) -> Member | None:
        return cluster_member(self._registry, parcel.cluster, parcel.service)
