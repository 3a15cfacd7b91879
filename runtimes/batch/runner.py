"""run_job: every item of a manifest through the service's model or script, with a record each.

ONNX services load the model once (`runtimes.onnx.inference.load_service`, as the model server
does) and send the files through its batcher a batch at a time, so each answer is what
``/predict`` would have given. Script services run the script once per file with the script
runtime's runner (``INPUT_FILE_PATH``, ``TMP_OUTPUT_DIR``, ``STORAGE_OBJECT_KEY``, the time limit).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import orjson
from pydantic import ValidationError

from runtimes.batch.storage import Bucket, Missing
from runtimes.contract import (
    BadKey,
    Manifest,
    OutputRef,
    Record,
    WorkItem,
    join_key,
    result_document,
    result_name,
)
from runtimes.environment import declared_environment
from runtimes.errors import NotFound, ServingError
from runtimes.script.box import Box
from runtimes.script.config import ScriptSettings
from runtimes.script.runner import failure, run_script

if TYPE_CHECKING:  # onnxruntime is imported only where an ONNX service runs (not in script images)
    from runtimes.onnx.inference import ModelService

log = logging.getLogger("runtimes.batch")


class ModelUnavailable(ServingError):
    """The service's model did not load in the pod (every item fails with the reason)."""

    code = "model_unavailable"


class InvalidDefinition(ServingError):
    """The pod's ``RUNTIME_*`` settings for the script are invalid."""

    code = "invalid_definition"


class InvalidOutput(ServingError):
    """A file the script wrote has a name no object key may have."""

    code = "invalid_output"


class Processor(Protocol):
    chunk: int

    async def start(self) -> None: ...

    async def process(self, items: Sequence[WorkItem]) -> list[Record]: ...

    async def aclose(self) -> None: ...


async def run_job(manifest_key: str, bucket: Bucket) -> int:
    """Process the items of the manifest at `manifest_key` that have no record yet; returns the
    number processed. Raises on object-store failures (the caller exits 1)."""
    manifest = Manifest.model_validate_json(await asyncio.to_thread(bucket.get, manifest_key))
    done = await asyncio.to_thread(bucket.keys, manifest.records + "/")
    todo = [i for i in manifest.items if manifest.record_key(i.index) not in done]
    log.info(
        "job %s of %s: %d item(s), %d already done",
        manifest.job_id, manifest.service, len(manifest.items), len(manifest.items) - len(todo),
    )  # fmt: skip
    if not todo:
        return 0
    processor: Processor = (
        ScriptProcessor(manifest, bucket)
        if manifest.runtime == "script"
        else OnnxProcessor(manifest, bucket)
    )
    await processor.start()
    try:
        for start in range(0, len(todo), processor.chunk):
            for record in await processor.process(todo[start : start + processor.chunk]):
                body = record.model_dump_json(exclude_none=True).encode()
                await asyncio.to_thread(bucket.put, manifest.record_key(record.index), body)
                if record.state == "failed":
                    log.warning("%s failed: %s", record.key, record.error)
    finally:
        await processor.aclose()
    return len(todo)


def failed(item: WorkItem, error: ServingError) -> Record:
    """The item's record, failed with `error` (its log tail, if any, kept with the record)."""
    detail = {"code": error.code, "message": error.message}
    return Record(index=item.index, key=item.key, state="failed", error=detail, log=error.log)


async def _download(bucket: Bucket, item: WorkItem) -> bytes | Record:
    try:
        return await asyncio.to_thread(bucket.get, item.key)
    except Missing as exc:
        return failed(item, NotFound(str(exc)))


async def _write(
    bucket: Bucket, manifest: Manifest, files: Sequence[tuple[str, bytes]]
) -> list[OutputRef]:
    """Each file to every output binding whose filters accept its name (as the gateway does)."""
    refs = []
    for binding in manifest.outputs:
        for name, data in files:
            if binding.accepts(name):
                key = join_key(binding.path, name)
                etag = await asyncio.to_thread(bucket.put, key, data)
                refs.append(OutputRef(key=key, etag=etag, size=len(data)))
    return refs


