"""WebDavStore against real WebDAV servers (WsgiDAV): what the ObjectStore contract does not say.

Collections created on demand, no part file left behind, listing with and without ``Depth:
infinity``, refused credentials and an unreachable server as clear errors, the TLS switch, and a
large file moved in chunks with bounded memory.
"""

from __future__ import annotations

import hashlib
import ssl
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from gateway.errors import Unavailable, UpstreamError
from gateway.services import StorageSpec
from gateway.storage import build_stores
from gateway.storage.webdav import WebDavStore
from tests.support import free_port
from tests.webdav import DavServer, WebDavProcess


@pytest.fixture
async def store(webdav: DavServer) -> AsyncIterator[WebDavStore]:
    objects = WebDavStore(webdav.url, webdav.login, webdav.password)
    yield objects
    await objects.aclose()


@pytest.fixture
def finite_webdav(tmp_path: Path) -> Iterator[DavServer]:
    """A server that refuses ``PROPFIND Depth: infinity`` (403), like Apache's mod_dav."""
    server = WebDavProcess(tmp_path / "finite", finite_depth=True)
    server.start()
    try:
        yield server.server
    finally:
        server.stop()


async def test_put_creates_missing_collections_and_leaves_no_part_file(
    store: WebDavStore, webdav: DavServer
) -> None:
    bucket = webdav.new_bucket()
    await store.put(f"{bucket}/deep/er/still/result.json", b"{}", "application/json")
    folder = webdav.folder / bucket / "deep" / "er" / "still"
    assert [p.name for p in folder.iterdir()] == ["result.json"]  # the .part file was moved
    assert (folder / "result.json").read_bytes() == b"{}"
    await store.put(f"{bucket}/deep/other.json", b"[]")  # its folder exists: no MKCOL needed
    assert (webdav.folder / bucket / "deep" / "other.json").read_bytes() == b"[]"


async def test_hidden_files_are_not_objects(store: WebDavStore, webdav: DavServer) -> None:
    bucket = webdav.new_bucket()
    await store.put(f"{bucket}/in/a.jpg", b"a")
    with webdav.client() as client:  # another client's upload in progress, under a hidden name
        assert client.put(f"{bucket}/in/.b.jpg.part", content=b"b").status_code == 201
    assert [o.key for o in await store.list(f"{bucket}/in/")] == [f"{bucket}/in/a.jpg"]


@pytest.mark.parametrize("server", ["webdav", "finite_webdav"])
async def test_listing_walks_sub_folders_with_or_without_depth_infinity(
    server: str, request: pytest.FixtureRequest
) -> None:
    dav: DavServer = request.getfixturevalue(server)
    bucket = dav.new_bucket()
    store = WebDavStore(dav.url, dav.login, dav.password)
    try:
        for key in ("in/b.png", "in/x/c.png", "in/x/y/d.png", "in/z/e.png", "out/f.json"):
            await store.put(f"{bucket}/{key}", key.encode())
        listed = await store.list(f"{bucket}/in/")
        assert [o.key for o in listed] == [
            f"{bucket}/in/b.png",
            f"{bucket}/in/x/c.png",
            f"{bucket}/in/x/y/d.png",
            f"{bucket}/in/z/e.png",
        ]
        assert [o.size for o in listed] == [len("in/b.png"), 10, 12, 10]
        assert await store.list(f"{bucket}/in/x/") == [o for o in listed if "/x/" in o.key]
    finally:
        await store.aclose()


async def test_wrong_credentials_are_a_clear_error(webdav: DavServer) -> None:
    store = WebDavStore(webdav.url, webdav.login, "not-the-password")
    try:
        with pytest.raises(UpstreamError) as caught:
            await store.check()
        message = caught.value.message
        assert "refused the credentials (401)" in message and webdav.url in message
        assert "not-the-password" not in message
        with pytest.raises(UpstreamError, match="refused the credentials"):
            await store.list("bucket/in/")
    finally:
        await store.aclose()


async def test_an_unreachable_server_is_unavailable() -> None:
    store = WebDavStore(f"http://127.0.0.1:{free_port()}/dav/", "user", "secret")
    try:
        with pytest.raises(Unavailable) as caught:
            await store.get("bucket/in/a.jpg")
        assert caught.value.status_code == 503 and "unreachable" in caught.value.message
    finally:
        await store.aclose()


