"""``POST /job/{service}`` with OSCAR's bodies (raw, base64, JSON, a MinIO/AWS storage event).

As OSCAR answers: 201 with an empty body. Beside OSCAR, the job can be followed: its id is in
``X-Job-Id`` and ``Location: /jobs/<id>``. An input that came in the body is stored under the
service's input path as ``event-file-<uuid>`` (OSCAR's name for it), then runs as any job; a
storage event makes a job of the object it names (or answers the job that already took it).
A job another gateway delegated here (``X-Delegated-From``) is marked so: it is never delegated
again (`gateway.jobs.delegated`). An inline input with ``X-Delegated-Job-ID`` (another gateway's
outbox names each file so) makes one job however often it is sent: the same id again answers
that job.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.federation import DELEGATED_FROM, DELEGATED_JOB
from gateway.jobs.delegated import DELEGATED_SOURCE
from gateway.jobs.intake import Intake
from gateway.jobs.model import ObjectRef
from gateway.jobs.origin import origin_storage
from gateway.limits import read_body
from gateway.oscar_event import InlineEvent, StoredEvent, parse_event
from gateway.services import ServiceSpec


def event_storage(spec: ServiceSpec, event: StoredEvent, here: str | None = None) -> str:
    """The store an event's object is in: the provider's id (``minio.<id>``, ``s3.<id>``) when it
    names one; the store of the cluster it names (OSCAR's delegation: the origin's id, one of the
    service's ``clusters:`` other than ``here``, this gateway's): ``origin.<cluster>``
    (`gateway.jobs.origin`); else the store of the service's input binding in the event's bucket,
    else ``default``."""
    if event.provider:
        kind, _, ident = event.provider.partition(".")
        if ident and kind in ("minio", "s3"):
            return ident
        if event.provider != here and event.provider in spec.clusters:
            return origin_storage(event.provider)
    for binding in spec.input:
        if binding.path.strip("/").split("/", 1)[0] == event.bucket:
            return binding.storage
    return "default"


async def submit_event(
    request: Request, intake: Intake, spec: ServiceSpec, limit: int, here: str | None = None
) -> Response:
    """One job from an OSCAR event body; 201, the job id in ``X-Job-Id`` and ``Location``."""
    event = parse_event(await read_body(request, limit), request.headers.get("content-type"))
    source = DELEGATED_SOURCE if DELEGATED_FROM in request.headers else "api"
    if isinstance(event, InlineEvent):
        request_id = request.headers.get(DELEGATED_JOB) or None
        job = await intake.submit(spec.name, [(event.name, event.data, None)], source, request_id)
    else:
        ref = ObjectRef(event_storage(spec, event, here), event.path, event.etag)
        job = await intake.submit_object(spec.name, ref, source)
    return Response(status_code=201, headers={"X-Job-Id": job.id, "Location": f"/jobs/{job.id}"})
