"""Job results through the API, against a real `gateway serve` on loopback with auth on: each
item's JSON answer inline (imagenet: flower.jpg -> daisy; a script's own JSON document; over the
cap, a marker with the download link), every output file downloadable byte for byte from the
filesystem store and from S3 (SeaweedFS), 404 for unknown jobs, items and outputs, 401/403
without the right token, and the real `gateway job results` / `job submit --wait` commands."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.client import AsyncClient, Client
from gateway.services import ServiceSpec, StorageIO, load_file
from tests.seaweed import Seaweed, seaweed
from tests.support import (
    CHINA_LABELS,
    DIGITS_YAML,
    IMAGENET_YAML,
    ROOT,
    ServerProcess,
    digit_png,
    digits_holdout,
    gateway_process,
    sample_jpeg,
)

__all__ = ["seaweed"]  # the fixture, imported for this module

ADMIN = "results-admin-" + "7" * 32
CAP = 64 * 1024  # the default GATEWAY_JOB_RESULT_MAX_BYTES
# One small JSON answer per file, or one over the cap when the file says "big"; and a text file.
WORDS = """set -eu
name=$(basename "$INPUT_FILE_PATH" .txt)
if grep -q big "$INPUT_FILE_PATH"; then
  { printf '{"padding": "'; head -c 70000 /dev/zero | tr '\\0' x; printf '"}'; } \\
    > "$TMP_OUTPUT_DIR/$name.json"
else
  printf '{"file": "%s", "words": %d}' "$name" "$(wc -w < "$INPUT_FILE_PATH")" \\
    > "$TMP_OUTPUT_DIR/$name.json"
