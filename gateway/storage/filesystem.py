"""FilesystemStore: the embedded object store, one file per object under a root folder.

Writes go to a staging file in ``<root>/.staging`` and are renamed into place, so a reader (or a
restart after ``kill -9``) sees the old object or the new one, whole, never a torn file. Etags are
the content's MD5, like S3's for single-part uploads, cached by (size, mtime) so that listing a
prefix repeatedly does not re-read every file.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from gateway.errors import NotFound
from gateway.storage.base import ObjectInfo, check_key, check_prefix
from gateway.storage.streams import CHUNK_BYTES, ObjectStream

_STAGING = ".staging"


class FilesystemStore:
    """Objects as files under `root` (key ``bucket/a/b`` -> ``root/bucket/a/b``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._etags: dict[str, tuple[int, int, str]] = {}

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        path = self._path(key)
        return await asyncio.to_thread(self._write, key, path, data)

    def _write(self, key: str, path: Path, data: bytes) -> ObjectInfo:
        staging = self.root / _STAGING
        staging.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = staging / uuid.uuid4().hex
        try:
            with temp.open("wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        stat = path.stat()
        self._etags[key] = (stat.st_size, stat.st_mtime_ns, etag)
        return ObjectInfo(key, etag, len(data))

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object {key!r}") from None

    async def open(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> ObjectStream:
        path = self._path(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object {key!r}") from None
        size = os.fstat(file.fileno()).st_size
        return ObjectStream(size, _chunks(file, chunk_bytes))

    async def list(self, prefix: str, start_after: str | None = None) -> list[ObjectInfo]:
        check_prefix(prefix)
        return await asyncio.to_thread(self._list, prefix, start_after)

    def _list(self, prefix: str, start_after: str | None) -> builtins.list[ObjectInfo]:
        head, _, _ = prefix.rpartition("/")
        top = self.root / head if head else self.root
        found: builtins.list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for filename in filenames:
                if filename.startswith("."):
                    continue
                path = Path(dirpath) / filename
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix) or (start_after and key <= start_after):
                    continue
                info = self._info(key, path)
                if info is not None:
                    found.append(info)
        found.sort(key=lambda info: info.key)
        return found

    def _info(self, key: str, path: Path) -> ObjectInfo | None:
        try:
            stat = path.stat()
            cached = self._etags.get(key)
            if cached and cached[:2] == (stat.st_size, stat.st_mtime_ns):
                return ObjectInfo(key, cached[2], stat.st_size)
            etag = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
        except FileNotFoundError:  # deleted while listing
            return None
        self._etags[key] = (stat.st_size, stat.st_mtime_ns, etag)
        return ObjectInfo(key, etag, stat.st_size)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        self._etags.pop(key, None)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def aclose(self) -> None:
        self._etags.clear()


async def _chunks(file: BinaryIO, size: int) -> AsyncIterator[bytes]:
    """The file's bytes, `size` at a time, read off the event loop; closed at the end."""
    try:
        while chunk := await asyncio.to_thread(file.read, size):
            yield chunk
    finally:
        file.close()
