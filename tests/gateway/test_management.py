"""The management API, the Python client and the CLI against a real gateway process with auth."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.client import ApiError, Client
from tests.support import (
    DIGITS_YAML,
    ROOT,
    ServerProcess,
    digit_png,
    digits_holdout,
    free_port,
    gateway_process,
)

ADMIN = "admin-" + "9" * 40


def _definition(name: str, visibility: str = "private") -> dict[str, object]:
    (digits,) = yaml.safe_load(DIGITS_YAML.read_text())["services"]
    models = DIGITS_YAML.parent / "models"
    digits.update(
        name=name,
        model=str(models / "digits-mlp.onnx"),
        labels=str(models / "digits-labels.txt"),
        visibility=visibility,
    )
    return {"services": [digits]}


class Gateway:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> AbstractContextManager[ServerProcess]:
        return gateway_process(
            self.data_dir,
            DIGITS_YAML,
            env={"GATEWAY_ADMIN_TOKEN": ADMIN},
            port=self.port,
            log_name=f"gateway-{self.port}.log",
            ready_path="/v2/health/live",
        )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with Gateway(tmp_path_factory.mktemp("managed")).start() as server:
        with Client(server.url, token=ADMIN) as admin:
            _wait_ready(admin, "digits")
        yield server


def _wait_ready(admin: Client, name: str) -> None:
    for _ in range(600):
        states = {s["name"]: s["state"] for s in admin.list_services()}
        if states.get(name) == "ready":
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} never became ready: {states}")


def _png() -> bytes:
    return digit_png(digits_holdout()[0][0], ink_on_paper=True)


def gateway_cli(
    url: str, *args: str, token: str | None = ADMIN
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway", "--url", url]
    if token:
        command += ["--token", token]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)


def test_system_routes_need_the_admin_token(gateway: ServerProcess) -> None:
    assert httpx.get(gateway.url + "/system/info").status_code == 401
    wrong = httpx.get(
        gateway.url + "/system/services", headers={"Authorization": "Bearer nope-123"}
    )
    assert wrong.status_code == 403
    assert "nope-123" not in wrong.text  # tokens are never echoed
    with Client(gateway.url, token=ADMIN) as admin:
        info = admin.info()
    assert info["services"] >= 1 and info["version"]


def test_private_service_tokens(gateway: ServerProcess) -> None:
    with Client(gateway.url, token=ADMIN) as admin:
        answer = admin.apply(_definition("digits-private"), replace=False)
        (created,) = answer["services"]
        assert created["created"] and created["state"] == "ready"
        token = created["token"]
        assert len(token) == 64 and int(token, 16) >= 0
        with pytest.raises(ApiError) as conflict:
            admin.apply(_definition("digits-private"), replace=False)
        assert conflict.value.status_code == 409
    png = _png()
    with Client(gateway.url) as anonymous, pytest.raises(ApiError) as missing:
        anonymous.predict("digits-private", png)
    assert missing.value.status_code == 401
    with Client(gateway.url, token="0" * 64) as wrong, pytest.raises(ApiError) as denied:
        wrong.predict("digits-private", png)
    assert denied.value.status_code == 403
    with Client(gateway.url, token=token) as owner:
        assert owner.predict("digits-private", png)["predictions"]
    with Client(gateway.url, token=ADMIN) as admin:
        # an update keeps the token; a listed service never shows it
        again = admin.apply(_definition("digits-private"))["services"][0]
        assert not again["created"] and "token" not in again
        assert token not in str(admin.list_services())
        admin.delete_service("digits-private")
        assert "digits-private" not in {s["name"] for s in admin.list_services()}


def test_definitions_survive_a_restart(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path)
    with gateway.start() as server, Client(server.url, token=ADMIN) as admin:
        token = admin.apply(_definition("kept"))["services"][0]["token"]
    with gateway.start() as server, Client(server.url, token=ADMIN) as admin:
        _wait_ready(admin, "kept")
        with Client(server.url, token=token) as owner:
            assert owner.predict("kept", _png())["predictions"]


def test_cli_commands(gateway: ServerProcess, tmp_path: Path) -> None:
    fdl = tmp_path / "svc.yaml"
    fdl.write_text(yaml.safe_dump(_definition("cli-digits", visibility="public")))
    applied = gateway_cli(gateway.url, "apply", str(fdl))
    assert applied.returncode == 0, applied.stderr
    assert "cli-digits: created, ready" in applied.stdout
    listed = gateway_cli(gateway.url, "ls")
    assert listed.returncode == 0
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["NAME", "BACKEND", "STATE", "REPLICAS", "URL"]
    assert any(row.split()[:4] == ["cli-digits", "local", "ready", "1"] for row in rows)
    image = tmp_path / "seven.png"
    image.write_bytes(_png())
    predicted = gateway_cli(gateway.url, "predict", "cli-digits", str(image), "--top-k", "2")
    assert predicted.returncode == 0, predicted.stderr
    assert "seven.png:" in predicted.stdout and "SCORE" in predicted.stdout
    logs = gateway_cli(gateway.url, "logs", "cli-digits")
    assert logs.returncode == 0 and "loaded" in logs.stdout
    removed = gateway_cli(gateway.url, "rm", "cli-digits")
    assert removed.returncode == 0 and "deleted" in removed.stdout


def test_cli_errors_are_one_line(gateway: ServerProcess, tmp_path: Path) -> None:
    missing = gateway_cli(gateway.url, "rm", "no-such-service")
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    assert "404 service_not_found" in missing.stderr
    unauthorised = gateway_cli(gateway.url, "ls", token=None)
    assert unauthorised.returncode == 1 and "401" in unauthorised.stderr
    unreachable = gateway_cli(f"http://127.0.0.1:{free_port()}", "ls")
    assert unreachable.returncode == 3 and "cannot reach" in unreachable.stderr
    nofile = gateway_cli(gateway.url, "predict", "digits", str(tmp_path / "absent.png"))
    assert nofile.returncode == 2 and "no such file" in nofile.stderr


def test_field_classifier_example(gateway: ServerProcess, tmp_path: Path) -> None:
    folder = tmp_path / "field"
    folder.mkdir()
    x_test, y_test = digits_holdout()
    for index in range(3):
        (folder / f"cam-{index}.png").write_bytes(digit_png(x_test[index], ink_on_paper=True))
    (folder / "notes.txt").write_text("not an image")
    csv_path = tmp_path / "results.csv"
    command = [
        sys.executable, "examples/field_classifier.py", str(folder), "--once",
        "--service", "digits", "--csv", str(csv_path), "--url", gateway.url, "--token", ADMIN,
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert [r["image"] for r in rows] == ["cam-0.png", "cam-1.png", "cam-2.png"]
    assert sum(r["label"] == str(y) for r, y in zip(rows, y_test[:3], strict=True)) >= 2
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert (
        again.returncode == 0 and len(list(csv.DictReader(io.StringIO(csv_path.read_text())))) == 3
    )


OSCAR_FDL = """
functions:
  oscar:
  - cluster-a:
      name: img-preprocess
      image: ghcr.io/acme/img-preprocess:1.2
      script: preprocess.sh
      memory: 1Gi
      cpu: '1.0'
      environment: {variables: {TARGET_SIZE: "640"}}
      input: [{storage_provider: minio.default, path: pipeline/raw}]
      output: [{storage_provider: minio.default, path: pipeline/resized, suffix: [".jpg"]}]
  - cluster-a:
      name: detector
      image: ghcr.io/acme/yolo-detector:3.0
      script: detect.sh
      memory: 4Gi
      cpu: '2.0'
      log_level: CRITICAL
      synchronous: {min_scale: 1, max_scale: 4}
      input: [{storage_provider: minio.default, path: pipeline/resized}]
      output: [{storage_provider: minio.default, path: pipeline/detections, suffix: [".json"]}]
