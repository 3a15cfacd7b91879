"""The gateway-runtime contract: what the gateway writes, the batch runtime reads, and back."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import InvalidInput
from gateway.jobs.kube_work import read_records, work_folder, write_manifest
from gateway.jobs.model import Item
from gateway.services import ServiceSpec, StorageIO
from gateway.storage import FilesystemStore, check_key
from runtimes.contract import BadKey, Manifest, OutputRef, Record, manifest_key
from runtimes.contract import check_key as contract_check_key


async def test_work_list_and_records_round_trip(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "objects")
    spec = ServiceSpec(
        name="words", runtime="script", script="true",
        output=(StorageIO(path="out/words", suffix=(".json",), prefix=("r-",)),),
    )  # fmt: skip
    items = [
        Item("j", 0, "words", "default", "in/a.txt"),
        Item("j", 3, "words", "default", "in/b/c.txt"),
    ]
    folder = work_folder(spec, "0123456789abcdef")
    await write_manifest(store, spec, "0123456789abcdef", items, folder)

    manifest = Manifest.model_validate_json(await store.get(manifest_key(folder)))  # the pod's read
    assert manifest.job_id == "0123456789abcdef" and manifest.service == "words"
    assert manifest.runtime == "script"
    assert [(i.index, i.key) for i in manifest.items] == [(0, "in/a.txt"), (3, "in/b/c.txt")]
    (binding,) = manifest.outputs
    assert binding.path == "out/words"
    assert binding.accepts("r-1.json") and not binding.accepts("x-1.json")
    assert not binding.accepts("r-1.txt")

    written = [
        Record(index=0, key="in/a.txt", state="succeeded", log="ok",
               outputs=[OutputRef(key="out/words/r-a.json", etag="e1", size=2)]),
        Record(index=3, key="in/b/c.txt", state="failed",
               error={"code": "script_failed", "message": "exit 1"}),
    ]  # fmt: skip
    for record in written:  # the pod's writes
        body = record.model_dump_json(exclude_none=True).encode()
        await store.put(manifest.record_key(record.index), body)
    await store.put(manifest.record_key(7), b"{not json")  # ignored, not fatal

    assert await read_records(store, folder) == {0: written[0], 3: written[1]}


@pytest.mark.parametrize(
    "key", ["bucket/a\x7fb", "bucket/../x", "/bucket/x", "bucket", "bucket/.hidden", "b\\x/y"]
)
def test_both_sides_refuse_the_same_keys(key: str) -> None:
    with pytest.raises(BadKey):
        contract_check_key(key)
    with pytest.raises(InvalidInput):
        check_key(key)
