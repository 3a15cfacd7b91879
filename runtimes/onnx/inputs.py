"""Reading ``/predict`` request bodies: size limits, then raw image, multipart or base64 JSON.

The body is refused from its ``Content-Length`` before anything is read, and a chunked body stops
being read as soon as it passes the limit. Too many files answer 413 ``payload_too_large``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from runtimes.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from runtimes.onnx.media import body_format, media_type, unsupported


@dataclass(frozen=True)
class Upload:
    """One image of a request: its name (when the client gave one) and its encoded bytes."""

    filename: str | None
    data: bytes


def check_length(request: Request, limit: int) -> None:
    """Refuse a declared ``Content-Length`` over ``limit`` (before reading anything)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise BadRequest("invalid Content-Length header") from None
        if length > limit:
            raise PayloadTooLarge(f"the body is {length:,} bytes; the limit is {limit:,}")


async def limited_stream(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The body's chunks, failing with PayloadTooLarge once more than ``limit`` bytes came."""
    check_length(request, limit)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit:,} bytes")
        yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, within ``limit`` bytes."""
    chunks = [chunk async for chunk in limited_stream(request, limit)]
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_images(request: Request, *, max_bytes: int, max_files: int) -> list[Upload]:
    """The images of a ``/predict`` request, in the order the client sent them."""
    media = media_type(request.headers.get("content-type", "application/octet-stream"))
    form = body_format(media)
    if form == "raw":
        uploads = [Upload(None, await read_body(request, max_bytes))]
    elif form == "multipart":
        uploads = await _read_multipart(request, max_bytes, max_files)
    elif form == "json":
        uploads = _read_json(await read_body(request, max_bytes))
    else:
        raise UnsupportedMediaType(unsupported(media))
    if not uploads:
        raise BadRequest("the request holds no image")
    if len(uploads) > max_files:
        raise PayloadTooLarge(f"{len(uploads)} images in one request; the limit is {max_files}")
    for index, upload in enumerate(uploads):
        if not upload.data:
            raise BadRequest(f"image {upload.filename or index} is empty")
    return uploads


async def _read_multipart(request: Request, max_bytes: int, max_files: int) -> list[Upload]:
    body = await read_body(request, max_bytes)  # whole and bounded, so a refusal leaks nothing

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(request.headers, stream(), max_files=max_files, max_fields=100)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if "Too many files" in exc.message:
            raise PayloadTooLarge(f"too many files; the limit is {max_files}") from None
        raise BadRequest(f"malformed multipart body: {exc.message}") from None
    try:
        uploads = []
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                uploads.append(Upload(value.filename, await value.read()))
        return uploads
    finally:
        await form.close()


def _read_json(body: bytes) -> list[Upload]:
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    instances = document.get("instances") if isinstance(document, dict) else None
    if not isinstance(instances, list):
        raise BadRequest('JSON bodies look like {"instances": [{"b64": "<base64 image>"}]}')
    return [_instance(i, item) for i, item in enumerate(instances)]


def _instance(index: int, item: Any) -> Upload:
    filename = None
    if isinstance(item, dict):
        filename = item.get("filename") if isinstance(item.get("filename"), str) else None
        if isinstance(item.get("image"), dict):  # KServe v1 style {"image": {"b64": ...}}
            item = item["image"]
        item = item.get("b64")
    if not isinstance(item, str):
        raise BadRequest(f'instances[{index}] needs a "b64" string')
    try:
        return Upload(filename, base64.b64decode(item, validate=False))
    except (binascii.Error, ValueError):
        raise BadRequest(f"instances[{index}] is not valid base64") from None
