"""Downloading a job's output files: ``GET /jobs/{id}/items/{index}/outputs/{name}``.

Only the files recorded with the item can be fetched, by the name they were written under, so a
request can never reach another key of the store. The object is streamed from its store with its
size, a Content-Type guessed from its name, and ``Content-Disposition: attachment``.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from gateway.errors import NotFound
from gateway.jobs.model import Item, OutputFile
from gateway.storage import ObjectStore, base_name
from gateway.storage.streams import open_stream


def output_file(item: Item, name: str) -> OutputFile:
    """The item's output file called `name`; `NotFound` if it wrote none by that name."""
    found = next((f for f in item.files if f.name == name), None)
    if found is None:
        raise NotFound(f"item {item.index} of job {item.job_id} has no output {name!r}")
    return found


async def download(stores: Mapping[str, ObjectStore], file: OutputFile) -> Response:
    """The file, streamed from its store (`NotFound` if it is gone, or its storage is)."""
    objects = stores.get(file.storage)
    if objects is None:
        raise NotFound(f"storage {file.storage!r} of {file.key!r} is no longer defined")
    stream = await open_stream(objects, file.key)
    media = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    headers = {
        "Content-Length": str(stream.size),
        "Content-Disposition": attachment(base_name(file.name)),
    }
    return StreamingResponse(stream.chunks, headers=headers, media_type=media)


def attachment(name: str) -> str:
    """A Content-Disposition header for `name`: an ASCII fallback and the UTF-8 name (RFC 6266)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
