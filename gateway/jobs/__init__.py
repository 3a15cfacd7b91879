"""The async job path: durable jobs, workers, event sources, pipelines (`JobService`).

With a Kubernetes backend enabled, the jobs of Kubernetes-backed services with S3 storage run as
``batch/v1`` Jobs (`gateway.jobs.kube`); every other job goes through the service's endpoint.
Outputs bound for another cluster's service wait in the outbox until it takes them
(`gateway.jobs.outbox`, `gateway.jobs.forward`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.routing import Route

from gateway.auth import Authenticator
from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.federation import Delegator
from gateway.jobs.dcache import event_sources
from gateway.jobs.delegated import DelegatedItems
from gateway.jobs.forward import Forwarder
from gateway.jobs.intake import Intake
from gateway.jobs.model import Item, Job, ObjectRef
from gateway.jobs.origin import OriginStore
from gateway.jobs.outbox import Outbox, StoreMap
from gateway.jobs.routes import JobRoutes
from gateway.jobs.runner import ItemRunner
from gateway.jobs.store import JobStore
from gateway.jobs.watcher import BucketWatcher
from gateway.jobs.workers import Workers
from gateway.metrics import GatewayMetrics
from gateway.proxy import Proxy
from gateway.registry import Registry
from gateway.services import ServiceSpec
from gateway.storage import ObjectStore, check_stores

if TYPE_CHECKING:
    from gateway.jobs.kube import KubeJobs

__all__ = ["Item", "Job", "JobService", "JobStore", "ObjectRef"]
log = logging.getLogger("gateway.jobs")


class JobService:
    """Everything of the job path, started and stopped with the gateway."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        proxy: Proxy,
        stores: Mapping[str, ObjectStore],
        auth: Authenticator | None = None,
        metrics: GatewayMetrics | None = None,
        delegator: Delegator | None = None,
    ) -> None:
        jobs_db = settings.jobs_db or settings.data_dir / "jobs.db"
        self.store = JobStore(jobs_db)
        self.outbox = Outbox(jobs_db) if delegator is not None else None
        self.forwarder = (
            Forwarder(settings, self.outbox, registry, delegator.client)
            if self.outbox is not None and delegator is not None
            else None
        )
        clients = delegator.client if delegator is not None else None

        def origin(cluster: str) -> ObjectStore:
            if clients is None:
                raise KeyError(cluster)
            return OriginStore(cluster, registry, clients)

        self.stores = StoreMap(stores, self.outbox, self._forward, origin)
        self.runner = runner = ItemRunner(
            registry, proxy, self.stores, self._pipeline,
            upstream_timeout=settings.upstream_timeout,
            result_max_bytes=settings.job_result_max_bytes,
        )  # fmt: skip
        self.kube: KubeJobs | None = None
        if {"knative", "deployment"} & set(settings.backends) or self.store.unfinished_kube_jobs():
            from gateway.jobs.kube import KubeJobs  # the kubernetes client: only where used

            self.kube = KubeJobs(
                settings, self.store, registry, self.stores, self._pipeline, metrics
            )
        delegated = DelegatedItems(settings, self.store, delegator) if delegator else None
        self.workers = Workers(
            settings, self.store, registry, runner, metrics, self.kube, delegated
        )
        self.intake = Intake(self.store, registry, self.stores, self.workers.wake)
        self.watcher = BucketWatcher(
            self.store, registry, self.stores, self.intake, settings.watch_interval
        )
        self._routes = JobRoutes(
            settings, self.store, self.intake, registry, auth or Authenticator(settings),
            self.stores,
        )  # fmt: skip
        self._watching: asyncio.Task[None] | None = None
        self._forwarding: asyncio.Task[None] | None = None
        self._events: list[asyncio.Task[None]] = []
        self._registry, self._data_dir = registry, settings.data_dir
        if settings.events_token is None and settings.admin_token is not None:
            log.info("POST /events/s3 takes the admin token: set GATEWAY_EVENTS_TOKEN for its own")

    async def _pipeline(self, written: list[ObjectRef]) -> None:
        """Outputs that are another service's inputs become its jobs at once."""
        if written:
            await self.intake.objects_created(written, "pipeline")

    async def store_outputs(
        self, spec: ServiceSpec, files: list[tuple[str, bytes]]
    ) -> list[ObjectRef]:
        """Store a synchronous call's output files as a job's would be (pipelines follow)."""
        written = [output.ref for output in await self.runner.write(spec, files)]
        await self._pipeline(written)
        return written

    def _forward(self) -> None:
        if self.forwarder is not None:
            self.forwarder.wake()

    def routes(self) -> list[Route]:
        return self._routes.routes()

    async def start(self) -> None:
        """Check the stores, resume interrupted work, start the bucket watcher and the storage
        event sources (dCache)."""
        try:
            await check_stores(self.stores)
        except GatewayError:  # the gateway does not start: release what the stores opened
            for objects in self.stores.values():
                await objects.aclose()
            raise
        self.workers.start()
        if self.kube is not None:
            self.kube.resume()
        self._watching = asyncio.create_task(self.watcher.run(), name="bucket-watcher")
        if self.forwarder is not None:
            self._forwarding = asyncio.create_task(self.forwarder.run(), name="outbox")
        self._events = [
            asyncio.create_task(source.run(), name=f"events-{source.storage}")
            for source in event_sources(self.stores, self._registry, self.intake, self._data_dir)
        ]

    async def aclose(self) -> None:
        for task in [self._watching, self._forwarding, *self._events]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.workers.aclose()
        if self.kube is not None:
            await self.kube.aclose()
        for objects in self.stores.values():
            await objects.aclose()
        self.store.close()
        if self.outbox is not None:
            self.outbox.close()
