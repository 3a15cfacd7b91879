"""Reading an object as a stream of chunks, for downloads that must not hold a file in memory.

`FilesystemStore` and `S3Store` open objects for streaming (`StreamingStore`); `open_stream`
falls back to one `get` for any other `ObjectStore`. The object is opened before the first chunk
is read, so a missing object raises `NotFound` while an answer can still say 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from gateway.storage.base import ObjectStore

CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class ObjectStream:
    """An opened object: its size, the content type the store recorded (if any), its bytes."""

    size: int
    chunks: AsyncIterator[bytes]
    content_type: str | None = None

    async def read(self) -> bytes:
        """The whole object (for small ones)."""
        return b"".join([chunk async for chunk in self.chunks])

    async def aclose(self) -> None:
        """Release the object without reading it to its end."""
        close = getattr(self.chunks, "aclose", None)
        if close is not None:
            await close()


@runtime_checkable
class StreamingStore(Protocol):
    """A store that can open an object for reading in chunks."""

    async def open(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> ObjectStream:
        """The object at `key`, opened; raises `NotFound` if there is none."""


async def open_stream(
    objects: ObjectStore, key: str, chunk_bytes: int = CHUNK_BYTES
) -> ObjectStream:
    """`key` opened for streaming (a store without `open`: read whole, one chunk)."""
    if isinstance(objects, StreamingStore):
        return await objects.open(key, chunk_bytes)
    data = await objects.get(key)

    async def one() -> AsyncIterator[bytes]:
        yield data

    return ObjectStream(len(data), one())
