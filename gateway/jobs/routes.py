"""The async job API: ``POST /job/{service}``, ``GET /jobs[/{id}]``, ``DELETE /jobs/{id}``,
``GET /jobs/{id}/items/{index}/outputs/{name}``, ``POST /events/s3``."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth import Authenticator, bearer
from gateway.config import Settings
from gateway.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    Unauthorized,
)
from gateway.jobs.downloads import download, output_file
from gateway.jobs.events import created_objects
from gateway.jobs.intake import Intake
from gateway.jobs.model import JOB_STATUSES
from gateway.jobs.oscar_submit import submit_event
from gateway.jobs.store import JobStore
from gateway.limits import declared_length
from gateway.registry import Registry
from gateway.storage import ObjectStore

_MAX_FILES = 10_000


def _json(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code, headers, media_type="application/json")


class JobRoutes:
    """Handlers of the job routes."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        intake: Intake,
        registry: Registry,
        auth: Authenticator,
        stores: Mapping[str, ObjectStore] | None = None,
    ) -> None:
        self._stores = stores or {}
        self._settings = settings
        self._store = store
        self._intake = intake
        self._registry = registry
        self._auth = auth

    def routes(self) -> list[Route]:
        return [
            Route("/job/{service}", self.submit, methods=["POST"]),
            Route("/jobs", self.list_jobs, methods=["GET"]),
            Route("/jobs/{job_id}", self.status, methods=["GET"]),
            Route("/jobs/{job_id}", self.cancel, methods=["DELETE"]),
            Route(
                "/jobs/{job_id}/items/{index:int}/outputs/{name:path}",
                self.output,
                methods=["GET"],
            ),
            Route("/events/s3", self.s3_events, methods=["POST"]),
        ]

    async def submit(self, request: Request) -> Response:
        """Multipart ``file`` parts -> stored under the service's input path -> 202, one job
        (any other body is OSCAR's event: `gateway.jobs.oscar_submit`)."""
        self._require_service(request, request.path_params["service"])
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "multipart/form-data":  # OSCAR's bodies: raw, base64, JSON, storage event
            spec = self._registry.get(request.path_params["service"]).spec
            limit, here = self._settings.max_body_bytes, self._settings.cluster_id
            return await submit_event(request, self._intake, spec, limit, here)
        declared_length(request, self._settings.max_body_bytes)
        limit = self._settings.max_body_bytes
        form = await request.form(max_files=_MAX_FILES, max_part_size=limit)
        try:
            files = []
            total = 0
            for part in form.getlist("file"):
                if not isinstance(part, UploadFile):
                    raise BadRequest("'file' parts must be files (with a filename)")
                data = await part.read()
                total += len(data)
                if total > limit:
                    raise PayloadTooLarge(f"files over the limit of {limit} bytes")
                files.append((part.filename or "", data, part.content_type))
        finally:
            await form.close()
        if not files:
            raise BadRequest("no 'file' part in the request")
        job = await self._intake.submit(request.path_params["service"], files)
        return _json(
            {"job_id": job.id, "status": job.status, "items": len(job.items)},
            202,
            {"Location": f"/jobs/{job.id}"},
        )

    async def status(self, request: Request) -> Response:
        """A job: status, counts, each item's state, outputs, answer and error (``results=false``:
        without the answers, cheaper to poll)."""
        results = request.query_params.get("results", "true").lower()
        if results not in ("true", "false", "1", "0"):
            raise BadRequest("results must be true or false")
        job = self._store.get(request.path_params["job_id"], answers=results in ("true", "1"))
        self._require_service(request, job.service)
        return _json(job.to_json())

    async def output(self, request: Request) -> Response:
        """One output file of a job's item, streamed from its store."""
        params = request.path_params
        self._require_service(request, self._store.service_of(params["job_id"]))
        item = self._store.item(params["job_id"], params["index"])
        return await download(self._stores, output_file(item, params["name"]))

    async def list_jobs(self, request: Request) -> Response:
        """Jobs, newest first; filters ``service``, ``status``; ``limit`` (default 100)."""
        status = request.query_params.get("status")
        if status is not None and status not in JOB_STATUSES:
            raise BadRequest(f"status must be one of {', '.join(JOB_STATUSES)}")
        try:
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            raise BadRequest("limit must be an integer") from None
        service = request.query_params.get("service")
        if service is None:
            if self._auth.enabled:
                self._auth.require_admin(request)
        else:
            self._require_service(request, service)
        jobs = self._store.list(service, status, max(1, limit))
        return _json({"jobs": [job.to_json(with_items=False) for job in jobs]})

    async def cancel(self, request: Request) -> Response:
        """Cancel a queued job (409 once it runs or has finished)."""
        self._require_service(request, self._store.get(request.path_params["job_id"]).service)
        return _json(self._store.cancel(request.path_params["job_id"]).to_json())

    async def s3_events(self, request: Request) -> Response:
        """MinIO/AWS bucket notifications -> jobs for the services whose input path matches."""
        self._authenticate(request)
        declared_length(request, self._settings.max_body_bytes)
        try:
            document = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise BadRequest("the body is not JSON") from None
        refs, ignored = created_objects(document)
        jobs = await self._intake.objects_created(refs, "s3-event")
        claimed = sum(len(job.items) for job in jobs)
        return _json(
            {
                "jobs": [job.id for job in jobs],
                "duplicates_or_unmatched": len(refs) - claimed,
                "ignored": ignored,
            }
        )

    def _require_service(self, request: Request, name: str) -> None:
        """The service's token (or the admin's), unless the service is public."""
        entry = self._registry.find(name)
        if entry is None:  # a job of a removed service: the admin's
            if self._auth.enabled:
                self._auth.require_admin(request)
            return
        self._auth.require_service(request, name, public=entry.public, token_hash=entry.token_hash)

    def _authenticate(self, request: Request) -> None:
        """The events token, or the admin's; with neither configured the gateway is open."""
        token = self._settings.events_token
        if token is None:
            self._auth.require_admin(request)
            return
        given = bearer(request)
        if given is None:
            raise Unauthorized("POST /events/s3 needs 'Authorization: Bearer <events token>'")
        if self._auth.is_admin(given):
            return
        if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            raise Forbidden("wrong events token")
