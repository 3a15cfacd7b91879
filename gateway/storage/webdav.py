"""WebDavStore: objects as files on a WebDAV server (dCache's WebDAV door, Nextcloud, Apache...).

Key ``bucket/a/b`` is the file ``<url>/bucket/a/b``: the configured URL is the root no key can
leave (the key rules of `gateway.storage.base` apply, and each segment is percent-encoded).
The client is aiohttp, with HTTP Basic auth and a TLS-verification switch.

- ``put`` writes to a hidden ``.<name>.<uuid>.part`` file in the same folder and MOVEs it into
  place (``Overwrite: T``), so readers and listings see the old file or the new one, whole (hidden
  names are never objects). Missing parent collections are created with MKCOL, top down, once
  per folder and process. The etag it returns is read back with PROPFIND, so it is the same one a
  listing shows (the watcher's and the intake's deduplication compare them).
- ``list`` asks PROPFIND ``Depth: 1`` first: every server must support it (RFC 4918 §9.1), many
  refuse ``infinity`` (Apache's default, nginx), and an input folder is usually flat, so one
  request answers. Only when a folder has sub-folders does it try ``Depth: infinity`` once for the
  whole subtree; a server that refuses it (403 ``propfind-finite-depth``, 400, 501) is remembered
  and walked one ``Depth: 1`` level at a time.
- ``get_stream`` and ``put_stream`` move a file in chunks, never whole in memory.

Failures are translated here: 404 is `NotFound`; a server that cannot be reached, times out or
answers 5xx is `Unavailable` (503, `Retryable`); refused credentials (401/403) and anything else
are `UpstreamError`, their message naming the server, never the password.
"""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aiohttp

from gateway.errors import GatewayError, InvalidInput, NotFound, Unavailable, UpstreamError
from gateway.storage.base import ObjectInfo, check_key, check_prefix
from gateway.storage.davxml import PROPFIND_BODY, DavEntry, DavFormatError, parse_multistatus

CHUNK = 256 * 1024
_DEPTH_REFUSED = frozenset({400, 403, 501})
_TRANSIENT = {500, 502, 503, 504, 507}


