"""S3 bucket notifications (MinIO and AWS format) -> created objects.

Only ``s3:ObjectCreated:*`` (MinIO) / ``ObjectCreated:*`` (AWS) records count; object keys arrive
URL-encoded (``+`` for spaces). An object's identity for deduplication is its etag, or the
record's ``sequencer`` when there is none.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from gateway.errors import BadRequest
from gateway.jobs.model import ObjectRef


def created_objects(document: Any) -> tuple[list[ObjectRef], int]:
    """The objects an S3 notification says were created, and how many records were ignored."""
    records = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(records, list):
        raise BadRequest('expected an S3 notification: {"Records": [...]}')
    refs: list[ObjectRef] = []
    ignored = 0
    for record in records:
        try:
            name = str(record["eventName"])
            bucket = str(record["s3"]["bucket"]["name"])
            obj = record["s3"]["object"]
            key = unquote_plus(str(obj["key"]))
        except (KeyError, TypeError):
            raise BadRequest(
                "an S3 record needs eventName, s3.bucket.name, s3.object.key"
            ) from None
        if not name.removeprefix("s3:").startswith("ObjectCreated:"):
            ignored += 1
            continue
        identity = str(obj.get("eTag") or obj.get("etag") or "").strip('"')
        if not identity:
            identity = "seq:" + str(obj.get("sequencer") or "")
        refs.append(ObjectRef("", f"{bucket}/{key}", identity))
    return refs, ignored
