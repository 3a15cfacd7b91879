"""The body of OSCAR's ``POST /run/{svc}`` and ``POST /job/{svc}``: an event, read as OSCAR's
supervisor reads it.

- a storage event (``Records[0].eventSource`` ``minio:s3`` or ``aws:s3``) names an object in a
  store: the caller fetches it (``/run``) or makes a job of it (``/job``);
- a delegated event ``{"storage_provider": id, "event": ...}`` (OSCAR's multi-cluster delegation)
  is unwrapped, the provider id kept;
- any other JSON object or array is the input file itself, as it is;
- anything else is base64 of the input file (whitespace ignored, so ``base64 f | curl -d @-``
  works whatever the line wrapping: curl strips newlines and sends it as a form body, which is
  never form-decoded here, so ``+`` stays ``+``).

Beyond OSCAR: a body sent as ``image/*`` or ``application/octet-stream`` is taken raw. A body that
is none of these is refused with 400 (OSCAR's supervisor would fail later, in the script's pod).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import orjson

from gateway.errors import BadRequest, InvalidInput

STORAGE_SOURCES = ("minio:s3", "aws:s3")
_WHITESPACE = re.compile(rb"\s+")
_RAW_MEDIA = ("image/", "application/octet-stream")
_URLSAFE = bytes.maketrans(b"-_", b"+/")


@dataclass(frozen=True, slots=True)
class InlineEvent:
    """The input file came in the body: its name (OSCAR's ``event-file-<uuid>``) and bytes."""

    name: str
    data: bytes
    is_json: bool = False


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """The input file is an object in a store: ``bucket/key`` and, if delegated, the provider."""

    bucket: str
    key: str
    etag: str
    provider: str | None = None

    @property
    def path(self) -> str:
        """The object's key in our stores (the bucket is its first segment)."""
        return f"{self.bucket}/{self.key}"


Event = InlineEvent | StoredEvent


def event_file_name() -> str:
    """The name OSCAR's supervisor gives an input that came in the body."""
    return f"event-file-{uuid.uuid4()}"


def parse_event(body: bytes, content_type: str | None) -> Event:
    """Read an OSCAR event body (see the module docstring)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.startswith(_RAW_MEDIA):
        return InlineEvent(event_file_name(), body)
    text = body.strip()
    if text[:1] in (b"{", b"["):
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            document = None
        if document is not None:
            return _from_json(document, body, provider=None, delegated=False)
    return InlineEvent(event_file_name(), _base64(text))


def _from_json(document: Any, raw: bytes, *, provider: str | None, delegated: bool) -> Event:
    delegation = isinstance(document, dict) and {"event", "storage_provider"} <= set(document)
    if delegation and not delegated:  # one level, as OSCAR wraps it
        inner = document["event"]
        provider = str(document["storage_provider"])
        if isinstance(inner, str):
            try:
                inner = orjson.loads(inner)
            except orjson.JSONDecodeError:
                text = inner.encode(errors="replace").strip()
                return InlineEvent(event_file_name(), _base64(text))
        return _from_json(inner, orjson.dumps(inner), provider=provider, delegated=True)
    records = document.get("Records") if isinstance(document, dict) else None
    if isinstance(records, list) and records and isinstance(records[0], dict):
        source = records[0].get("eventSource")
        if source is not None:
            if source not in STORAGE_SOURCES:
                raise InvalidInput(
                    f"storage events from {source!r} are not supported here "
                    f"(supported: {', '.join(STORAGE_SOURCES)})"
                )
            return _stored(records[0], provider)
    return InlineEvent(event_file_name(), raw, is_json=True)


def _stored(record: dict[str, Any], provider: str | None) -> StoredEvent:
    try:
        bucket = str(record["s3"]["bucket"]["name"])
        obj = record["s3"]["object"]
        key = unquote_plus(str(obj["key"]))
    except (KeyError, TypeError):
        raise BadRequest("a storage event needs s3.bucket.name and s3.object.key") from None
    if not bucket or not key:
        raise BadRequest("a storage event needs s3.bucket.name and s3.object.key")
    etag = str(obj.get("eTag") or obj.get("etag") or "").strip('"')
    if not etag:
        etag = "seq:" + str(obj.get("sequencer") or "")
    return StoredEvent(bucket, key, etag, provider)


def _base64(text: bytes) -> bytes:
    compact = _WHITESPACE.sub(b"", text)
    padded = compact + b"=" * (-len(compact) % 4)
    for candidate in (padded, padded.translate(_URLSAFE)):
        try:
            return base64.b64decode(candidate, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise BadRequest(
        "the body is neither base64, JSON nor a storage event (OSCAR's event formats); send "
        "raw bytes as application/octet-stream or image/*"
    )
