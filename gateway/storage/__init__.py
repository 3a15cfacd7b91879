"""Object storage: the `ObjectStore` protocol, its filesystem, S3 and WebDAV implementations, a
factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from gateway.errors import GatewayError, Retryable
from gateway.services import StorageSpec
from gateway.storage.base import ObjectInfo, ObjectStore, base_name, check_key, join_key
from gateway.storage.filesystem import FilesystemStore

__all__ = [
    "FilesystemStore",
    "ObjectInfo",
    "ObjectStore",
    "base_name",
    "build_stores",
    "check_key",
    "check_stores",
    "join_key",
]


log = logging.getLogger("gateway.storage")


def build_store(spec: StorageSpec, default_root: Path) -> ObjectStore:
    """One store from its definition (a filesystem store without `root` uses `default_root`)."""
    if spec.type == "s3":
        from gateway.storage.s3 import S3Store  # boto3 costs ~25 MB: only where S3 is used

        return S3Store(spec.endpoint, spec.access_key, spec.secret_key, spec.region)
    if spec.type == "webdav":
        from gateway.storage.webdav import WebDavStore

        password = spec.password.get_secret_value() if spec.password else None
        return WebDavStore(
            spec.webdav_url(), spec.login, password,
            verify=spec.verify, events_url=spec.events_url,
        )  # fmt: skip
    return FilesystemStore(spec.root or default_root)


def build_stores(specs: Mapping[str, StorageSpec], data_dir: Path) -> dict[str, ObjectStore]:
    """The named stores of an FDL ``storage:`` mapping; ``default`` falls back to the embedded
    filesystem store under ``data_dir/objects``."""
    default_root = data_dir / "objects"
    stores = {name: build_store(spec, default_root) for name, spec in specs.items()}
    stores.setdefault("default", FilesystemStore(default_root))
    return stores


async def check_stores(stores: Mapping[str, ObjectStore]) -> None:
    """Check at start the stores that can (WebDAV: the root, with the credentials): a store that
    refuses them, or has no such root, raises `GatewayError` naming it; one that cannot be reached
    is logged and left for later (a server restarting must not keep the gateway down)."""
    for name, objects in stores.items():
        check = getattr(objects, "check", None)
        if check is None:
            continue
        try:
            await check()
        except GatewayError as exc:
            if isinstance(exc, Retryable):
                log.warning("storage %r: %s (retried when used)", name, exc.message)
                continue
            log.error("storage %r: %s: the gateway cannot start", name, exc.message)
            raise type(exc)(f"storage {name!r}: {exc.message}") from exc
