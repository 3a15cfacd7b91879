"""The media types ``/predict`` accepts, in one place: the runtime owns the formats it reads.

A raw image (``image/*``) or bytes (``application/octet-stream``), ``multipart/form-data`` with
``file`` parts, or JSON (``application/json`` and any ``+json`` type) ``{"instances": [{"b64"}]}``.
The gateway checks the same list before waking a service (`gateway.routing`), so a request the
runtime would refuse never reaches it.
"""

from __future__ import annotations

from typing import Literal

#: how the runtime reads a body of each accepted media type
Format = Literal["raw", "multipart", "json"]


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower-case, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def body_format(media: str) -> Format | None:
    """How a body of `media` is read, or None when ``/predict`` does not accept it."""
    if media.startswith("image/") or media == "application/octet-stream":
        return "raw"
    if media == "multipart/form-data":
        return "multipart"
    if media == "application/json" or media.endswith("+json"):
        return "json"
    return None


def unsupported(media: str) -> str:
    """The message answering a body of a media type ``/predict`` does not accept (415)."""
    return (
        f"unsupported Content-Type {media or '(none)'!r}: send an image (image/jpeg, image/png, "
        '...), multipart/form-data with "file" parts, or JSON {"instances": [{"b64": "..."}]}'
    )
