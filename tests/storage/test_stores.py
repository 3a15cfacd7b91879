"""The ObjectStore contract, on the embedded filesystem store, a real S3 server and a real WebDAV
server."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.errors import InvalidInput, NotFound
from gateway.services import StorageSpec
from gateway.storage import FilesystemStore, ObjectStore, build_stores, check_key
from gateway.storage.s3 import S3Store
from gateway.storage.webdav import WebDavStore
from tests.seaweed import Seaweed
from tests.webdav import DavServer


@pytest.fixture(params=["filesystem", "s3", "webdav"])
async def store_and_bucket(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[ObjectStore, str]]:
    store: ObjectStore
    if request.param == "filesystem":
        store, bucket = FilesystemStore(tmp_path / "objects"), "bucket"
    elif request.param == "webdav":
        dav: DavServer = request.getfixturevalue("webdav")
        store = WebDavStore(dav.url, dav.login, dav.password)
        bucket = dav.new_bucket()
    else:
        server: Seaweed = request.getfixturevalue("seaweed")
        store = S3Store(server.endpoint, server.access_key, server.secret_key)
        bucket = server.new_bucket()
    try:
        yield store, bucket
    finally:
        await store.aclose()


async def test_put_get_exists_delete(store_and_bucket: tuple[ObjectStore, str]) -> None:
    store, bucket = store_and_bucket
    info = await store.put(f"{bucket}/in/photo.jpg", b"jpeg bytes", "image/jpeg")
    assert info.key == f"{bucket}/in/photo.jpg"
    if not isinstance(store, WebDavStore):  # a WebDAV ETag is the server's, not a content hash
        assert info.etag == hashlib.md5(b"jpeg bytes").hexdigest()
    assert [o.etag for o in await store.list(f"{bucket}/in/")] == [info.etag]  # as listed
    assert info.size == len(b"jpeg bytes")
    assert await store.get(f"{bucket}/in/photo.jpg") == b"jpeg bytes"
    assert await store.exists(f"{bucket}/in/photo.jpg")
    await store.put(f"{bucket}/in/photo.jpg", b"replaced")  # overwrite, same key
    assert await store.get(f"{bucket}/in/photo.jpg") == b"replaced"
    await store.delete(f"{bucket}/in/photo.jpg")
    await store.delete(f"{bucket}/in/photo.jpg")  # already gone: no error
    assert not await store.exists(f"{bucket}/in/photo.jpg")
    with pytest.raises(NotFound):
        await store.get(f"{bucket}/in/photo.jpg")


async def test_list_prefix_start_after_and_etags(
    store_and_bucket: tuple[ObjectStore, str],
) -> None:
    store, bucket = store_and_bucket
    for key in ("in/b.png", "in/a.png", "in/sub/c.png", "out/a.json", "inside.txt"):
        await store.put(f"{bucket}/{key}", key.encode())
    listed = await store.list(f"{bucket}/in/")
    assert [o.key for o in listed] == [
        f"{bucket}/in/a.png",
        f"{bucket}/in/b.png",
        f"{bucket}/in/sub/c.png",
    ]
    if not isinstance(store, WebDavStore):
        assert listed[0].etag == hashlib.md5(b"in/a.png").hexdigest()  # same etag as put's
    after = await store.list(f"{bucket}/in/", start_after=f"{bucket}/in/a.png")
    assert [o.key for o in after] == [f"{bucket}/in/b.png", f"{bucket}/in/sub/c.png"]
    assert await store.list(f"{bucket}/nothing/") == []
    assert await store.list("no-such-bucket-here/in/") == []


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "bucket/../../etc/passwd",
        "bucket/in/../../x",
        "/etc/passwd",
        "bucket/a\x00b",
        "bucket\\..\\x",
        "bucket//x",
        "bucket/./x",
        "bucket/.staging/x",
        "bucket",
        "",
    ],
)
async def test_keys_never_escape_the_bucket(
    store_and_bucket: tuple[ObjectStore, str], key: str
) -> None:
    store, _ = store_and_bucket
    with pytest.raises(InvalidInput) as caught:
        await store.put(key, b"x")
    assert caught.value.status_code == 422
    with pytest.raises(InvalidInput):
        await store.get(key)
    with pytest.raises(InvalidInput):
        check_key(key)


async def test_filesystem_writes_are_atomic_and_stay_under_the_root(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "objects")
    await store.put("bucket/a/b.json", b"{}")
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["objects/bucket/a/b.json"]  # no staging file left behind
    (tmp_path / "objects" / "bucket" / ".hidden").write_text("not an object")
    assert [o.key for o in await store.list("bucket/")] == ["bucket/a/b.json"]


async def test_build_stores_defaults_to_the_filesystem(tmp_path: Path, seaweed: Seaweed) -> None:
    specs = {
        "archive": StorageSpec(
            type="s3", endpoint=seaweed.endpoint,
            access_key=seaweed.access_key, secret_key=seaweed.secret_key,
        ),
    }  # fmt: skip
    stores = build_stores(specs, tmp_path)
    try:
        assert isinstance(stores["default"], FilesystemStore)
        assert stores["default"].root == tmp_path / "objects"
        assert isinstance(stores["archive"], S3Store)
        bucket = seaweed.new_bucket()
        await stores["archive"].put(f"{bucket}/x.txt", b"x")
        client = seaweed.client()
        try:
            assert client.get_object(Bucket=bucket, Key="x.txt")["Body"].read() == b"x"
        finally:
            client.close()
    finally:
        for store in stores.values():
            await store.aclose()
