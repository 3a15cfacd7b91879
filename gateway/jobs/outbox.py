"""The outbox: output files bound for another gateway's service, kept until it took them.

An output binding whose storage is ``oscar.<cluster>`` (OSCAR's ``storage_provider:
oscar.<cluster>``) names a service of another cluster: the first segment of its path is that
service's name. Its files are not stored in a bucket here: `OutboxStore.put` writes each in the
``outbox`` table of the job store (SQLite, in the transaction of the put), and
`gateway.jobs.forward` posts it to the cluster's ``/job/<service>`` and deletes it once taken. So
the item that wrote it is done as soon as it is written, and nothing is lost while the other
side is down, nor when this gateway restarts.

A binding whose storage is a member's URL (``storage: https://cloud.example:8080``, or OSCAR's
``storage_provider:`` with the same URL) is the same, sent to that URL (`remote`).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import NotFound
from gateway.jobs.clusters import URL_PREFIXES
from gateway.jobs.origin import ORIGIN_PREFIX
from gateway.storage import ObjectStore, check_key
from gateway.storage.base import ObjectInfo

CLUSTER_PREFIX = "oscar."
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    storage TEXT NOT NULL,
    key TEXT NOT NULL,
    data BLOB NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
"""


@dataclass(frozen=True, slots=True)
class Parcel:
    """One file waiting in the outbox: the storage it was written to (``oscar.<cluster>``),
    its key (``<service>/<name>``) and its bytes."""

    id: int
    storage: str
    key: str
    data: bytes
    attempts: int
    created: float

    @property
    def delivery_id(self) -> str:
        """A stable id of this file's delivery (the same on every resend): the receiving
        gateway makes one job of it however often it comes."""
        made = f"{self.id}\0{self.created!r}\0{self.storage}\0{self.key}".encode()
        return hashlib.sha256(made).hexdigest()[:32]

    @property
    def cluster(self) -> str:
        """The cluster's id (``oscar.<cluster>``), or the member's URL."""
        return self.storage.removeprefix(CLUSTER_PREFIX)

    @property
    def service(self) -> str:
        return self.key.split("/", 1)[0]


def remote(storage: str) -> bool:
    """Whether a binding's storage names another cluster (``oscar.<cluster>``) or a member's
    URL: its files go through the outbox."""
    if storage.startswith(URL_PREFIXES):
        return True
    return storage.startswith(CLUSTER_PREFIX) and storage != CLUSTER_PREFIX


class Outbox:
    """The ``outbox`` table (its own connection to the job store's SQLite file)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def add(self, storage: str, key: str, data: bytes) -> None:
        self._db.execute(
            "INSERT INTO outbox (storage, key, data, created) VALUES (?, ?, ?, ?)",
            (storage, key, data, time.time()),
        )

    def pending(self, limit: int = 100) -> list[Parcel]:
        """The oldest files still to send."""
        rows = self._db.execute(
            "SELECT id, storage, key, data, attempts, created FROM outbox ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            Parcel(int(r[0]), str(r[1]), str(r[2]), bytes(r[3]), int(r[4]), float(r[5]))
            for r in rows
        ]

    def sent(self, parcel: Parcel) -> None:
        self._db.execute("DELETE FROM outbox WHERE id = ?", (parcel.id,))

    def retry(self, parcel: Parcel, error: str) -> None:
        self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, error = ? WHERE id = ?", (error, parcel.id)
        )

    def find(self, storage: str, key: str) -> bytes | None:
        row = self._db.execute(
            "SELECT data FROM outbox WHERE storage = ? AND key = ? ORDER BY id DESC LIMIT 1",
            (storage, key),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def keys(self, storage: str, prefix: str) -> list[tuple[str, int]]:
        rows = self._db.execute(
            "SELECT key, length(data) FROM outbox WHERE storage = ? AND substr(key, 1, ?) = ? "
            "ORDER BY key",
            (storage, len(prefix), prefix),
        ).fetchall()
        return [(str(r[0]), int(r[1])) for r in rows]

    def remove(self, storage: str, key: str) -> None:
        self._db.execute("DELETE FROM outbox WHERE storage = ? AND key = ?", (storage, key))


class OutboxStore:
    """The `ObjectStore` of an ``oscar.<cluster>`` binding: what is put waits in the outbox."""

    def __init__(self, name: str, outbox: Outbox, wake: Callable[[], None]) -> None:
        self._name = name
        self._outbox = outbox
        self._wake = wake

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        self._outbox.add(self._name, check_key(key), data)
        self._wake()
        return ObjectInfo(key, hashlib.md5(data, usedforsecurity=False).hexdigest(), len(data))

    async def get(self, key: str) -> bytes:
        data = self._outbox.find(self._name, check_key(key))
        if data is None:
            raise NotFound(f"{key!r} is no longer here: it was sent to {self._name}")
        return data

    async def list(self, prefix: str, start_after: str | None = None) -> list[ObjectInfo]:
        return [
            ObjectInfo(key, "", size)
            for key, size in self._outbox.keys(self._name, prefix)
            if start_after is None or key > start_after
        ]

    async def delete(self, key: str) -> None:
        self._outbox.remove(self._name, check_key(key))

    async def exists(self, key: str) -> bool:
        return self._outbox.find(self._name, check_key(key)) is not None

    async def aclose(self) -> None:
        return None


class StoreMap(dict[str, ObjectStore]):
    """The named stores, where an ``oscar.<cluster>`` name (or a member's URL) is the outbox's
    store for it, and an ``origin.<cluster>`` name the store of a delegating cluster
    (`gateway.jobs.origin`, made by `origin`)."""

    def __init__(
        self,
        stores: Mapping[str, ObjectStore],
        outbox: Outbox | None,
        wake: Callable[[], None],
        origin: Callable[[str], ObjectStore] | None = None,
    ) -> None:
        super().__init__(stores)
        self._outbox = outbox
        self._wake = wake
        self._origin = origin

    def __missing__(self, name: str) -> ObjectStore:
        cluster = name.removeprefix(ORIGIN_PREFIX)
        if self._origin is not None and cluster and cluster != name:
            store = self[name] = self._origin(cluster)
            return store
        if self._outbox is None or not remote(name):
            raise KeyError(name)
        store = self[name] = OutboxStore(name, self._outbox, self._wake)
        return store

    def get(self, name: str, default: ObjectStore | None = None) -> ObjectStore | None:  # type: ignore[override]
        try:
            return self[name]
        except KeyError:
            return default
