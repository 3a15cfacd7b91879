"""DefinitionStore: service definitions and token hashes, kept durably in SQLite (WAL mode).

Services created through the API survive a restart; a file given to ``gateway serve -f`` is read
again at each start and wins over a stored definition of the same name. Tokens are stored as
SHA-256 hashes with the salt they are derived from (`gateway.tokens`), never in clear.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.services import ServiceSpec
from gateway.spec_parts import REVEAL

_SCHEMA = """
CREATE TABLE IF NOT EXISTS services (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    origin TEXT NOT NULL,
    token_hash TEXT,
    updated REAL NOT NULL
)
"""
_SALT_COLUMN = "ALTER TABLE services ADD COLUMN token_salt TEXT"


@dataclass(frozen=True, slots=True)
class StoredService:
    """A stored definition, where it came from ("api" or "file"), and its token hash."""

    spec: ServiceSpec
    origin: str
    token_hash: str | None


class DefinitionStore:
    """SQLite table of service definitions (one connection, used from one thread at a time)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(services)")}
        if "token_salt" not in columns:  # a database from before tokens were derived
            self._db.execute(_SALT_COLUMN)

    def load_all(self) -> list[StoredService]:
        rows = self._db.execute(
            "SELECT definition, origin, token_hash FROM services ORDER BY name"
        ).fetchall()
        return [StoredService(ServiceSpec.model_validate_json(d), o, t) for d, o, t in rows]

    def token_hash(self, name: str) -> str | None:
        row = self._db.execute("SELECT token_hash FROM services WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def save(self, spec: ServiceSpec, *, origin: str, token_hash: str | None) -> None:
        self._db.execute(
            "INSERT INTO services (name, definition, origin, token_hash, updated) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET definition = excluded."
            "definition, origin = excluded.origin, token_hash = excluded.token_hash, "
            "updated = excluded.updated",
            (spec.name, spec.model_dump_json(context=REVEAL), origin, token_hash, time.time()),
        )

    def set_token(self, name: str, token_hash: str, salt: str) -> None:
        """Record a service's new token (its hash and the salt it is derived from)."""
        self._db.execute(
            "UPDATE services SET token_hash = ?, token_salt = ? WHERE name = ?",
            (token_hash, salt, name),
        )

    def token_salt(self, name: str) -> str | None:
        row = self._db.execute("SELECT token_salt FROM services WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def delete(self, name: str) -> None:
        self._db.execute("DELETE FROM services WHERE name = ?", (name,))

    def close(self) -> None:
        self._db.close()
