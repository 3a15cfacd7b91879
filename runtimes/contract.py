"""The gateway-runtime contract: what crosses the process boundary, defined once (sans-IO).

Both sides import this module (the gateway may import `runtimes`; a runtime never imports the
gateway): the work list a Kubernetes Job's pod reads (`Manifest`, written by
``gateway.jobs.kube_work``, read by ``runtimes.batch``), the per-item status record the pod writes
back (`Record`), the result document of a model answer and its file name, the object-key rules
(``bucket/path``; no ``..``, ``.``, empty or dot-first segment, no control character, no
backslash, at most 1024 characters) and the file-name filters of an output binding.
No I/O here: the callers read and write the documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_KEY_LENGTH = 1024

#: the work list's name inside a job's work folder
MANIFEST_NAME = "work.json"


class BadKey(ValueError):
    """An object key that would leave its bucket or prefix (the gateway answers 422)."""


def check_key(key: str) -> str:
    """Return `key` if it is a safe ``bucket/path`` object key, else raise `BadKey`."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise BadKey(f"object key must be 1 to {MAX_KEY_LENGTH} characters")
    if any(ord(c) < 32 or c == "\x7f" for c in key):
        raise BadKey("object key must not contain NUL or control characters")
    if "\\" in key:
        raise BadKey(f"object key must not contain backslashes: {key!r}")
    if key.startswith("/"):
        raise BadKey(f"object key must be relative: {key!r}")
    segments = key.split("/")
    if len(segments) < 2:
        raise BadKey(f"object key needs a bucket and a name: {key!r}")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise BadKey(f"object key has an empty, '.' or '..' segment: {key!r}")
        if segment.startswith("."):
            raise BadKey(f"object key segments must not start with '.': {key!r}")
    return key


def join_key(path: str, name: str) -> str:
    """``path/name``, checked (``name`` may hold sub-folders, never ``..``)."""
    return check_key(f"{path.strip('/')}/{name.lstrip('/')}")


def base_name(key: str) -> str:
    """The last segment of a key (``a/b/photo.jpg`` -> ``photo.jpg``)."""
    return key.rsplit("/", 1)[-1]


def name_accepted(name: str, suffix: Sequence[str], prefix: Sequence[str]) -> bool:
    """True when a file name passes an output binding's suffix and prefix filters (OSCAR)."""
    if suffix and not name.endswith(tuple(suffix)):
        return False
    return not prefix or name.startswith(tuple(prefix))


def result_name(key: str) -> str:
    """The JSON result's name for an input (``a/b/photo.png`` -> ``photo.json``)."""
    return base_name(key).rsplit(".", 1)[0] + ".json"


def result_document(service: str, key: str, model: Any, predictions: Any) -> dict[str, Any]:
    """The result document of a model's answer for the input at `key` (stored as JSON)."""
    return {"service": service, "input": key, "model": model, "predictions": predictions}


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
        return name_accepted(base_name(name), self.suffix, self.prefix)


class Manifest(BaseModel):
    """The job's work list, as the gateway writes it for the pod (``<folder>/work.json``)."""

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
    etag: str = ""
    size: int | None = None


class Record(BaseModel):
    """What became of one item: the status record the pod writes and the gateway reads back."""

    index: int
    key: str
    state: Literal["succeeded", "failed"]
    outputs: list[OutputRef] = Field(default_factory=list)
    error: dict[str, str] | None = None
    log: str | None = None


def manifest_key(folder: str) -> str:
    """Where the work list of the job whose work folder is `folder` lies."""
    return f"{folder}/{MANIFEST_NAME}"


def records_prefix(folder: str) -> str:
    """The key prefix of the status records of the job whose work folder is `folder`."""
    return f"{folder}/items"