"""


def test_oscar_two_service_fdl_is_applied_and_listed(
    gateway: ServerProcess, tmp_path: Path
) -> None:
    (tmp_path / "preprocess.sh").write_text('#!/bin/sh\ncp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/"\n')
    (tmp_path / "detect.sh").write_text('#!/bin/sh\necho "{}" > "$TMP_OUTPUT_DIR/out.json"\n')
    fdl = tmp_path / "oscar.yaml"
    fdl.write_text(OSCAR_FDL)
    applied = gateway_cli(gateway.url, "apply", str(fdl))
    assert applied.returncode == 0, applied.stderr
    assert "img-preprocess: created, ready" in applied.stdout
    assert "detector: created, ready" in applied.stdout
    with Client(gateway.url, token=ADMIN) as admin:
        listed = {s["name"]: s for s in admin.list_services()}
        detector = listed["detector"]["definition"]
        assert detector["runtime"] == "script" and "out.json" in detector["script"]
        assert detector["min_scale"] == 1 and detector["input"][0]["path"] == "pipeline/resized"
        assert listed["img-preprocess"]["state"] == "ready"
        admin.delete_service("img-preprocess")
        admin.delete_service("detector")


def test_no_anonymous_gateway_beyond_loopback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "gateway", "serve", "--host", "0.0.0.0", "--port", "1"]
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path)}
    env.pop("GATEWAY_ADMIN_TOKEN", None)
    refused = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode == 2
    assert "GATEWAY_ADMIN_TOKEN" in refused.stderr and "Traceback" not in refused.stderr
