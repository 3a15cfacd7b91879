"""oscar-python against a gateway started exactly as ``make run`` starts it (no admin token: the
local demo, open on loopback): its Basic login is taken, and the flow works unchanged."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from oscar_python.client import Client

from tests.support import DIGITS_YAML, IMAGENET_YAML, ServerProcess, gateway_process, sample_jpeg

FDL = Path(__file__).parent / "fdl" / "greet.yaml"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("open")
    args = ("--host", "127.0.0.1")
    with gateway_process(folder, IMAGENET_YAML, DIGITS_YAML, args=args) as server:
        yield server
    assert "unexpected error" not in server.log()


def test_the_flow_with_basic_auth(gateway: ServerProcess, tmp_path: Path) -> None:
    client = Client(
        {
            "cluster_id": "gateway-test",
            "endpoint": gateway.url,
            "user": "oscar",
            "password": "anything",
            "ssl": "",
        }
    )
    assert client.health_check().text == "Ok"
    assert client.create_service(str(FDL)).status_code == 201
    assert len(client.get_service("greet").json()["token"]) == 64
    answer = client.run_service("greet", input="open")
    assert base64.b64decode(answer.text) == b"hello: open"
    photo = tmp_path / "flower.jpg"
    photo.write_bytes(sample_jpeg("flower.jpg"))
    predictions = client.run_service("imagenet", input=str(photo)).json()["predictions"]
    assert "daisy" in [p["label"] for p in predictions]
    assert client.get_service("imagenet").json()["token"]  # services of the files have one too
    assert client.remove_service("greet").status_code == 204
