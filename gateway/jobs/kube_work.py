"""The work a Kubernetes Job of a gateway job carries, and what it reports back.

Names (the Job's, the credentials Secret's), the manifest the gateway writes before creating the
Job (``<bucket>/_gateway/jobs/<job id>/work.json``), the per-item status records the pod writes
(``.../items/<index>.json``), and the reading of a Job object's conditions. See `gateway.jobs.kube`.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence

from pydantic import ValidationError

from gateway.errors import NotFound
from gateway.jobs.bindings import output_bindings
from gateway.jobs.model import Item
from gateway.kube.client import Obj
from gateway.kube.objects import MANAGED_BY, MANAGER
from gateway.services import ServiceSpec
from gateway.storage import ObjectStore, join_key
from runtimes.contract import (
    Manifest,
    OutputBinding,
    Record,
    WorkItem,
    manifest_key,
    records_prefix,
)

log = logging.getLogger("gateway.jobs.kube")

SECRET_PREFIX = "inference-gateway-storage-"


def job_name(service: str, job_id: str) -> str:
    """The Kubernetes Job's name: ``<service>-job-<12 hex of the job id>`` (at most 56 chars)."""
    return f"{service}-job-{job_id[:12]}"


def secret_name(storage: str) -> str:
    """The Secret holding a storage's credentials (a DNS-1123 name)."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", storage.lower()).strip("-") or "default"
    return (SECRET_PREFIX + cleaned)[:253]


def storage_secret(name: str, namespace: str, keys: tuple[str, str]) -> Obj:
    """The Secret a Job's pod reads its object-store credentials from (``envFrom``)."""
    access_key, secret_key = keys
    data = {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace, "labels": {MANAGED_BY: MANAGER}},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def finished(obj: Obj) -> tuple[str, str] | None:
    """``("Complete" | "Failed", reason: message)`` once the Job is over, else None."""
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            text = ": ".join(str(condition[k]) for k in ("reason", "message") if condition.get(k))
            return str(condition["type"]), text
    return None


def started(obj: Obj) -> bool:
    """Whether a pod of the Job runs (ready) or ran (succeeded, failed), or the Job is over."""
    status = obj.get("status") or {}
    counts = (status.get(k) or 0 for k in ("ready", "succeeded", "failed"))
    return any(c > 0 for c in counts) or finished(obj) is not None


def work_folder(spec: ServiceSpec, job_id: str) -> str:
    """``<bucket of the first output binding>/_gateway/jobs/<job id>``."""
    bucket = output_bindings(spec)[0].path.strip("/").split("/", 1)[0]
    return join_key(bucket, f"_gateway/jobs/{job_id}")


async def write_manifest(
    objects: ObjectStore,
    spec: ServiceSpec,
    job_id: str,
    items: Sequence[Item],
    folder: str,
) -> None:
    """Write the job's work list (`runtimes.contract.Manifest`) for its pod to read."""
    manifest = Manifest(
        job_id=job_id,
        service=spec.name,
        runtime=spec.runtime,
        items=tuple(WorkItem(index=i.index, key=i.key) for i in items),
        outputs=tuple(
            OutputBinding(path=b.path, suffix=b.suffix, prefix=b.prefix)
            for b in output_bindings(spec)
        ),
        records=records_prefix(folder),
    )
    body = manifest.model_dump_json().encode()
    await objects.put(manifest_key(folder), body, "application/json")


async def read_records(objects: ObjectStore, folder: str) -> dict[int, Record]:
    """The status records the pod wrote so far, by item index."""
    records: dict[int, Record] = {}
    for info in await objects.list(records_prefix(folder) + "/"):
        try:
            record = Record.model_validate_json(await objects.get(info.key))
        except NotFound:
            continue
        except ValidationError:
            log.warning("ignoring a malformed status record %s", info.key)
            continue
        records[record.index] = record
    return records
