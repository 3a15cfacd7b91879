"""The store of the cluster a job was delegated from, as OSCAR reads a delegated job's input.

OSCAR delegates a job with ``{"storage_provider": "<origin cluster id>", "event": ...}``: the
member reads the event's object from the origin's MinIO, whose endpoint and keys it fetches from
the origin's ``GET /system/config`` (``minio_provider``), with the Basic credentials of that
cluster in its own ``clusters:``. Here such an event names the store ``origin.<cluster>``
(`gateway.jobs.oscar_submit.event_storage`); `OriginStore` is that store: an S3 store built on
first use from the origin's answer and kept (an answer that failed is asked again at the next
use). The job's outputs go to the service's own output bindings, as any job's.
"""

from __future__ import annotations

import asyncio

from gateway.errors import InvalidInput, UpstreamError
from gateway.federation import MemberClient, MemberFailed
from gateway.jobs.clusters import cluster_member
from gateway.registry import Registry
from gateway.storage import ObjectStore
from gateway.storage.base import ObjectInfo

ORIGIN_PREFIX = "origin."


def origin_storage(cluster: str) -> str:
    """The name of the store of the cluster ``cluster`` (a job delegated from there)."""
    return ORIGIN_PREFIX + cluster


class OriginStore:
    """The `ObjectStore` of a delegating cluster (read: its jobs' inputs; nothing is written)."""

    def __init__(self, cluster: str, registry: Registry, client: MemberClient) -> None:
        self._cluster = cluster
        self._registry = registry
        self._client = client
        self._store: ObjectStore | None = None
        self._lock = asyncio.Lock()

    async def _objects(self) -> ObjectStore:
        async with self._lock:
            if self._store is None:
                self._store = await self._build()
            return self._store

    async def _build(self) -> ObjectStore:
        member = cluster_member(self._registry, self._cluster, "")
        if member is None:
            raise InvalidInput(f"no cluster {self._cluster!r} is declared under 'clusters'")
        try:
            config = await self._client.system_config(member)
        except MemberFailed as exc:
            raise UpstreamError(f"cluster {self._cluster!r}: {exc}") from None
        provider = config.get("minio_provider")
        endpoint = provider.get("endpoint") if isinstance(provider, dict) else None
        if not isinstance(provider, dict) or not endpoint:
            raise UpstreamError(f"cluster {self._cluster!r} names no MinIO in /system/config")
        from gateway.storage.s3 import S3Store  # boto3: only where S3 is used

        return S3Store(
            str(endpoint),
            str(provider.get("access_key") or "") or None,
            str(provider.get("secret_key") or "") or None,
            str(provider.get("region") or "us-east-1"),
        )

    async def get(self, key: str) -> bytes:
        return await (await self._objects()).get(key)

    async def exists(self, key: str) -> bool:
        return await (await self._objects()).exists(key)

    async def list(self, prefix: str, start_after: str | None = None) -> list[ObjectInfo]:
        return await (await self._objects()).list(prefix, start_after)

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        return await (await self._objects()).put(key, data, content_type)

    async def delete(self, key: str) -> None:
        await (await self._objects()).delete(key)

    async def aclose(self) -> None:
        if self._store is not None:
            await self._store.aclose()
