"""S3Store: any S3-compatible server (AWS S3, MinIO, SeaweedFS) through boto3.

boto3 is blocking, so each call runs in a worker thread; the client is thread-safe. Addressing is
path-style (``endpoint/bucket/key``), which every S3-compatible server accepts. A key's first
segment is the bucket; a bucket that does not exist yet is created on the first write to it.
botocore's exceptions are translated into the `GatewayError` tree here: a missing object or bucket
is `NotFound`; a store that cannot be reached, drops the connection, times out or answers a
transient 5xx (after botocore's own retries) is `Unavailable` (503, `Retryable`: the job workers
retry it); anything else it answers is `UpstreamError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    HTTPClientError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from gateway.errors import NotFound, Unavailable, UpstreamError
from gateway.storage.base import ObjectInfo, check_key, check_prefix
from gateway.storage.streams import CHUNK_BYTES, ObjectStream

T = TypeVar("T")
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}
_TRANSIENT_STATUS = {500, 502, 503, 504}  # InternalError, SlowDown, a store (re)starting


class S3Store:
    """Objects in S3 buckets (key ``bucket/a/b`` -> bucket ``bucket``, object ``a/b``)."""

    def __init__(
        self,
        endpoint: str | None,
        access_key: str | None,
        secret_key: str | None,
        region: str = "us-east-1",
        *,
        timeout: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.region = region
        self._keys = (access_key, secret_key) if access_key and secret_key else None
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=min(timeout, 5.0),
                read_timeout=timeout,
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=32,
            ),
        )
        self._buckets: set[str] = set()

    def credentials(self) -> tuple[str, str] | None:
        """The access key and secret key it was given (None: boto3's own credential chain)."""
        return self._keys

    async def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise NotFound(f"{what}: not found ({code})") from exc
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in _TRANSIENT_STATUS:
                raise Unavailable(f"{what}: object store unavailable ({code}): {exc}") from exc
            raise UpstreamError(f"{what}: object store answered {code}: {exc}") from exc
        except (BotoConnectionError, HTTPClientError) as exc:  # refused, reset, timed out
            raise Unavailable(f"{what}: object store unreachable: {exc}") from exc
        except BotoCoreError as exc:
            raise UpstreamError(f"{what}: object store failed: {exc}") from exc

    async def _ensure_bucket(self, bucket: str) -> None:
        if bucket in self._buckets:
            return

        def create() -> None:
            try:
                self._client.head_bucket(Bucket=bucket)
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code", "")) not in _MISSING:
                    raise
                try:
                    self._client.create_bucket(Bucket=bucket)
                except ClientError as again:
                    code = again.response.get("Error", {}).get("Code", "")
                    if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

        await self._call(f"bucket {bucket}", create)
        self._buckets.add(bucket)

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        bucket, name = _split(check_key(key))
        await self._ensure_bucket(bucket)
        extra = {"ContentType": content_type} if content_type else {}
        answer = await self._call(
            f"put {key}",
            lambda: self._client.put_object(Bucket=bucket, Key=name, Body=data, **extra),
        )
        return ObjectInfo(key, str(answer["ETag"]).strip('"'), len(data))

    async def get(self, key: str) -> bytes:
        bucket, name = _split(check_key(key))

        def read() -> bytes:
            body = self._client.get_object(Bucket=bucket, Key=name)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        return await self._call(f"get {key}", read)

    async def open(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> ObjectStream:
        bucket, name = _split(check_key(key))
        answer = await self._call(
            f"get {key}", lambda: self._client.get_object(Bucket=bucket, Key=name)
        )
        body = answer["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := await self._call(f"read {key}", lambda: body.read(chunk_bytes)):
                    yield bytes(chunk)
            finally:
                body.close()

        return ObjectStream(int(answer["ContentLength"]), chunks(), answer.get("ContentType"))

    async def list(self, prefix: str, start_after: str | None = None) -> list[ObjectInfo]:
        bucket, _, inner = check_prefix(prefix).partition("/")

        def walk() -> list[ObjectInfo]:
            found: list[ObjectInfo] = []
            kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": inner}
            if start_after and start_after.startswith(bucket + "/"):
                kwargs["StartAfter"] = start_after[len(bucket) + 1 :]
            for page in self._client.get_paginator("list_objects_v2").paginate(**kwargs):
                for obj in page.get("Contents", []):
                    etag = str(obj.get("ETag", "")).strip('"')
                    found.append(ObjectInfo(f"{bucket}/{obj['Key']}", etag, int(obj["Size"])))
            return found

        try:
            return await self._call(f"list {prefix}", walk)
        except NotFound:  # no such bucket (yet): nothing in it
            return []

    async def delete(self, key: str) -> None:
        bucket, name = _split(check_key(key))
        await self._call(
            f"delete {key}", lambda: self._client.delete_object(Bucket=bucket, Key=name)
        )

    async def exists(self, key: str) -> bool:
        bucket, name = _split(check_key(key))
        try:
            await self._call(
                f"head {key}", lambda: self._client.head_object(Bucket=bucket, Key=name)
            )
        except NotFound:
            return False
        return True

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)


def _split(key: str) -> tuple[str, str]:
    bucket, _, name = key.partition("/")
    return bucket, name