class OnnxProcessor:
    """The model in-process, through the ONNX runtime's own `ModelService`."""

    def __init__(self, manifest: Manifest, bucket: Bucket) -> None:
        self._manifest = manifest
        self._bucket = bucket
        self._service: ModelService | None = None
        self._failure: str | None = None
        self._top_k = 5
        self.chunk = 16

    async def start(self) -> None:
        from runtimes.onnx.config import RuntimeSettings
        from runtimes.onnx.inference import load_service

        try:
            settings = RuntimeSettings()  # RUNTIME_* from the container, as the server reads them
            service = await asyncio.to_thread(load_service, settings)
            await service.start()
        except Exception as exc:  # every item fails with the reason (a bad file, settings...)
            log.exception("the model did not load")
            self._failure = f"model {self._manifest.service} failed to load: {exc}"
            return
        self._service = service
        batching = settings.batching
        self.chunk = max(1, batching.max_batch_size if batching.enabled else 1)
        self._top_k = settings.default_top_k

    async def process(self, items: Sequence[WorkItem]) -> list[Record]:
        service = self._service
        if service is None:
            message = self._failure or "the model is not loaded"
            return [failed(i, ModelUnavailable(message)) for i in items]
        inputs = await asyncio.gather(*(_download(self._bucket, i) for i in items))
        records: dict[int, Record] = {}
        ready = [(i, d) for i, d in zip(items, inputs, strict=True) if isinstance(d, bytes)]
        for item, outcome in zip(items, inputs, strict=True):
            if isinstance(outcome, Record):
                records[item.index] = outcome
        answers = await service.predict([data for _, data in ready], self._top_k)
        for (item, _), answer in zip(ready, answers, strict=True):
            if isinstance(answer, ServingError):
                records[item.index] = failed(item, answer)
                continue
            document = result_document(self._manifest.service, item.key, service.label, answer)
            data = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
            refs = await _write(self._bucket, self._manifest, [(result_name(item.key), data)])
            records[item.index] = Record(
                index=item.index, key=item.key, state="succeeded", outputs=refs
            )
        return [records[i.index] for i in items]

    async def aclose(self) -> None:
        if self._service is not None:
            await self._service.aclose()


class ScriptProcessor:
    """The service's script, once per file, through the script runtime's runner."""

    chunk = 1

    def __init__(self, manifest: Manifest, bucket: Bucket) -> None:
        self._manifest = manifest
        self._bucket = bucket
        self._folder = tempfile.TemporaryDirectory(prefix="batch-script-")
        self._script = Path(self._folder.name) / "script.sh"
        self._failure: str | None = None
        self._settings: ScriptSettings | None = None
        self._box: Box | None = None
        self._declared: dict[str, str] = {}

    async def start(self) -> None:
        try:
            self._settings = ScriptSettings()
        except ValidationError as exc:
            self._failure = f"invalid RUNTIME_* settings for the script: {exc}"
            return
        self._script.write_text(self._settings.script, encoding="utf-8")
        self._declared = declared_environment(
            os.environ, self._settings.environment, self._settings.secret_names
        )
        self._box = Box(
            self._settings.limits,
            uid_base=self._settings.box_uid_base,
            shell=self._settings.shell,
        )

    async def process(self, items: Sequence[WorkItem]) -> list[Record]:
        return [await self._one(item) for item in items]

    async def _one(self, item: WorkItem) -> Record:
        settings, box = self._settings, self._box
        if settings is None or box is None:
            return failed(item, InvalidDefinition(self._failure or "no script"))
        data = await _download(self._bucket, item)
        if isinstance(data, Record):
            return data
        try:
            result = await run_script(
                self._script, data, key=item.key, timeout=settings.item_timeout,
                box=box, environment=self._declared,
                shell=settings.shell, max_output_bytes=settings.max_output_bytes,
                log_tail_bytes=settings.log_tail_bytes,
            )  # fmt: skip
        except ServingError as exc:  # output too large, not boxed
            return failed(item, exc)
        error = failure(result, settings.item_timeout)
        if error is not None:
            return failed(item, error)
        try:
            refs = await _write(self._bucket, self._manifest, sorted(result.files.items()))
        except BadKey as exc:
            return failed(item, InvalidOutput(str(exc), log=result.log))
        return Record(
            index=item.index, key=item.key, state="succeeded", outputs=refs, log=result.log
        )

    async def aclose(self) -> None:
        self._folder.cleanup()
