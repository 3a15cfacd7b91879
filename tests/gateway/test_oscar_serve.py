"""OSCAR definitions through a real gateway process: files given to ``gateway serve -f``, OSCAR
service objects sent as JSON to ``PUT /system/services`` (as oscar-cli and oscar-python send
them), and ``gateway apply``. What is not done here is said in the log, the answer, the CLI's
output and the service's state; secrets reach only the service's runtime."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.backends.honesty import gpu_present
from gateway.spec_parts import MASK
from tests.support import ROOT, ServerProcess, gateway_process, python_command

FDL = ROOT / "tests" / "oscar_fdl"
FLOWER = ROOT / "model_images" / "imagenet" / "samples" / "flower.jpg"
ADMIN = "admin-" + "7" * 40
AUTH = {"Authorization": f"Bearer {ADMIN}"}
SECRET = "greeter-secret-value"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("oscar-serve")
    files = (FDL / "imagenet.yaml", FDL / "greeter.yaml")
    with gateway_process(folder, *files, env={"GATEWAY_ADMIN_TOKEN": ADMIN}) as server:
        yield server


@pytest.fixture(scope="module")
def http(gateway: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=60, headers=AUTH) as client:
        yield client


def _put(http: httpx.Client, service: dict[str, Any]) -> httpx.Response:
    body = json.dumps(service)  # ensure_ascii, as oscar-python's requests sends it
    return http.put("/system/services", content=body, headers={"Content-Type": "application/json"})


def _wait_state(http: httpx.Client, name: str, state: str) -> dict[str, Any]:
    for _ in range(1200):
        answer = http.get(f"/system/services/{name}").json()
        if answer["state"] == state:
            return dict(answer)
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached {state}: {answer}")


def _run(http: httpx.Client, name: str, token: str, data: bytes) -> dict[str, bytes]:
    response = http.post(
        f"/predict/{name}",
        content=data,
        headers={"Content-Type": "application/octet-stream", "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return {f["name"]: base64.b64decode(f["data"]) for f in response.json()["files"]}


def test_flower_through_an_oscar_file_keeps_its_preprocessing(http: httpx.Client) -> None:
    # an OSCAR FDL with our onnx runtime and its preprocess block, public so no token is needed
    _wait_state(http, "imagenet-oscar", "ready")
    response = http.post(
        "/predict/imagenet-oscar",
        content=FLOWER.read_bytes(),
        headers={"Content-Type": "image/jpeg", "Authorization": f"Bearer {ADMIN}"},
    )
    assert response.status_code == 200, response.text
    top = response.json()["predictions"][0]
    assert top["label"] == "daisy"
    assert top["score"] == pytest.approx(0.309, abs=0.005)  # 0.145 without the preprocessing


def test_load_warnings_are_logged_and_name_the_field(
    gateway: ServerProcess, http: httpx.Client
) -> None:
    _wait_state(http, "greeter", "ready")
    log = gateway.log()
    assert "service 'imagenet-oscar': field 'alpine' is not supported here and was ignored" in log
    assert "service 'greeter': field 'vo' is not supported here and was ignored" in log
    assert "service 'greeter': runs as a process on this machine, without its image" in log
    assert SECRET not in log


def test_state_detail_says_what_the_local_backend_leaves_out(http: httpx.Client) -> None:
    answer = _wait_state(http, "greeter", "ready")
    assert "without its image 'ghcr.io/example/greeter:1.0'" in answer["detail"]
    assert ("this machine has no GPU" in answer["detail"]) == (not gpu_present())
    assert answer["definition"]["secrets"] == {"GREETER_KEY": MASK}
    listing = http.get("/system/services")
    assert SECRET not in listing.text and SECRET not in json.dumps(answer)


def test_oscar_service_object_as_json_with_an_emoji_and_a_secret(
    gateway: ServerProcess, http: httpx.Client
) -> None:
    script = (
        "#!/bin/sh\n"
        'echo "smile 😀" > "$TMP_OUTPUT_DIR/smile.txt"\n'
        'printf %s "$SMILE_KEY" > "$TMP_OUTPUT_DIR/key.txt"\n'
    )
    service = {
        "name": "smile",
        "image": "ghcr.io/example/smile:1.0",
        "script": script,
        "cpu": "0.5",
        "memory": "256Mi",
        "vo": "vo.example.eu",
        "environment": {"Variables": {"MOOD": "good"}, "secrets": {"SMILE_KEY": "smile-secret"}},
    }
    response = _put(http, service)
    assert response.status_code == 201, response.text
    answer = response.json()
    warnings = "\n".join(answer["warnings"])
    assert "service 'smile': field 'vo' is not supported here and was ignored" in warnings
    assert "service 'smile': runs as a process on this machine, without its image" in warnings
    assert "smile-secret" not in response.text
    described = _wait_state(http, "smile", "ready")
    assert described["definition"]["script"] == script
    outputs = _run(http, "smile", answer["services"][0]["token"], b"input")
    assert outputs["smile.txt"].decode() == "smile 😀\n"
    assert outputs["key.txt"] == b"smile-secret"  # the secret reached the runtime's env only
    assert "smile-secret" not in gateway.log()


@pytest.mark.parametrize("escape", ["\\ud83d", "\\ude00"])
def test_lone_surrogate_is_a_400_with_our_error_body(http: httpx.Client, escape: str) -> None:
    body = '{"name": "lone", "image": "i", "script": "echo ' + escape + '"}'
    response = http.put(
        "/system/services", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"
    assert "lone surrogate" in response.json()["error"]["message"]


def test_kserve_service_without_a_script_is_listed_as_failed(http: httpx.Client) -> None:
    service = {
        "name": "llm",
        "image": "ghcr.io/example/llm-client:1.0",
        "visibility": "public",
        "kserve": {"type": "llm_inference", "storage_uri": "hf://example/model"},
    }
    response = _put(http, service)
    assert response.status_code == 201, response.text
    assert response.json()["services"][0]["state"] == "failed"
    assert any("'llm': not run here" in w for w in response.json()["warnings"])
    answer = http.get("/system/services/llm").json()
    assert answer["state"] == "failed"
    assert answer["detail"] == "not run here: a KServe service without a script"
    predict = http.post("/predict/llm", content=b"x", headers={"Content-Type": "image/png"})
    assert predict.status_code == 503
    assert "not run here" in predict.json()["error"]["message"]


def test_gateway_apply_prints_what_is_not_done_here(gateway: ServerProcess, tmp_path: Path) -> None:
    source = (FDL / "greeter.yaml").read_text().replace("name: greeter", "name: greeter-applied")
    (tmp_path / "greeter.sh").write_text((FDL / "greeter.sh").read_text())
    path = tmp_path / "greeter.yaml"
    path.write_text(source)
    result = subprocess.run(
        python_command("-m", "gateway", "--url", gateway.url, "--token", ADMIN, "apply", str(path)),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "warning: service 'greeter-applied': field 'alpine' is not supported here" in (
        result.stderr
    )
    assert "without its image 'ghcr.io/example/greeter:1.0'" in result.stderr
    assert "greeter-applied: created" in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_storage_sent_with_a_service_is_named_when_it_is_not_set_up(http: httpx.Client) -> None:
    service = {
        "name": "stored",
        "visibility": "public",
        "script": "#!/bin/sh\necho stored\n",
        "output": [{"storage_provider": "minio.other", "path": "stored/out"}],
        "storage_providers": {
            "minio": {
                "default": {"endpoint": "https://minio.example.org", "secret_key": "s-default"},
                "other": {"endpoint": "https://other.example.org", "secret_key": "s-other"},
            }
        },
    }
    response = _put(http, service)
    assert response.status_code == 201, response.text
    storage_lines = [w for w in response.json()["warnings"] if w.startswith("storage ")]
    assert storage_lines == [
        "storage 'other' sent with the definition was not set up: object stores are configured "
        "when the gateway starts (gateway serve -f FILE)"
    ]
    assert "s-other" not in response.text and "s-default" not in response.text
