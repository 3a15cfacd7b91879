"""Bucket: the few S3 calls a Job's pod makes (boto3, path-style, bounded retries).

Keys are ``bucket/path`` as in the gateway. Missing objects raise `Missing`; anything else that
goes wrong with the store propagates (the pod exits 1 and the Job controller retries it).
"""

from __future__ import annotations

import mimetypes
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}


class Missing(Exception):
    """No object at that key."""


class Bucket:
    """Blocking S3 calls (call them from worker threads; the client is thread-safe)."""

    def __init__(self, endpoint: str | None, region: str) -> None:
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=16,
            ),
        )

    def get(self, key: str) -> bytes:
        bucket, _, name = key.partition("/")
        try:
            body = self._client.get_object(Bucket=bucket, Key=name)["Body"]
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _MISSING:
                raise Missing(f"no object {key!r}") from None
            raise
        try:
            return bytes(body.read())
        finally:
            body.close()

    def put(self, key: str, data: bytes) -> str:
        """Store `data` at `key`; returns the etag (hex, no quotes)."""
        bucket, _, name = key.partition("/")
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            answer = self._client.put_object(Bucket=bucket, Key=name, Body=data, ContentType=media)
        except ClientError as exc:  # an output bucket nobody wrote to yet: create it, once
            if str(exc.response.get("Error", {}).get("Code", "")) != "NoSuchBucket":
                raise
            self._client.create_bucket(Bucket=bucket)
            answer = self._client.put_object(Bucket=bucket, Key=name, Body=data, ContentType=media)
        return str(answer["ETag"]).strip('"')

    def keys(self, prefix: str) -> set[str]:
        """Every key under `prefix` (``bucket/path/``)."""
        bucket, _, inner = prefix.partition("/")
        found: set[str] = set()
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=inner
            ):
                found.update(f"{bucket}/{obj['Key']}" for obj in page.get("Contents", []))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) not in _MISSING:
                raise
        return found

    def close(self) -> None:
        self._client.close()
