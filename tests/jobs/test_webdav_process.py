"""Scientific storage end to end, through a real `gateway serve`: files PUT into a service's input
folder on a real WebDAV server (WsgiDAV) become jobs whose results land in its output folder; a
pipeline goes WebDAV -> S3 (SeaweedFS) -> WebDAV; a gateway killed mid-stream loses and repeats
nothing; wrong WebDAV credentials stop the gateway at start with a clear message."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.seaweed import Seaweed
from tests.support import (
    DIGITS_YAML,
    ServerProcess,
    digit_png,
    digits_holdout,
    free_port,
    gateway_process,
)
from tests.webdav import DavServer

LABEL_SCRIPT = """#!/bin/sh
# The second stage: one classification result (JSON) in, its top label as a text file out.
set -eu
name=$(basename "$INPUT_FILE_PATH" .json)
python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["predictions"][0]["label"])' \\
  "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/$name.txt"
"""


def _digits(name: str, source: str, target: str) -> dict[str, Any]:
    """The digits service of model_images/digits, its input and output in the given places."""
    service = dict(yaml.safe_load(DIGITS_YAML.read_text())["services"][0])
    for field in ("model", "labels"):
        service[field] = str(DIGITS_YAML.parent / service[field])
    storage, _, path = source.partition(":")
    out_storage, _, out_path = target.partition(":")
    service.update(
        name=name,
        input=[{"storage": storage, "path": path}],
        output=[{"storage": out_storage, "path": out_path, "suffix": [".json"]}],
    )
    return service


def _fdl(folder: Path, dav: DavServer, services: list[dict[str, Any]], **extra: Any) -> Path:
    storage: dict[str, Any] = {
        "dav": {"type": "webdav", "url": dav.url, "login": dav.login, "password": dav.password}
    }
    storage.update(extra)
    path = folder / "services.yaml"
    path.write_text(yaml.safe_dump({"services": services, "storage": storage}))
    return path


def _serve(fdl: Path, data_dir: Path, port: int) -> Any:
    env = {"GATEWAY_WATCH_INTERVAL": "0.2", "GATEWAY_RUNTIME_THREADS": "1"}
    log_name = f"gateway-{time.monotonic_ns()}.log"
    return gateway_process(data_dir, fdl, env=env, port=port, log_name=log_name)


def _png(index: int) -> bytes:
    x_test, _ = digits_holdout()
    return digit_png(x_test[index], ink_on_paper=index % 2 == 0)


def _await_file(user: httpx.Client, path: str, timeout: float = 90) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        answer = user.get(path)
        if answer.status_code == 200:
            return answer.content
        assert answer.status_code == 404, answer.text
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.1)


def _predicted(gateway: ServerProcess, service: str, png: bytes) -> str:
    answer = httpx.post(
        f"{gateway.url}/predict/{service}", content=png,
        headers={"Content-Type": "image/png"}, timeout=60,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return str(answer.json()["predictions"][0]["label"])


@pytest.fixture(scope="module")
def buckets(webdav: DavServer, seaweed: Seaweed) -> dict[str, str]:
    return {"dav": webdav.new_bucket(), "s3": seaweed.new_bucket()}


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory,
    webdav: DavServer,
    seaweed: Seaweed,
    buckets: dict[str, str],
) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("webdav-gateway")
    dav, s3 = buckets["dav"], buckets["s3"]
    services = [
        _digits("digits-dav", f"dav:{dav}/in", f"dav:{dav}/out"),
        _digits("digits-to-s3", f"dav:{dav}/scans", f"s3:{s3}/classified"),
        {
            "name": "labels-to-dav", "runtime": "script", "script": LABEL_SCRIPT,
            "input": [{"storage": "s3", "path": f"{s3}/classified"}],
            "output": [{"storage": "dav", "path": f"{dav}/labels"}],
        },
    ]  # fmt: skip
    s3_spec = {
        "type": "s3", "endpoint": seaweed.endpoint,
        "access_key": seaweed.access_key, "secret_key": seaweed.secret_key,
    }  # fmt: skip
    fdl = _fdl(folder, webdav, services, s3=s3_spec)
    with _serve(fdl, folder, free_port()) as server:
        yield server


def test_a_file_put_in_the_input_folder_gets_its_result_in_the_output_folder(
    gateway: ServerProcess, webdav: DavServer, buckets: dict[str, str]
) -> None:
    dav = buckets["dav"]
    png = _png(0)
    with webdav.client() as user:
        assert user.request("MKCOL", dav).status_code in (201, 405)
        assert user.request("MKCOL", f"{dav}/in").status_code in (201, 405)
        assert user.put(f"{dav}/in/digit.png", content=png).status_code == 201
        result = yaml.safe_load(_await_file(user, f"{dav}/out/digit.json"))
    assert result["service"] == "digits-dav" and result["input"] == f"{dav}/in/digit.png"
    assert result["predictions"][0]["label"] == _predicted(gateway, "digits-dav", png)
    jobs = httpx.get(f"{gateway.url}/jobs", params={"service": "digits-dav"}).json()["jobs"]
    assert [job["source"] for job in jobs] == ["watcher"] and jobs[0]["status"] == "succeeded"


def test_a_pipeline_goes_from_webdav_to_s3_and_back(
    gateway: ServerProcess, webdav: DavServer, seaweed: Seaweed, buckets: dict[str, str]
) -> None:
    dav, s3 = buckets["dav"], buckets["s3"]
    png = _png(1)
    with webdav.client() as user:
        for folder in (dav, f"{dav}/scans"):
            user.request("MKCOL", folder)
        assert user.put(f"{dav}/scans/scan.png", content=png).status_code == 201
        label = _await_file(user, f"{dav}/labels/scan.txt").decode().strip()
    assert label == _predicted(gateway, "digits-to-s3", png)
    client = seaweed.client()
    try:  # the middle stage's result is in S3
        body = client.get_object(Bucket=s3, Key="classified/scan.json")["Body"].read()
    finally:
        client.close()
    assert yaml.safe_load(body)["predictions"][0]["label"] == label


def test_a_gateway_killed_mid_stream_loses_and_repeats_nothing(
    tmp_path: Path, webdav: DavServer
) -> None:
    dav = webdav.new_bucket()
    fdl = _fdl(tmp_path, webdav, [_digits("digits-dav", f"dav:{dav}/in", f"dav:{dav}/out")])
    port = free_port()
    with webdav.client() as user:
        for folder in (dav, f"{dav}/in"):
            assert user.request("MKCOL", folder).status_code == 201
        for index in range(6):
            user.put(f"{dav}/in/{index}.png", content=_png(index))
        with _serve(fdl, tmp_path, port) as first:
            _await_file(user, f"{dav}/out/0.json")
            os.killpg(first.proc.pid, signal.SIGKILL)  # a crash, mid-stream
            first.proc.wait()
        for index in range(6, 12):  # uploads land while the gateway is down
            user.put(f"{dav}/in/{index}.png", content=_png(index))
        with _serve(fdl, tmp_path, port) as second:
            for index in range(12):
                _await_file(user, f"{dav}/out/{index}.json")
            answer = httpx.get(f"{second.url}/jobs", params={"service": "digits-dav"})
            jobs = [httpx.get(f"{second.url}/jobs/{j['job_id']}").json()
                    for j in answer.json()["jobs"]]  # fmt: skip
    keys = Counter(item["key"] for job in jobs for item in job["items"])
    assert keys == Counter(f"{dav}/in/{index}.png" for index in range(12))  # each exactly once
    assert all(job["status"] == "succeeded" for job in jobs)


def test_wrong_webdav_credentials_stop_the_gateway_at_start(
    tmp_path: Path, webdav: DavServer
) -> None:
    wrong = DavServer(webdav.url, webdav.folder, webdav.login, "a-wrong-password")
    fdl = _fdl(tmp_path, wrong, [_digits("digits-dav", "dav:x/in", "dav:x/out")])
    with pytest.raises(RuntimeError, match="server exited") as caught:
        with _serve(fdl, tmp_path, free_port()):
            pass
    log = str(caught.value)
    assert f"storage 'dav': WebDAV server {webdav.url} refused the credentials" in log
    assert "refused the credentials (401): check the storage's login and password" in log
    assert "a-wrong-password" not in log
    assert "Unclosed" not in log  # what had started before the check was closed
