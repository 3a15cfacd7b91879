"""OSCAR's job routes, over our durable jobs (`gateway.jobs.store`): ``/system/logs/{service}``.

- ``GET /system/logs/{service}[?page=]``: ``{"jobs": {<job id>: {status, creation_time,
  start_time, finish_time}}, "next_page", "remaining_jobs"}``, newest first, 70 a page (OSCAR's
  ``JOB_LISTING_LIMIT``); ``next_page`` is the opaque token of the next page ("" after the last).
  Statuses in OSCAR's words: Pending (queued), Running, Succeeded, Failed (failed or cancelled).
- ``GET /system/logs/{service}/{job}``: the job's log as text (each file's state, script output
  and error).
- ``DELETE /system/logs/{service}/{job}``: forget the job (409 while it runs); 204.
- ``DELETE /system/logs/{service}[?all=true]``: forget its succeeded jobs, or with ``all=true``
  every job that is not running; 204.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import Authenticator
from gateway.errors import BadRequest, Conflict, NotFound
from gateway.jobs import Job, JobStore
from gateway.registry import Registry
from gateway.system import json_response

PAGE_SIZE = 70
_DELETE_BATCH = 1000
OSCAR_STATUS = {
    "queued": "Pending",
    "running": "Running",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "cancelled": "Failed",
}


def _time(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def oscar_job(job: Job) -> dict[str, str]:
    """A job as OSCAR's job list shows it."""
    finished = job.status in ("succeeded", "failed", "cancelled")
    return {
        "status": OSCAR_STATUS[job.status],
        "creation_time": _time(job.created),
        "start_time": _time(job.started),
        "finish_time": _time(job.updated if finished else None),
    }


def job_log(job: Job) -> str:
    """The text OSCAR's job log route answers: what each file of the job did."""
    lines = []
    for item in job.items:
        lines.append(f"[{item.index}] {item.key}: {item.state} (attempts: {item.attempts})")
        if item.log:
            lines.append(item.log.rstrip("\n"))
        if item.error:
            lines.append(f"error: {item.error.get('code')}: {item.error.get('message')}")
        lines.extend(f"output: {key}" for key in item.outputs)
    return "\n".join(lines) + "\n"


class JobLogs:
    """Handlers of ``/system/logs/{service}[/{job}]`` (the admin's, as in OSCAR)."""

    def __init__(self, store: JobStore, registry: Registry, auth: Authenticator) -> None:
        self._store = store
        self._registry = registry
        self._auth = auth

    def _service(self, request: Request) -> str:
        self._auth.require_admin(request)
        name = str(request.path_params["service"])
        self._registry.get(name)  # 404 for an unknown service
        return name

    def _job(self, request: Request) -> Job:
        service = self._service(request)
        job_id = request.path_params["job"]
        job = self._store.get(job_id)
        if job.service != service:
            raise NotFound(f"job {job_id!r} is not a job of service {service!r}")
        return job

    async def list_jobs(self, request: Request) -> Response:
        """GET /system/logs/{service}[?page=]: one page of the service's jobs."""
        service = self._service(request)
        page = request.query_params.get("page", "")
        if page and not (page.isascii() and page.isdigit() and len(page) <= 15):
            raise BadRequest("page must be the next_page value of a previous answer")
        offset = int(page or 0)
        total = sum(self._store.count(service).values())
        jobs = self._store.list(service, None, PAGE_SIZE, offset)
        remaining = max(0, total - offset - len(jobs))
        return json_response(
            {
                "jobs": {job.id: oscar_job(job) for job in jobs},
                "next_page": str(offset + len(jobs)) if remaining else "",
                "remaining_jobs": remaining,
            }
        )

    async def log(self, request: Request) -> Response:
        """GET /system/logs/{service}/{job}: the job's log, as text."""
        job = self._job(request)
        return Response(job_log(job), media_type="text/plain; charset=utf-8")

    async def delete_job(self, request: Request) -> Response:
        """DELETE /system/logs/{service}/{job}: forget one job."""
        self._store.delete(self._job(request).id)
        return Response(status_code=204)

    async def delete_jobs(self, request: Request) -> Response:
        """DELETE /system/logs/{service}[?all=true]: forget succeeded jobs (all: every one not
        running)."""
        service = self._service(request)
        everything = request.query_params.get("all", "").lower() == "true"
        statuses = ("succeeded", "failed", "cancelled", "queued") if everything else ("succeeded",)
        for status in statuses:
            while jobs := self._store.list(service, status, _DELETE_BATCH):
                for job in jobs:
                    with contextlib.suppress(Conflict):  # it started meanwhile: it stays
                        self._store.delete(job.id)
        return Response(status_code=204)
