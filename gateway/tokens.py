"""Service tokens the admin can read back: HMAC-SHA256(gateway key, per-service salt).

Why derived, not stored: OSCAR's API gives the admin a service's token (``GET
/system/services/{name}``), and OSCAR's clients rely on it (oscar-python's ``run_service`` reads
it when it is given no token). So a token must be recoverable. Keeping tokens in clear in
``services.db`` would hand every token to whoever gets a copy of that file (a backup, a debug
bundle). Instead each token is ``HMAC-SHA256(key, salt)``: the key is one random 32-byte secret
per gateway, in ``<data dir>/token.key`` (mode 0600, made at the first start, never logged), and
the salt is random per service, kept in the database with the token's SHA-256 hash. The
database alone reveals no token; checking a request needs only the hash (compared in constant
time), never the key. Rotating a token draws a new salt. Should the key file be lost, the stored
hashes still check requests, but tokens cannot be read back until they are rotated
(`TokenKey.token` returns None rather than a wrong token).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

_KEY_BYTES = 32


def new_token() -> str:
    """64 hex characters from the OS's CSPRNG."""
    return secrets.token_hex(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest a token is stored and compared as."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just made: the token (to show), its hash and its salt (to store)."""

    token: str
    token_hash: str
    salt: str


class TokenKey:
    """The gateway's secret key for service tokens."""

    def __init__(self, key: bytes) -> None:
        if len(key) < _KEY_BYTES:
            raise ValueError("the token key is too short")
        self._key = key

    @classmethod
    def load_or_create(cls, path: Path) -> TokenKey:
        """Read the key file, or create it (0600) with a fresh random key."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls(bytes.fromhex(path.read_text().strip()))
        key = secrets.token_bytes(_KEY_BYTES)
        with os.fdopen(fd, "w") as file:
            file.write(key.hex())
        return cls(key)

    def derive(self, salt: str) -> str:
        """The token of a salt: 64 hex characters."""
        return hmac.new(self._key, salt.encode(), hashlib.sha256).hexdigest()

    def issue(self) -> IssuedToken:
        """A new token (for a new service, or a rotation)."""
        salt = secrets.token_hex(16)
        token = self.derive(salt)
        return IssuedToken(token, hash_token(token), salt)

    def token(self, salt: str | None, token_hash: str | None) -> str | None:
        """The token of a stored (salt, hash), or None when it cannot be derived (no salt, a
        token made before tokens were derived, or another key)."""
        if not salt or not token_hash:
            return None
        token = self.derive(salt)
        return token if hmac.compare_digest(hash_token(token), token_hash) else None
