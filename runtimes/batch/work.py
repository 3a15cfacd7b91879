"""The work manifest a Job's pod reads, its status records, and the output key rules.

The key rules are those of the gateway's storage (``bucket/path``, no ``..``, no empty or
dot-first segment) and its output bindings (suffix/prefix filters on the file name), restated
here because a runtime never imports the gateway.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class WorkItem(BaseModel):
    """One input object of the job."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=0)
    key: str


class OutputBinding(BaseModel):
    """Where results go: a path (first segment: the bucket) and file-name filters."""

    model_config = ConfigDict(frozen=True)

    path: str
    suffix: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()

    def accepts(self, name: str) -> bool:
        base = name.rsplit("/", 1)[-1]
        if self.suffix and not base.endswith(self.suffix):
            return False
        return not self.prefix or base.startswith(self.prefix)


class Manifest(BaseModel):
    """The job as the gateway wrote it for the pod."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    service: str
    runtime: Literal["onnx", "script"]
    items: tuple[WorkItem, ...]
    outputs: tuple[OutputBinding, ...]
    records: str = Field(description="key prefix of the status records (no trailing /)")

    def record_key(self, index: int) -> str:
        return f"{self.records}/{index}.json"


class OutputRef(BaseModel):
    """An object the item wrote (the gateway lists it with the item, downloadable)."""

    key: str
    etag: str
    size: int | None = None


class Record(BaseModel):
    """What became of one item (the gateway reads it back)."""

    index: int
    key: str
    state: Literal["succeeded", "failed"]
    outputs: list[OutputRef] = Field(default_factory=list)
    error: dict[str, str] | None = None
    log: str | None = None


class BadKey(ValueError):
    """A key that would leave its bucket or prefix."""


def join_key(path: str, name: str) -> str:
    """``path/name``, checked like the gateway checks keys."""
    key = f"{path.strip('/')}/{name.lstrip('/')}"
    segments = key.split("/")
    if len(key) > 1024 or len(segments) < 2 or any(ord(c) < 32 for c in key) or "\\" in key:
        raise BadKey(f"invalid object key {key!r}")
    if any(s in ("", ".", "..") or s.startswith(".") for s in segments):
        raise BadKey(f"invalid object key {key!r}")
    return key


def result_name(key: str) -> str:
    """The JSON result's name for an input (``a/b/photo.png`` -> ``photo.json``)."""
    return key.rsplit("/", 1)[-1].rsplit(".", 1)[0] + ".json"