fi
tr a-z A-Z < "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/$name.upper.txt"
"""


@dataclass
class Setup:
    server: ServerProcess
    objects: Path  # the filesystem store's root
    weed: Seaweed
    bucket: str

    def client(self, token: str | None = ADMIN) -> Client:
        return Client(self.server.url, token=token, timeout=120)

    def http(self, token: str | None = ADMIN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=60)

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        with self.client() as gw:
            return gw.wait_job(job["job_id"], timeout=120)


def _definition(bucket: str, weed: Seaweed) -> dict[str, Any]:
    imagenet = load_file(IMAGENET_YAML).services[0]
    on_s3 = {
        "input": (StorageIO(storage="s3", path=f"{bucket}/in"),),
        "output": (StorageIO(storage="s3", path=f"{bucket}/out"),),
    }
    digits = load_file(DIGITS_YAML).services[0].model_copy(update=on_s3)
    words = ServiceSpec(name="words", runtime="script", script=WORDS, timeout=30)
    services = [s.model_dump(mode="json", exclude_defaults=True) for s in (imagenet, digits, words)]
    s3 = {"type": "s3", "endpoint": weed.endpoint, "access_key": weed.access_key,
          "secret_key": weed.secret_key}  # fmt: skip
    return {"services": services, "storage": {"s3": s3}}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, seaweed: Seaweed) -> Iterator[Setup]:
    data_dir = tmp_path_factory.mktemp("results")
    bucket = seaweed.new_bucket()
    fdl = data_dir / "services.yaml"
    fdl.write_text(json.dumps(_definition(bucket, seaweed)))  # JSON is YAML
    env = {"GATEWAY_ADMIN_TOKEN": ADMIN, "GATEWAY_RUNTIME_THREADS": "1"}
    with gateway_process(data_dir, fdl, env=env) as server:
        yield Setup(server, data_dir / "objects", seaweed, bucket)


@pytest.fixture(scope="module")
def photos(setup: Setup) -> dict[str, Any]:
    """A finished imagenet job of flower.jpg and china.jpg."""
    with setup.client() as gw:
        job = gw.submit_job(
            "imagenet",
            ("flower.jpg", sample_jpeg("flower.jpg")),
            ("china.jpg", sample_jpeg("china.jpg")),
        )
    return setup.run(job)


@pytest.fixture(scope="module")
def texts(setup: Setup) -> dict[str, Any]:
    """A finished job of the script service: a small answer and one over the cap."""
    with setup.client() as gw:
        job = gw.submit_job("words", ("a.txt", b"hello big world"), ("b.txt", b"three small words"))
    return setup.run(job)


def _items(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert job["status"] == "succeeded", job
    return {item["key"].rsplit("/", 1)[1]: item for item in job["items"]}


def test_an_image_job_answers_its_predictions_inline(photos: dict[str, Any]) -> None:
    items = _items(photos)
    flower, china = items["flower.jpg"]["result"], items["china.jpg"]["result"]
    assert flower["service"] == "imagenet" and flower["input"] == "imagenet/in/flower.jpg"
    assert flower["model"] == "efficientnet-lite0"
    assert flower["predictions"][0]["label"] == "daisy"
    assert china["predictions"][0]["label"] in CHINA_LABELS
    (file,) = items["flower.jpg"]["files"]
    assert file == {
        "storage": "default",
        "key": "imagenet/out/flower.json",
        "name": "flower.json",
        "size": file["size"],
        "url": f"/jobs/{photos['job_id']}/items/{items['flower.jpg']['index']}/outputs/flower.json",
    }
    assert items["flower.jpg"]["outputs"] == ["imagenet/out/flower.json"]


def test_an_output_downloads_byte_identical_to_the_stored_object(
    setup: Setup, photos: dict[str, Any]
) -> None:
    item = _items(photos)["flower.jpg"]
    (file,) = item["files"]
    with setup.http() as http:
        response = http.get(file["url"])
    assert response.status_code == 200
    stored = (setup.objects / "imagenet" / "out" / "flower.json").read_bytes()
    assert response.content == stored and file["size"] == len(stored)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(stored))
    assert response.headers["content-disposition"].startswith('attachment; filename="flower.json"')
    assert json.loads(stored) == item["result"]  # the inline answer is the stored document


def test_results_false_leaves_the_answers_out(setup: Setup, photos: dict[str, Any]) -> None:
    with setup.client() as gw:
        job = gw.job(photos["job_id"], results=False)
    item = _items(job)["flower.jpg"]
    assert "result" not in item and "result_omitted" not in item
    assert item["files"] == _items(photos)["flower.jpg"]["files"]


def test_a_script_answer_is_its_json_file(setup: Setup, texts: dict[str, Any]) -> None:
    item = _items(texts)["b.txt"]
    assert item["result"] == {"file": "b", "words": 3}
    files = {f["name"]: f for f in item["files"]}
    assert sorted(files) == ["b.json", "b.upper.txt"]
    with setup.http() as http:
        response = http.get(files["b.upper.txt"]["url"])
    assert response.status_code == 200 and response.content == b"THREE SMALL WORDS"
    assert response.headers["content-type"].startswith("text/plain")


def test_an_answer_over_the_cap_is_a_marker_with_its_link(
    setup: Setup, texts: dict[str, Any]
) -> None:
    item = _items(texts)["a.txt"]
    assert "result" not in item
    marker = item["result_omitted"]
    stored = (setup.objects / "words" / "out" / "a.json").read_bytes()
    assert len(stored) > CAP
    assert marker == {
        "reason": "too_large",
        "name": "a.json",
        "size": len(stored),
        "limit": CAP,
        "url": f"/jobs/{texts['job_id']}/items/{item['index']}/outputs/a.json",
    }
    with setup.http() as http:
        assert http.get(marker["url"]).content == stored


def test_outputs_on_s3_download_byte_identical(setup: Setup) -> None:
    x, y = digits_holdout()
    with setup.client() as gw:
        job = gw.submit_job("digits", *[(f"{i}.png", digit_png(x[i], ink_on_paper=True))
                                        for i in range(3)])  # fmt: skip
    items = _items(setup.run(job))
    s3 = setup.weed.client()
    try:
        with setup.http() as http:
            for i in range(3):
                item = items[f"{i}.png"]
                (file,) = item["files"]
                assert file["storage"] == "s3" and file["key"] == f"{setup.bucket}/out/{i}.json"
                stored = s3.get_object(Bucket=setup.bucket, Key=f"out/{i}.json")["Body"].read()
                assert http.get(file["url"]).content == stored
                assert item["result"] == json.loads(stored)
                assert item["result"]["predictions"][0]["label"] == str(y[i])
    finally:
        s3.close()


@pytest.mark.parametrize(
    "path",
    [
        "/jobs/nope/items/0/outputs/flower.json",
        "/jobs/{job}/items/99/outputs/flower.json",
        "/jobs/{job}/items/0/outputs/nope.json",
        "/jobs/{job}/items/0/outputs/%2e%2e/%2e%2e/flower.json",
        "/jobs/{job}/items/0/outputs/imagenet/out/flower.json",
        "/jobs/{job}/items/x/outputs/flower.json",
    ],
)
def test_unknown_jobs_items_and_outputs_are_404(
    setup: Setup, photos: dict[str, Any], path: str
) -> None:
    with setup.http() as http:
        response = http.get(path.format(job=photos["job_id"]))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_download_needs_the_services_token_or_the_admins(
    setup: Setup, photos: dict[str, Any]
) -> None:
    url = _items(photos)["flower.jpg"]["files"][0]["url"]
    with setup.http() as admin:
        own = admin.post("/system/services/imagenet/token").json()["token"]
        other = admin.post("/system/services/words/token").json()["token"]
    for token, status in [(None, 401), ("not-a-token", 403), (other, 403), (own, 200)]:
        with setup.http(token) as http:
            response = http.get(url)
            assert response.status_code == status, (token, response.text)
            if status != 200:
                assert response.json()["error"]["code"] in ("unauthorized", "forbidden")
                assert ADMIN not in response.text and own not in response.text


def _cli(setup: Setup, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway", "--url", setup.server.url, "--token", ADMIN, *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_cli_downloads_every_output_into_a_folder(
    setup: Setup, texts: dict[str, Any], tmp_path: Path
) -> None:
    done = _cli(setup, "job", "results", texts["job_id"], "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    names = ["a.json", "a.upper.txt", "b.json", "b.upper.txt"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names
    for name in names:
        stored = (setup.objects / "words" / "out" / name).read_bytes()
        assert (tmp_path / "out" / name).read_bytes() == stored
        assert f"default: words/out/{name} -> {tmp_path / 'out' / name}" in done.stdout


def test_the_cli_downloads_into_a_folder_named_after_the_job(
    setup: Setup, photos: dict[str, Any], tmp_path: Path
) -> None:
    done = _cli(setup, "job", "results", photos["job_id"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / photos["job_id"]
    assert sorted(p.name for p in folder.iterdir()) == ["china.json", "flower.json"]
    stored = (setup.objects / "imagenet" / "out" / "flower.json").read_bytes()
    assert (folder / "flower.json").read_bytes() == stored


def test_submit_wait_ends_with_where_the_results_are(setup: Setup, tmp_path: Path) -> None:
    photo = tmp_path / "daisy.jpg"
    photo.write_bytes(sample_jpeg("flower.jpg"))
    done = _cli(setup, "job", "submit", "imagenet", str(photo), "--wait")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.split()[1].rstrip(":")
    assert "default: imagenet/out/daisy.json" in done.stdout
    assert f"job results {job_id}" in done.stdout


async def test_the_async_client_downloads_the_results(
    setup: Setup, texts: dict[str, Any], tmp_path: Path
) -> None:
    async with AsyncClient(setup.server.url, token=ADMIN) as gw:
        job = await gw.job(texts["job_id"])
        paths = await gw.download_results(texts["job_id"], tmp_path)
    assert _items(job)["b.txt"]["result"] == {"file": "b", "words": 3}
    assert sorted(p.name for p in paths) == ["a.json", "a.upper.txt", "b.json", "b.upper.txt"]
    for path in paths:
        assert path.read_bytes() == (setup.objects / "words" / "out" / path.name).read_bytes()
