"""BucketWatcher: polls the input prefixes of every service, in any object store.

For stores that send no notifications (SeaweedFS, a plain filesystem), every ``watch_interval``
seconds it lists each service's input prefix and hands the objects not seen before (by storage,
key and etag) to the intake. The ``seen`` table of the job store is its checkpoint: durable, in
the same SQLite file, written in the transaction that creates the job, so a restart neither
loses nor repeats an object. It holds every key, not only the last one listed, because uploads
do not arrive in key order.

On a store where another client's upload is listed while it is being written (WebDAV:
``partial_uploads_visible``), an object becomes a job only once two passes in a row list it with the
same etag, so a file is taken whole, once, not each time it grows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from gateway.errors import GatewayError
from gateway.jobs.bindings import prefix_of
from gateway.jobs.intake import Intake
from gateway.jobs.model import ObjectRef
from gateway.jobs.store import JobStore
from gateway.registry import Registry
from gateway.storage import ObjectStore

log = logging.getLogger("gateway.jobs.watcher")


class BucketWatcher:
    """Turns new objects under services' input paths into jobs, by polling."""

    def __init__(
        self,
        store: JobStore,
        registry: Registry,
        stores: Mapping[str, ObjectStore],
        intake: Intake,
        interval: float,
    ) -> None:
        self._store = store
        self._registry = registry
        self._stores = stores
        self._intake = intake
        self._interval = interval
        self._pending: dict[tuple[str, str], set[ObjectRef]] = {}

    def prefixes(self) -> set[tuple[str, str]]:
        """(storage, key prefix) of every service's input bindings."""
        return {
            (binding.storage, prefix_of(binding))
            for entry in self._registry
            for binding in entry.spec.input
        }

    async def poll(self) -> int:
        """One pass over every input prefix; returns how many jobs it made."""
        made = 0
        for storage, prefix in sorted(self.prefixes()):
            objects = self._stores.get(storage)
            if objects is None:
                continue
            try:
                listed = await objects.list(prefix)
            except GatewayError as exc:
                log.warning("cannot list %s in storage %s: %s", prefix, storage, exc.message)
                continue
            refs = self._store.unseen(ObjectRef(storage, o.key, o.etag) for o in listed)
            if getattr(objects, "partial_uploads_visible", False):
                refs = self._settled((storage, prefix), refs)
            if refs:
                made += len(await self._intake.objects_created(refs, "watcher"))
        return made

    def _settled(self, where: tuple[str, str], refs: list[ObjectRef]) -> list[ObjectRef]:
        """The refs the previous pass listed unchanged; the others wait for the next pass."""
        before = self._pending.get(where, set())
        self._pending[where] = set(refs)
        return [ref for ref in refs if ref in before]

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            try:
                made = await self.poll()
                if made:
                    log.info("bucket watcher: %d new job(s)", made)
            except Exception:  # keep watching; the next pass may work
                log.exception("bucket watcher pass failed")
            await asyncio.sleep(self._interval)
