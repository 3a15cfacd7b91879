"""An item's results: its output files and its JSON answer, inline under a size cap.

The answer of an ``onnx`` item is its result document (``photo.jpg`` -> ``photo.json``:
``{"service", "input", "model", "predictions"}``); a ``script`` item's is the JSON file its script
wrote (the first ``*.json`` output in name order), if it wrote one. It is kept with the item when
the item finishes, so that ``GET /jobs/{id}`` reads no object store: up to
``GATEWAY_JOB_RESULT_MAX_BYTES`` (default 64 KiB) inline; past that, or when the file is not valid
JSON, only a marker (why, its size, its download link). Every output file is downloadable through
``GET /jobs/{id}/items/{index}/outputs/{name}`` (`gateway.jobs.downloads`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from gateway.errors import NotFound
from gateway.jobs.bindings import prefix_of
from gateway.jobs.model import Answer, OutputFile
from gateway.services import StorageIO
from gateway.storage import ObjectStore, base_name
from gateway.storage.streams import open_stream


def answer_name(names: Iterable[str]) -> str | None:
    """The output file holding an item's JSON answer: the first ``*.json`` in name order."""
    return min((n for n in names if n.lower().endswith(".json")), default=None)


def make_answer(name: str, data: bytes, limit: int) -> Answer:
    """`data` (from file `name`) as an answer: parsed if at most `limit` bytes of valid JSON."""
    if len(data) > limit:
        return Answer(name, len(data), omitted="too_large", limit=limit)
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return Answer(name, len(data), omitted="not_json")
    return Answer(name, len(data), document)


def answer_of(files: Sequence[tuple[str, bytes]], limit: int) -> Answer | None:
    """The answer among the files a runtime produced for an item (None: no JSON file)."""
    by_name = dict(files)
    name = answer_name(by_name)
    return None if name is None else make_answer(name, by_name[name], limit)


async def read_answer(
    stores: Mapping[str, ObjectStore], files: Sequence[OutputFile], limit: int
) -> Answer | None:
    """The answer among an item's stored output files, read back from its store (only the
    size is read when it is over `limit`)."""
    name = answer_name(f.name for f in files)
    if name is None:
        return None
    file = next(f for f in files if f.name == name)
    stream = await open_stream(stores[file.storage], file.key)
    if stream.size > limit:
        await stream.aclose()
        return Answer(name, stream.size, omitted="too_large", limit=limit)
    return make_answer(name, await stream.read(), limit)


def output_name(bindings: Iterable[StorageIO], key: str) -> str:
    """An output key's name relative to the output path it lies under (else its base name)."""
    for binding in bindings:
        prefix = prefix_of(binding)
        if key.startswith(prefix):
            return key[len(prefix) :]
    return base_name(key)


async def stored_results(
    stores: Mapping[str, ObjectStore],
    storage: str,
    bindings: Sequence[StorageIO],
    outputs: Sequence[Mapping[str, Any]],
    limit: int,
) -> tuple[tuple[OutputFile, ...], Answer | None]:
    """The files and answer of an item whose outputs (``{"key", "etag", "size"}``) a batch pod
    wrote to `storage` (`runtimes.batch`): its answer is read back from the store."""
    files = tuple(
        OutputFile(storage, o["key"], output_name(bindings, o["key"]), o.get("size"),
                   o.get("etag", ""))
        for o in outputs
    )  # fmt: skip
    try:
        answer = await read_answer(stores, files, limit)
    except NotFound:  # deleted since the pod wrote it
        answer = None
    return files, answer