async def test_tls_is_verified_unless_switched_off(tmp_path: Path) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate.private_key_pem.write_to_path(str(key))
    certificate.cert_chain_pems[0].write_to_path(str(cert))
    server = WebDavProcess(tmp_path / "tls", tls=(cert, key))
    server.start()
    dav = server.server
    specs = {
        "strict": StorageSpec(type="webdav", url=dav.url, login=dav.login, password=dav.password),
        "lax": StorageSpec(
            type="webdav", url=dav.url, login=dav.login, password=dav.password, verify=False
        ),
    }
    stores = build_stores(specs, tmp_path)
    try:
        with pytest.raises(Unavailable) as caught:  # a self-signed certificate: not trusted
            await stores["strict"].list("bucket/")
        assert isinstance(caught.value.__cause__.__cause__, ssl.SSLCertVerificationError)  # type: ignore[union-attr]
        assert dav.url.startswith("https://")
        await stores["lax"].put("bucket/in/a.txt", b"over TLS")
        assert (dav.folder / "bucket" / "in" / "a.txt").read_bytes() == b"over TLS"
    finally:
        for objects in stores.values():
            await objects.aclose()
        server.stop()


async def test_a_large_file_moves_in_chunks_never_whole_in_memory(
    store: WebDavStore, webdav: DavServer
) -> None:
    size, block = 64 * 1024 * 1024, 256 * 1024
    key = f"{webdav.new_bucket()}/in/large.bin"
    sent = hashlib.sha256()

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(size // block):
            chunk = index.to_bytes(8, "big") * (block // 8)
            sent.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        info = await store.put_stream(key, chunks())
        received, count = hashlib.sha256(), 0
        async for chunk in store.get_stream(key):
            received.update(chunk)
            count += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == size == count
    assert received.hexdigest() == sent.hexdigest()
    on_disk = webdav.folder / key
    assert on_disk.stat().st_size == size
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak / 2**20:.1f} MiB for a 64 MiB file"


CANNED = """<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:">
 <D:response><D:href>/dav/b/in/</D:href><D:propstat><D:prop>
  <D:resourcetype><D:collection/></D:resourcetype></D:prop>
  <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
 <D:response><D:href>/dav/b/in/ok%20photo.jpg</D:href><D:propstat><D:prop>
  <D:resourcetype/><D:getetag>W/"abc"</D:getetag><D:getcontentlength>3</D:getcontentlength>
  </D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
 <D:response><D:href>http://127.0.0.1:1/dav/b/in/no-etag.jpg</D:href><D:propstat><D:prop>
  <D:resourcetype/><D:getcontentlength>7</D:getcontentlength>
  <D:getlastmodified>Mon, 30 Nov 2026 10:00:00 GMT</D:getlastmodified></D:prop>
  <D:status>HTTP/1.1 200 OK</D:status></D:propstat>
  <D:propstat><D:prop><D:getetag/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status>
  </D:propstat></D:response>
 <D:response><D:href>/elsewhere/b/in/outside.jpg</D:href><D:propstat><D:prop><D:resourcetype/>
  </D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
 <D:response><D:href>/dav/b/in/%2e%2e/%2e%2e/etc/passwd</D:href><D:propstat><D:prop>
  <D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
 <D:response><D:href>/dav/b/in/.upload.part</D:href><D:propstat><D:prop><D:resourcetype/>
  </D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
</D:multistatus>"""


async def test_a_listing_never_yields_keys_outside_the_root() -> None:
    """Whatever the server's hrefs say (another root, ``..``, hidden names), keys stay under it."""

    async def propfind(request: web.Request) -> web.Response:
        assert request.headers["Depth"] == "1"
        return web.Response(status=207, text=CANNED, content_type="application/xml")

    app = web.Application()
    app.router.add_route("PROPFIND", "/dav/b/in", propfind)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    store = WebDavStore(f"http://127.0.0.1:{port}/dav/")
    try:
        listed = await store.list("b/in/")
    finally:
        await store.aclose()
        await runner.cleanup()
    assert [(o.key, o.etag, o.size) for o in listed] == [
        ("b/in/no-etag.jpg", "Mon, 30 Nov 2026 10:00:00 GMT|7", 7),
        ("b/in/ok photo.jpg", "abc", 3),
    ]
