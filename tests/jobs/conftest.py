"""Fixtures of the job tests: a real S3 server (SeaweedFS), a real WebDAV server (WsgiDAV)."""

from __future__ import annotations

from tests.seaweed import seaweed
from tests.webdav import webdav

__all__ = ["seaweed", "webdav"]
