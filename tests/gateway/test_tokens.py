"""Service tokens derived from the gateway's key: readable back by the admin, never stored."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from gateway.definitions import DefinitionStore
from gateway.services import ServiceSpec
from gateway.tokens import TokenKey, hash_token


def test_the_key_file_is_made_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "token.key"
    first = TokenKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    issued = first.issue()
    again = TokenKey.load_or_create(path)  # the next start reads the same key
    assert again.token(issued.salt, issued.token_hash) == issued.token


def test_a_token_is_64_hex_and_stored_only_as_salt_and_hash(tmp_path: Path) -> None:
    key = TokenKey.load_or_create(tmp_path / "token.key")
    issued = key.issue()
    assert len(issued.token) == 64 and int(issued.token, 16) >= 0
    assert issued.token_hash == hash_token(issued.token)
    store = DefinitionStore(tmp_path / "services.db")
    spec = ServiceSpec(name="svc", runtime="script", script="echo\n")
    store.save(spec, origin="api", token_hash=issued.token_hash)
    store.set_token("svc", issued.token_hash, issued.salt)
    store.close()
    assert issued.token.encode() not in (tmp_path / "services.db").read_bytes()
    assert DefinitionStore(tmp_path / "services.db").token_salt("svc") == issued.salt


def test_another_key_cannot_read_a_token_back(tmp_path: Path) -> None:
    issued = TokenKey.load_or_create(tmp_path / "a.key").issue()
    other = TokenKey.load_or_create(tmp_path / "b.key")
    assert other.token(issued.salt, issued.token_hash) is None
    assert other.token(None, issued.token_hash) is None


def test_a_database_from_before_gets_the_salt_column(tmp_path: Path) -> None:
    path = tmp_path / "services.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE services (name TEXT PRIMARY KEY, definition TEXT NOT NULL, "
            "origin TEXT NOT NULL, token_hash TEXT, updated REAL NOT NULL)"
        )
        db.execute("INSERT INTO services VALUES ('old', '{}', 'api', 'h', 0)")
    store = DefinitionStore(path)
    assert store.token_salt("old") is None
    store.set_token("old", "h2", "s2")
    assert store.token_salt("old") == "s2"
