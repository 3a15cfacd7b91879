"""A public script that finds a private service's runtime cannot call it: the runtime listens on a
Unix socket in a folder only the gateway's user may enter (scripts run as other users), so the
script cannot even connect (and a caller that could would still need the runtime's token: 401,
tests/runtimes/test_token.py), while the same request through the gateway, with the service's
token, is answered. The script is handed the socket's path (an attacker reads it from
``/proc/net/unix``), so the test does not depend on a search."""

from __future__ import annotations

import base64
import os

import httpx
import pytest

from tests.security.conftest import SecretGateway
from tests.support import digit_png, digits_holdout

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="scripts are boxed only under root")


def _private_service(gateway: SecretGateway) -> dict[str, object]:
    response = httpx.get(
        f"{gateway.server.url}/system/services/private-digits",
        headers={"Authorization": f"Bearer {gateway.admin_token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    described: dict[str, object] = response.json()
    return described


def _probe(gateway: SecretGateway, runtime_url: str, **headers: str) -> dict[str, str]:
    """What the ``probe`` script's direct calls to `runtime_url` got: a status or an error."""
    response = httpx.post(
        f"{gateway.server.url}/predict/probe",
        content=runtime_url.encode(),
        headers={"Content-Type": "application/octet-stream", **headers},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    (probe,) = [f for f in response.json()["files"] if f["name"] == "probe.txt"]
    answers = {}
    for line in base64.b64decode(probe["data"]).decode(errors="replace").splitlines():
        method, path, status = line.split()
        answers[f"{method} {path}"] = status
    return answers


def test_a_script_cannot_connect_to_a_private_runtime(gateway: SecretGateway) -> None:
    url = _private_service(gateway)["url"]
    assert isinstance(url, str) and url.startswith("unix:/")
    assert _probe(gateway, url) == {
        "GET /v2/health/ready": "PermissionError",  # not even the open health route
        "POST /predict": "PermissionError",
        "GET /v2": "PermissionError",
        "POST /v2/models/private-digits/infer": "PermissionError",
        "GET /metrics": "PermissionError",
    }


def test_the_same_runtime_answers_through_the_gateway_with_the_service_token(
    gateway: SecretGateway,
) -> None:
    token = _private_service(gateway)["token"]
    pixels, _ = digits_holdout()
    files = {"file": ("digit.png", digit_png(pixels[0], ink_on_paper=False), "image/png")}
    url = f"{gateway.server.url}/predict/private-digits"
    assert httpx.post(url, files=files, timeout=60).status_code == 401  # private: needs its token
    answer = httpx.post(url, files=files, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"]


def test_a_client_sent_runtime_token_is_not_forwarded(gateway: SecretGateway) -> None:
    """The gateway adds the runtime's token itself: a client's ``X-Runtime-Token`` (here the
    right name with a forged value) neither reaches the runtime nor spoils the gateway's."""
    token = _private_service(gateway)["token"]
    pixels, _ = digits_holdout()
    files = {"file": ("digit.png", digit_png(pixels[1], ink_on_paper=False), "image/png")}
    answer = httpx.post(
        f"{gateway.server.url}/predict/private-digits",
        files=files,
        headers={"Authorization": f"Bearer {token}", "X-Runtime-Token": "forged"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
