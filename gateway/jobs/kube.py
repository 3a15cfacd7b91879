"""KubeJobs: a job of a Kubernetes-backed service runs as ONE ``batch/v1`` Job in the cluster.

When `handles` a service (``settings.kube_jobs``, backend ``knative`` or ``deployment``, and every
storage binding of the service on one S3 store), its jobs do not go through the service's HTTP
endpoint: each gateway job becomes one Kubernetes Job (`gateway.kube.objects.batch_job`) whose
pod runs ``python -m runtimes.batch`` in the service's image, with the service's env, resources
and placement (GPU, arm64). One Job per *job*, not per file as in OSCAR: a pod per file reloads
the model for every file (OSCAR's docs tell users to zip their images to avoid it), fills the API
server with thousands of objects, and leaves no one place to read a job's outcome. Here the model
loads once, files go through it in batches, and the job keeps its id, its items and their errors.

The work travels through the object store, not the Job's env (one env value is limited to 128 KiB):
before creating the Job the gateway writes the manifest ``<bucket>/_gateway/jobs/<job id>/
work.json`` (items, output bindings) in the bucket of the first output binding; the pod writes
each item's results under the same keys as the HTTP path, then its status record
``.../<job id>/items/<index>.json``. The ``_gateway/`` prefix of that bucket is the gateway's: do
not make it (or the bare bucket) a service's input path. The credentials come from the Secret
``inference-gateway-storage-<storage name>`` (keys ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``)
through ``envFrom``, which the gateway creates (or updates) from the definition's keys before the
first Job (a store defined without keys: no Secret, the pod uses the cluster's own credentials);
the store's endpoint must be one the pods reach (the in-cluster MinIO).
A filesystem store cannot be reached from a pod: services with one keep the HTTP path (logged).

Lifecycle, durable in the job store: the Job's name is recorded (``kube_jobs`` table) before the
Job is created, so a create is idempotent (409: the Job is there already) and a restarted gateway
resumes watching it. The items stay ``queued`` while the Job waits in the cluster (cancelling the
job then deletes the Job), turn ``running`` once its pod runs (``status.ready``), and finish from
the records when the Job completes. A Job that fails (``BackoffLimitExceeded``,
``DeadlineExceeded``...) fails the items without a record with the Job's reason; one that never
finishes fails them when the gateway's bounded watch ends (activeDeadlineSeconds plus a grace),
and is deleted. Finished Jobs are left to ``ttlSecondsAfterFinished`` (their pod logs stay an
hour); after a restart, a job whose every item has a record finishes without its Job.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kubernetes import client  # type: ignore[import-untyped]

from gateway.config import Settings
from gateway.errors import Conflict, GatewayError, NotFound, Unavailable
from gateway.jobs.bindings import input_binding, output_bindings
from gateway.jobs.kube_work import (
    finished,
    job_name,
    read_records,
    secret_name,
    started,
    storage_secret,
    work_folder,
    write_manifest,
)
from gateway.jobs.model import Answer, Item, Job, ObjectRef, OutputFile
from gateway.jobs.results import stored_results
from gateway.jobs.store import JobStore
from gateway.kube.client import KubeApi, Obj
from gateway.kube.objects import JOB_LABEL, batch_job, job_deadline
from gateway.metrics import GatewayMetrics
from gateway.registry import Registry
from gateway.retry import job_retry_policy, retry
from gateway.services import ServiceSpec
from gateway.storage import ObjectStore
from runtimes.contract import Record, manifest_key

if TYPE_CHECKING:
    from gateway.storage.s3 import S3Store

log = logging.getLogger("gateway.jobs.kube")

KUBE_BACKENDS = ("knative", "deployment")
WATCH_GRACE = 120.0  # seconds past activeDeadlineSeconds before the gateway gives up on a Job
_RETRY_DELAY = 1.0
_READ_CONCURRENCY = 16  # answers read back from the store at once when a Job ends

OutputHook = Callable[[list[ObjectRef]], Awaitable[None]]


class KubeJobs:
    """Runs jobs as Kubernetes Jobs, watches them, and finishes their items from the records."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        registry: Registry,
        stores: Mapping[str, ObjectStore],
        on_outputs: OutputHook,
        metrics: GatewayMetrics | None = None,
        kube: KubeApi | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._registry = registry
        self._stores = stores
        self._on_outputs = on_outputs
        self._metrics = metrics
        self._kube = kube or KubeApi(settings)
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._http_noted: set[str] = set()
        self._secrets: dict[str, str] = {}  # Secret name -> digest of the keys written there
        store.on_cancel(self._cancelled)

    # --- routing -------------------------------------------------------------------------------

    def storage_of(self, spec: ServiceSpec) -> str | None:
        """The one S3 storage that every storage binding of `spec` names, else None."""
        from gateway.storage.s3 import S3Store  # boto3 is loaded wherever an S3 store exists

        names = {input_binding(spec).storage} | {b.storage for b in output_bindings(spec)}
        if len(names) != 1:
            return None
        (name,) = names
        return name if isinstance(self._stores.get(name), S3Store) else None

    def handles(self, spec: ServiceSpec) -> bool:
        """Whether `spec`'s jobs run as Kubernetes Jobs (else through its HTTP endpoint)."""
        if not self._settings.kube_jobs or spec.backend not in KUBE_BACKENDS:
            return False
        if self.storage_of(spec) is None:
            if spec.name not in self._http_noted:
                self._http_noted.add(spec.name)
                log.info(
                    "jobs of %s go through its HTTP endpoint: a Kubernetes Job needs all of the "
                    "service's storage on one S3 store (a pod cannot reach a filesystem store)",
                    spec.name,
                )
            return False
        return True

    def submit(self, spec: ServiceSpec) -> Job | None:
        """Take the service's oldest queued job for a Kubernetes Job (None: nothing queued)."""
        return self._store.submit_kube_job(spec.name, lambda job_id: job_name(spec.name, job_id))

    # --- running -------------------------------------------------------------------------------

    def resume(self) -> None:
        """Watch again the Jobs of the jobs a previous process left unfinished."""
        for job_id in self._store.unfinished_kube_jobs():
            log.info("resuming the Kubernetes Job of job %s", job_id)
            self._spawn(self.run(job_id))

    async def run(self, job_id: str) -> None:
        """Create (or find) the job's Kubernetes Job, watch it to its end, finish the items."""
        task = asyncio.current_task()
        if task is not None:
            self._runs[job_id] = task
        try:
            await self._attempts(job_id)
        except asyncio.CancelledError:
            raise
        except GatewayError as exc:
            log.warning("job %s: %s", job_id, exc.message)
            self._fail_open(job_id, {"code": exc.code, "message": exc.message})
        except Exception as exc:  # a bug: fail the items rather than lose them silently
            log.exception("job %s failed unexpectedly", job_id)
            self._fail_open(job_id, {"code": "internal_error", "message": f"internal error: {exc}"})
        finally:
            if self._runs.get(job_id) is task:
                del self._runs[job_id]

    async def _attempts(self, job_id: str) -> None:
        """`_run`, again after a transient failure (the object store or the API server did not
        answer), as the HTTP workers retry: every step of it is idempotent."""

        def on_retry(error: BaseException, retries: int, delay: float) -> None:
            log.info("job %s: %s; retry %d in %.1f s", job_id, error, retries, delay)

        policy = job_retry_policy(self._settings)
        await retry(lambda: self._run(job_id), policy, on_retry=on_retry)

    async def _run(self, job_id: str) -> None:
        job = self._store.get(job_id)
        recorded = self._store.kube_job(job_id)
        if recorded is None:
            raise GatewayError(f"job {job_id} has no Kubernetes Job")
        name, created = recorded
        entry = self._registry.find(job.service)
        if entry is None:
            raise NotFound(f"service {job.service!r} no longer exists")
        spec = entry.spec
        storage = self.storage_of(spec)
        if storage is None:
            raise GatewayError(f"service {spec.name}: its storage is no longer one S3 store")
        objects = self._stores[storage]
        where = f"Kubernetes Job {self._settings.kube_namespace}/{name}"
        items = [i for i in job.items if i.state in ("queued", "running")]
        if not items:
            return
        folder = work_folder(spec, job_id)
        records = await read_records(objects, folder)
        if all(i.index in records for i in items):  # done before a restart
            await self._conclude(job_id, storage, records, None)
            return
        await write_manifest(objects, spec, job_id, items, folder)
        await self._create(spec, job_id, name, len(items), storage, folder, where)
        total = job_deadline(spec, len(items)) + WATCH_GRACE
        deadline = time.monotonic() + max(1.0, created + total - time.time())
        obj = await self._watch(where, name, started, deadline)
        if obj is not None:
            self._store.start_items(job_id)
            log.info("%s runs job %s (%d item(s))", where, job_id, len(items))
            if finished(obj) is None:
                obj = await self._watch(where, name, lambda o: finished(o) is not None, deadline)
        outcome = finished(obj) if obj is not None else None
        if outcome is None:
            await self._delete(name)
            outcome = ("Failed", f"did not finish within {total:.0f} s; deleted")
        records = await read_records(objects, folder)
        await self._conclude(job_id, storage, records, (where, *outcome))

    async def _create(
        self,
        spec: ServiceSpec,
        job_id: str,
        name: str,
        count: int,
        storage: str,
        folder: str,
        where: str,
    ) -> None:
        from gateway.storage.s3 import S3Store

        objects = self._stores[storage]
        assert isinstance(objects, S3Store)  # storage_of chose it
        env = {
            "JOB_ID": job_id,
            "JOB_MANIFEST": manifest_key(folder),
            "JOB_S3_REGION": objects.region,
            "JOB_LOG_LEVEL": self._settings.log_level,
        }
        if objects.endpoint:
            env["JOB_S3_ENDPOINT"] = objects.endpoint
        secret = await self._storage_secret(storage, objects)
        body = batch_job(
            spec, self._settings, name=name, job_id=job_id, items=count, env=env, secret=secret
        )
        api = self._batch()
        namespace = self._settings.kube_namespace
        try:
            await self._kube.call(f"create {where}", api.create_namespaced_job, namespace, body)
        except Conflict:  # created before a restart: it must be ours
            live = await self._kube.call(f"read {where}", api.read_namespaced_job, name, namespace)
            owner = ((live.get("metadata") or {}).get("labels") or {}).get(JOB_LABEL)
            if owner != job_id:
                message = f"{where} exists and belongs to job {owner!r}, not {job_id}"
                raise Conflict(message) from None

    async def _storage_secret(self, storage: str, objects: S3Store) -> str | None:
        """Create (or update) the Secret with the storage's credentials from the definition; None
        when the definition has none (the pod then uses the cluster's own, e.g. IRSA)."""
        keys = objects.credentials()
        if keys is None:
            return None
        name = secret_name(storage)
        digest = hashlib.sha256("\0".join(keys).encode()).hexdigest()
        if self._secrets.get(name) == digest:
            return name
        namespace = self._settings.kube_namespace
        core = client.CoreV1Api(self._kube.api_client)
        await self._kube.create_or_patch(
            f"Secret {namespace}/{name}",
            functools.partial(core.create_namespaced_secret, namespace),
            functools.partial(core.patch_namespaced_secret, name, namespace),
            storage_secret(name, namespace, keys),
        )
        self._secrets[name] = digest
        return name

    async def _watch(
        self, where: str, name: str, done: Callable[[Obj], bool], deadline: float
    ) -> Obj | None:
        """The Job once `done`, or None at `deadline`; an API server that does not answer is
        waited for (bounded by the deadline), any other API error raises."""
        api = self._batch()
        while time.monotonic() < deadline:
            try:
                return await self._kube.watch_until(
                    f"watch {where}", api.list_namespaced_job, done, deadline=deadline,
                    name=name, namespace=self._settings.kube_namespace,
                )  # fmt: skip
            except Unavailable as exc:
                log.warning("%s: %s; watching again", where, exc.message)
                await asyncio.sleep(min(_RETRY_DELAY, max(0.0, deadline - time.monotonic())))
        return None

    async def _conclude(
        self,
        job_id: str,
        storage: str,
        records: Mapping[int, Record],
        outcome: tuple[str, str, str] | None,
    ) -> None:
        """Finish the job's open items: from their records, else with the Job's outcome."""
        job = self._store.get(job_id)
        results = await self._results(job, storage, records)
        done: list[Item] = []
        written: list[ObjectRef] = []
        for item in job.items:
            if item.state not in ("queued", "running"):
                continue  # cancelled meanwhile, or finished already
            attempts = max(1, item.attempts)
            record = records.get(item.index)
            if record is not None and record.state == "succeeded":
                files, answer = results[item.index]
                written += [f.ref for f in files]
                done.append(
                    replace(item, state="succeeded", attempts=attempts, error=None,
                            outputs=tuple(f.key for f in files), log=record.log,
                            files=files, answer=answer)
                )  # fmt: skip
            elif record is not None:
                error = record.error or {}
                detail = {"code": str(error.get("code")), "message": str(error.get("message"))}
                done.append(
                    replace(item, state="failed", attempts=attempts, error=detail, outputs=(),
                            log=record.log)
                )  # fmt: skip
            else:
                where, state, reason = outcome or ("Kubernetes Job", "Failed", "no record")
                if state == "Complete":
                    detail = {"code": "no_result", "message": f"{where} completed without a "
                              "result for this item"}  # fmt: skip
                else:
                    detail = {"code": "kube_job_failed", "message": f"{where} failed: {reason}"}
                done.append(replace(item, state="failed", attempts=attempts, error=detail))
        self._finish(done)
        failed = sum(i.state == "failed" for i in done)
        log.info("job %s: %d item(s) finished, %d failed", job_id, len(done), failed)
        if written:
            await self._on_outputs(written)

    async def _results(
        self, job: Job, storage: str, records: Mapping[int, Record]
    ) -> dict[int, tuple[tuple[OutputFile, ...], Answer | None]]:
        """The output files and answers of the open items that succeeded, by index (their
        answers read back from the store, a few at a time)."""
        entry = self._registry.find(job.service)
        bindings = output_bindings(entry.spec) if entry is not None else ()
        limit = self._settings.job_result_max_bytes
        slots = asyncio.Semaphore(_READ_CONCURRENCY)

        async def one(
            outputs: Sequence[Mapping[str, Any]],
        ) -> tuple[tuple[OutputFile, ...], Answer | None]:
            async with slots:
                return await stored_results(self._stores, storage, bindings, outputs, limit)

        indexes = [
            i.index
            for i in job.items
            if i.state in ("queued", "running")
            and (record := records.get(i.index)) is not None
            and record.state == "succeeded"
        ]
        found = await asyncio.gather(
            *(one([o.model_dump() for o in records[i].outputs]) for i in indexes)
        )
        return dict(zip(indexes, found, strict=True))

    def _fail_open(self, job_id: str, error: dict[str, str]) -> None:
        with contextlib.suppress(NotFound):
            job = self._store.get(job_id)
            open_items = [i for i in job.items if i.state in ("queued", "running")]
            self._finish([replace(i, state="failed", error=error, outputs=()) for i in open_items])

    def _finish(self, items: Sequence[Item]) -> None:
        if not items:
            return
        self._store.finish(items)
        if self._metrics is not None:
            for item in items:
                self._metrics.jobs.labels(item.service, item.state).inc()

    # --- cancelling and closing ----------------------------------------------------------------

    def _cancelled(self, job_id: str) -> None:
        """A queued job was cancelled: stop watching its Job and delete it."""
        recorded = self._store.kube_job(job_id)
        if recorded is None:
            return
        task = self._runs.pop(job_id, None)
        if task is not None:
            task.cancel()
        self._spawn(self._delete(recorded[0]))

    async def _delete(self, name: str) -> None:
        where = f"Kubernetes Job {self._settings.kube_namespace}/{name}"
        try:
            if await self._kube.delete(
                where, self._batch().delete_namespaced_job, name, self._settings.kube_namespace
            ):
                log.info("deleted %s", where)
        except GatewayError as exc:
            log.warning("could not delete %s: %s", where, exc.message)

    def _spawn(self, work: Awaitable[None]) -> None:
        async def wrapped() -> None:
            await work

        task = asyncio.create_task(wrapped())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _batch(self) -> Any:
        return client.BatchV1Api(self._kube.api_client)

    async def aclose(self) -> None:
        """Stop watching (the Jobs go on; the next start resumes them); close the client."""
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._kube.close()
