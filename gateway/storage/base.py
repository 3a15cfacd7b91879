"""The ObjectStore protocol, and the key rules every store enforces.

A key is ``<bucket>/<path>`` (OSCAR's convention: the first segment of a storage path is the
bucket). Keys can never escape their bucket or prefix: ``..`` and ``.`` segments, absolute paths,
backslashes, NUL and other control characters, empty segments, and segments starting with ``.``
are all refused with `InvalidInput` (422).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.errors import InvalidInput
from runtimes import contract
from runtimes.contract import base_name as base_name

MAX_KEY_LENGTH = contract.MAX_KEY_LENGTH


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object: its key, its etag (content MD5, hex, no quotes) and its size."""

    key: str
    etag: str
    size: int


class ObjectStore(Protocol):
    """An object store: the embedded `FilesystemStore` or any S3-compatible `S3Store`."""

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        """Store `data` at `key` atomically (readers see the old or the new object, whole)."""

    async def get(self, key: str) -> bytes:
        """The object's bytes; raises `NotFound` if there is none."""

    async def list(self, prefix: str, start_after: str | None = None) -> list[ObjectInfo]:
        """Objects whose key starts with `prefix` (after `start_after`), in key order."""

    async def delete(self, key: str) -> None:
        """Delete the object (no error if it is already gone)."""

    async def exists(self, key: str) -> bool:
        """True if an object is stored at `key`."""

    async def aclose(self) -> None:
        """Release the store's resources."""


def check_key(key: str) -> str:
    """Return `key` if it is a safe ``bucket/path`` object key, else raise `InvalidInput`
    (the rules are `runtimes.contract.check_key`'s, shared with the batch runtime)."""
    try:
        return contract.check_key(key)
    except contract.BadKey as exc:
        raise InvalidInput(str(exc)) from None


def check_prefix(prefix: str) -> str:
    """A listing prefix: ``bucket`` or ``bucket/path/`` (the same rules, trailing ``/`` allowed)."""
    stripped = prefix.rstrip("/")
    check_key(stripped + "/x" if "/" not in stripped else stripped)
    return prefix


def join_key(path: str, name: str) -> str:
    """``path/name``, checked (``name`` may hold sub-folders, never ``..``)."""
    try:
        return contract.join_key(path, name)
    except contract.BadKey as exc:
        raise InvalidInput(str(exc)) from None
