"""Intake: where jobs are born. API uploads, S3 events, the bucket watcher and pipeline outputs
all come through here, under one lock, so that an object becomes exactly one job.

API uploads always make a job (the client asked for it) and mark their objects seen; the other
sources make a job only for objects (storage, key, etag) never seen before. The lock spans an
upload and its job's creation, so the watcher cannot claim an object between the two.

An upload that carries an idempotency id (``X-Delegated-Job-ID``: another gateway's outbox sends
a file again after a crash between the answer and its delete) makes a job once: the same id
again is that job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from gateway.errors import InvalidInput, NotFound
from gateway.jobs.bindings import consumers, input_binding
from gateway.jobs.model import Job, ObjectRef
from gateway.jobs.store import JobStore
from gateway.registry import Registry
from gateway.storage import ObjectStore, check_key, join_key

_REQUESTS = "~request"  # the `seen` rows of idempotency ids: (this, id, "")


class Intake:
    """Turns uploaded files and created objects into queued jobs."""

    def __init__(
        self,
        store: JobStore,
        registry: Registry,
        stores: Mapping[str, ObjectStore],
        wake: Callable[[str], None],
    ) -> None:
        self._store = store
        self._registry = registry
        self._stores = stores
        self._wake = wake
        self._lock = asyncio.Lock()

    async def submit(
        self,
        service: str,
        files: Sequence[tuple[str, bytes, str | None]],
        source: str = "api",
        request_id: str | None = None,
    ) -> Job:
        """Store `files` (name, data, content type) under the service's input path: one job
        (`request_id` seen before: the job it made, nothing stored)."""
        spec = self._registry.get(service).spec
        binding = input_binding(spec)
        objects = self._stores.get(binding.storage)
        if objects is None:
            raise InvalidInput(f"service {service!r}: storage {binding.storage!r} is not defined")
        names = [_file_name(name) for name, _, _ in files]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidInput(f"file name(s) sent twice in one job: {', '.join(twice)}")
        keys = [join_key(binding.path, name) for name in names]
        claim = ObjectRef(_REQUESTS, request_id, "") if request_id else None
        async with self._lock:
            taken = self._store.seen_job(claim) if claim else None
            if taken is not None:
                return self._store.get(taken)
            refs = []
            for key, (_, data, content_type) in zip(keys, files, strict=True):
                info = await objects.put(key, data, content_type)
                refs.append(ObjectRef(binding.storage, key, info.etag))
            job = self._store.create(service, source, refs, dedup=False, claim=claim)
        assert job is not None
        self._wake(service)
        return job

    async def submit_object(self, service: str, ref: ObjectRef, source: str = "api") -> Job:
        """An object already in storage, named by a request (OSCAR's storage event posted to
        ``/job``): one job of `service`, or the job that already took this object."""
        self._registry.get(service)
        objects = self._stores.get(ref.storage)
        if objects is None:
            raise InvalidInput(f"service {service!r}: storage {ref.storage!r} is not defined")
        if not await objects.exists(check_key(ref.key)):
            raise NotFound(f"no object {ref.key!r} in storage {ref.storage!r}")
        async with self._lock:
            job = self._store.create(service, source, [ref], dedup=True)
            if job is None:
                taken = self._store.seen_job(ref)
                assert taken is not None
                return self._store.get(taken)
        self._wake(service)
        return job

    async def objects_created(self, refs: Sequence[ObjectRef], source: str) -> list[Job]:
        """One job per consuming service for the objects not seen before.

        A ref with an empty ``storage`` (an S3 event: the bucket is all it names) goes to every
        service whose input path covers its key, in whichever storage that binding names.
        """
        routed: dict[str, list[ObjectRef]] = {}
        specs = [entry.spec for entry in self._registry]
        for ref in refs:
            for spec, binding in consumers(specs, ref.storage or None, ref.key):
                routed.setdefault(spec.name, []).append(
                    ObjectRef(binding.storage, ref.key, ref.etag)
                )
        jobs = []
        async with self._lock:
            for service, service_refs in routed.items():
                job = self._store.create(service, source, service_refs, dedup=True)
                if job is not None:
                    jobs.append(job)
                    self._wake(service)
        return jobs


def _file_name(name: str) -> str:
    """The base name of an uploaded file (a client may send a path); must be a safe key part."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base in (".", "..") or base.startswith("."):
        raise InvalidInput(f"invalid file name {name!r}")
    return base