class WebDavStore:
    """Objects as files under a WebDAV URL."""

    #: a file another client uploads is listed while it is written (the watcher waits for it to
    #: settle); this store's own writes appear whole (see ``put``)
    partial_uploads_visible = True

    def __init__(
        self,
        url: str,
        login: str | None = None,
        password: str | None = None,
        *,
        verify: bool = True,
        timeout: float = 60.0,
        events_url: str | None = None,
    ) -> None:
        self.url = url.rstrip("/") + "/"
        self.events_url = events_url  # dCache's frontend (gateway.jobs.dcache)
        self.root_path = unquote(urlsplit(self.url).path).rstrip("/")
        self._headers = {"Accept-Encoding": "identity"}  # the bytes as stored, never re-encoded
        if login:
            self._headers["Authorization"] = aiohttp.encode_basic_auth(login, password or "")
        self._verify = verify
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._collections: set[str] = set()
        self._infinity: bool | None = None  # unknown until a folder with sub-folders is listed

    # --- HTTP ----------------------------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        """The HTTP session (Basic auth, TLS switch), shared with dCache's event channel."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(ssl=self._verify, limit=32),
                timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=self._timeout),
            )
        return self._session

    def href(self, path: str) -> str:
        """The URL of a key or folder (``bucket/a`` -> ``<url>bucket/a``), each segment encoded."""
        return self.url + "/".join(quote(part, safe="") for part in path.split("/") if part)

    def path_of(self, key: str) -> str:
        """The server path of a key, decoded (``/root/bucket/a/b``: dCache's namespace path)."""
        return f"{self.root_path}/{key}"

    async def _request(
        self, method: str, path: str, what: str, *, ok: tuple[int, ...], **kwargs: Any
    ) -> tuple[int, bytes]:
        """Send one request; the status and body of an answer in `ok` or 404, else raise."""
        try:
            async with self.session().request(method, self.href(path), **kwargs) as answer:
                body = await answer.read()
                if answer.status in ok or answer.status == 404:
                    return answer.status, body
                raise self.error_for(what, answer.status)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise Unavailable(f"{self._where(what)} unreachable: {_describe(exc)}") from exc

    def _where(self, what: str) -> str:
        return f"{what}: WebDAV server {self.url}" if what else f"WebDAV server {self.url}"

    def error_for(self, what: str, status: int) -> GatewayError:
        """The `GatewayError` for an unexpected answer `status` of this server (or its frontend)."""
        if status in (401, 403):
            return UpstreamError(
                f"{self._where(what)} refused the credentials ({status}): check "
                "the storage's login and password"
            )
        if status in _TRANSIENT:
            return Unavailable(f"{self._where(what)} answered {status}")
        return UpstreamError(f"{self._where(what)} answered {status}")

    async def _propfind(
        self, path: str, depth: str, what: str, refused: frozenset[int] = frozenset()
    ) -> builtins.list[DavEntry] | None:
        """The entries at `path` (None: it does not exist, or the server answered `refused`)."""
        status, body = await self._request(
            "PROPFIND", path, what, ok=(207, *refused), data=PROPFIND_BODY,
            headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
        )  # fmt: skip
        if status != 207:
            return None
        try:
            return parse_multistatus(body)
        except DavFormatError as exc:
            raise UpstreamError(f"{self._where(what)}: {exc}") from None

    # --- the ObjectStore protocol --------------------------------------------------------------

    async def check(self) -> None:
        """Raise a clear `GatewayError` unless the server answers PROPFIND on the root with these
        credentials (called at the gateway's start)."""
        if await self._propfind("", "0", "") is None:
            raise UpstreamError(f"WebDAV server {self.url}: the root folder does not exist (404)")

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        return await self._put(key, data, content_type)

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], content_type: str | None = None
    ) -> ObjectInfo:
        """Store the chunks at `key` as they come (chunked transfer encoding)."""
        return await self._put(key, chunks, content_type)

    async def _put(
        self, key: str, body: bytes | AsyncIterable[bytes], content_type: str | None
    ) -> ObjectInfo:
        """Write a hidden part file next to `key`, then MOVE it into place."""
        folder, _, name = check_key(key).rpartition("/")
        part = f"{folder}/.{name}.{uuid.uuid4().hex[:12]}.part"
        headers = {"Content-Type": content_type or "application/octet-stream"}
        what = f"put {key}"
        await self._ensure_collections(folder)
        ok = (200, 201, 204, 409)
        status, _ = await self._request("PUT", part, what, ok=ok, data=body, headers=headers)
        if status in (404, 409) and isinstance(body, bytes):  # its folder was deleted meanwhile
            self._collections.clear()
            await self._ensure_collections(folder)
            status, _ = await self._request("PUT", part, what, ok=ok, data=body, headers=headers)
        if status in (404, 409):
            raise UpstreamError(f"{self._where(what)} has no folder {folder!r}")
        try:
            await self._request(
                "MOVE", part, what, ok=(201, 204),
                headers={"Destination": self.href(key), "Overwrite": "T"},
            )  # fmt: skip
        except BaseException:
            await asyncio.shield(self._discard(part))
            raise
        info = await self.stat(key)
        if info is None:
            raise UpstreamError(f"{self._where(what)} lost the file after MOVE")
        return info

    async def _discard(self, part: str) -> None:
        try:
            await self._request("DELETE", part, f"delete {part}", ok=(200, 204))
        except GatewayError:
            pass

    async def ensure_folder(self, folder: str) -> None:
        """Create the folder (``bucket/a/b``) and its parents if missing."""
        check_key(folder)
        await self._ensure_collections(folder)

    async def _ensure_collections(self, folder: str) -> None:
        """MKCOL each missing collection of `folder`, top down (405: it exists already)."""
        parts = folder.split("/")
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            if path in self._collections:
                continue
            status, _ = await self._request("MKCOL", path, f"mkcol {path}", ok=(201, 405))
            if status == 404:
                raise UpstreamError(f"mkcol {path}: WebDAV server {self.url}: no parent folder")
            self._collections.add(path)

    async def get(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.get_stream(key)])

    async def get_stream(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        """The object's bytes, `chunk_size` at a time; raises `NotFound` if there is none."""
        what = f"get {check_key(key)}"
        try:
            async with self.session().get(self.href(key)) as answer:
                if answer.status == 404:
                    raise NotFound(f"no object {key!r}")
                if answer.status != 200:
                    raise self.error_for(what, answer.status)
                async for chunk in answer.content.iter_chunked(chunk_size):
                    yield chunk
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise Unavailable(f"{self._where(what)} unreachable: {_describe(exc)}") from exc

    async def stat(self, key: str) -> ObjectInfo | None:
        """The object at `key` with the etag a listing shows; None if there is no file there."""
        entries = await self._propfind(check_key(key), "0", f"stat {key}")
        if not entries or entries[0].collection:
            return None
        return ObjectInfo(key, entries[0].etag, entries[0].size)

    async def list(self, prefix: str, start_after: str | None = None) -> builtins.list[ObjectInfo]:
        folder = check_prefix(prefix).rpartition("/")[0]
        found = []
        for entry in await self._walk(folder):
            key = self._key(entry.path)
            if key is None or not key.startswith(prefix):
                continue
            if start_after is None or key > start_after:
                found.append(ObjectInfo(key, entry.etag, entry.size))
        found.sort(key=lambda info: info.key)
        return found

    async def _walk(self, folder: str) -> builtins.list[DavEntry]:
        """The files under `folder`, at any depth (see the module's docstring)."""
        entries = await self._propfind(folder, "1", f"list {folder or '/'}")
        if entries is None:
            return []
        here = self.path_of(folder).rstrip("/")
        files = [e for e in entries if not e.collection]
        subfolders = [
            e for e in entries if e.collection and e.path != here and self._key(e.path + "/x")
        ]
        if not subfolders:
            return files
        if self._infinity is not False:
            deep = await self._propfind(folder, "infinity", f"list {folder or '/'}", _DEPTH_REFUSED)
            self._infinity = deep is not None
            if deep is not None:
                return [e for e in deep if not e.collection]
            # a finite-depth server (RFC 4918 §9.1): walk it one level at a time
        for sub in subfolders:
            relative = sub.path[len(self.root_path) + 1 :]
            files += await self._walk(relative)
        return files

    def _key(self, path: str) -> str | None:
        """The object key of a server path, if it is one (under the root, no hidden segment)."""
        if not path.startswith(self.root_path + "/"):
            return None
        try:
            return check_key(path[len(self.root_path) + 1 :])
        except InvalidInput:
            return None

    async def delete(self, key: str) -> None:
        await self._request("DELETE", check_key(key), f"delete {key}", ok=(200, 204))

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._collections.clear()


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
