"""Workers: for each service, a dispatch loop that claims queued items and runs them in batches.

At most ``job_concurrency`` batches of one service are in flight at once (each a request to its
runtime of up to ``batching.max_batch_size`` items). Transient failures (`Retryable` errors,
upstream errors and timeouts, an unreachable object store) are retried ``job_retries`` times,
``job_retry_backoff`` seconds apart at first, doubling each time up to 30 s: an outage shorter than
that bounded window costs nothing. Then the batch's items fail with the last error (``unavailable``
for the object store: safe to submit again) and the job goes on. Items wait in the queue (still
cancellable, without using retries) while their service is starting.

A service whose jobs run as Kubernetes Jobs (`gateway.jobs.kube.KubeJobs.handles`) takes a whole
job per slot instead of a batch: at most ``job_concurrency`` of its Kubernetes Jobs at once.

A service with members that is not ready here sends its items to them
(`gateway.jobs.delegated`) instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gateway.config import Settings
from gateway.errors import GatewayError, Retryable, ServiceNotFound, UpstreamError, UpstreamTimeout
from gateway.federation import state_here
from gateway.jobs.model import Item
from gateway.jobs.runner import ItemRunner, failed
from gateway.jobs.store import JobStore
from gateway.metrics import GatewayMetrics
from gateway.registry import Registry
from gateway.retry import job_retry_policy, retry
from gateway.services import ServiceSpec

if TYPE_CHECKING:  # the kubernetes client loads only where a Kubernetes backend is enabled
    from gateway.jobs.delegated import DelegatedItems
    from gateway.jobs.kube import KubeJobs

log = logging.getLogger("gateway.jobs")
_IDLE_POLL = 5.0  # seconds: a safety net; new work wakes the loop at once


def _transient(error: BaseException) -> bool:
    """What a batch is retried after: `Retryable` errors, upstream errors and timeouts."""
    return isinstance(error, Retryable | UpstreamError | UpstreamTimeout)


class Workers:
    """Per-service dispatch loops over the durable queue."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        registry: Registry,
        runner: ItemRunner,
        metrics: GatewayMetrics | None = None,
        kube: KubeJobs | None = None,
        delegated: DelegatedItems | None = None,
    ) -> None:
        self._delegated = delegated
        self._metrics = metrics
        self._kube = kube
        self._settings = settings
        self._store = store
        self._registry = registry
        self._runner = runner
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}

    def start(self) -> None:
        """Re-queue what a previous process left running, and serve every queue with work."""
        requeued = self._store.requeue_running()
        if requeued:
            log.warning("re-queued %d job item(s) interrupted by a restart", requeued)
        for service in self._store.services_with_work():
            self.wake(service)

    def wake(self, service: str) -> None:
        """New work for `service`: start its loop if needed and wake it."""
        event = self._wakeups.setdefault(service, asyncio.Event())
        loop = self._loops.get(service)
        if loop is None or loop.done():
            self._loops[service] = asyncio.create_task(self._serve(service), name=f"jobs-{service}")
        event.set()

    async def aclose(self) -> None:
        """Stop the loops; items in flight stay 'running' and are re-queued at the next start."""
        loops = list(self._loops.values())
        for task in loops:
            task.cancel()
        for task in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops.clear()

    async def _serve(self, service: str) -> None:
        event = self._wakeups[service]
        slots = asyncio.Semaphore(self._settings.job_concurrency)
        running: set[asyncio.Task[None]] = set()

        def track(work: Coroutine[Any, Any, None]) -> None:
            task = asyncio.create_task(work)
            running.add(task)
            task.add_done_callback(running.discard)
            task.add_done_callback(lambda _: slots.release())

        try:
            while True:
                await slots.acquire()
                event.clear()
                entry = self._registry.find(service)
                if self._kube is not None and entry is not None and self._kube.handles(entry.spec):
                    job = self._kube.submit(entry.spec)  # its pods need no running service
                    if job is None:
                        slots.release()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(event.wait(), _IDLE_POLL)
                        continue
                    track(self._kube.run(job.id))
                    continue
                if self._delegated is not None and entry is not None:
                    if self._delegated.wanted(entry.spec, state_here(entry)):
                        items = self._store.claim(service, self._runner.batch_size(entry.spec))
                        if items:
                            track(self._delegate(entry.spec, items))
                            continue
                with contextlib.suppress(ServiceNotFound):  # its items fail in _process
                    await self._servable(service)  # items stay queued (cancellable) meanwhile
                entry = self._registry.find(service)
                size = self._runner.batch_size(entry.spec) if entry else 64
                items = self._store.claim(service, size)
                if not items:
                    slots.release()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(event.wait(), _IDLE_POLL)
                    continue
                track(self._process(service, items))
        finally:
            for task in running:
                task.cancel()
            for task in list(running):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _delegate(self, spec: ServiceSpec, items: Sequence[Item]) -> None:
        assert self._delegated is not None
        try:
            done, here = await self._delegated.run(spec, items)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug: run them here rather than lose them
            log.exception("delegating job items of %s failed unexpectedly", spec.name)
            done, here = [], list(items)
        if done:
            self._store.finish(done)
            if self._metrics is not None:
                for item in done:
                    self._metrics.jobs.labels(spec.name, item.state).inc()
        if here:
            await self._process(spec.name, here)

    async def _process(self, service: str, items: Sequence[Item]) -> None:
        try:
            finished = await self._attempts(service, items)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: fail the items rather than lose them silently
            log.exception("job items of %s failed unexpectedly", service)
            finished = [failed(i, GatewayError(f"internal error: {exc}")) for i in items]
        self._store.finish(finished)
        if self._metrics is not None:
            for item in finished:
                self._metrics.jobs.labels(service, item.state).inc()

    async def _attempts(self, service: str, items: Sequence[Item]) -> list[Item]:
        retries = 0

        async def attempt() -> list[Item]:
            await self._servable(service)  # after a restart of its runtime
            return await self._runner.run(self._registry.get(service).spec, items)

        def on_retry(error: BaseException, retry_number: int, delay: float) -> None:
            nonlocal retries
            retries = retry_number
            log.info("%s: %s; retry %d in %.1f s", service, error, retry_number, delay)

        policy = job_retry_policy(self._settings)
        try:
            finished = await retry(attempt, policy, transient=_transient, on_retry=on_retry)
        except GatewayError as exc:
            log.warning("%d item(s) of %s failed: %s", len(items), service, exc.message)
            return [replace(failed(i, exc), attempts=i.attempts + retries) for i in items]
        return [replace(i, attempts=i.attempts + retries) for i in finished]

    async def _servable(self, service: str) -> None:
        """Wait while the service is starting (bounded by runtime_start_timeout)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.runtime_start_timeout
        while loop.time() < deadline:
            entry = self._registry.find(service)
            if entry is None:
                raise ServiceNotFound(f"service {service!r} does not exist")
            try:
                state = entry.backend.status(service).state
            except ServiceNotFound:  # registered, not deployed yet
                state = "starting"
            if state not in ("starting", "restarting"):
                return
            await asyncio.sleep(0.2)
