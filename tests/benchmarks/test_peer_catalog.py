"""Each peer's request carries the photo itself, and each peer lists its defaults first.

Real data, no peer virtualenv: the bodies the runner will send are decoded back with the
standard library only (base64, json, the email package's multipart parser) and compared with
the JPEG's bytes.
"""

from __future__ import annotations

import base64
import json
from email import message_from_bytes, policy

import pytest

from benchmarks.payloads import imagenet_payload
from benchmarks.peers.catalog import Peer, load_peer

KEYS = ("mlserver", "bentoml", "rayserve")


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return imagenet_payload().body


def peer(key: str) -> Peer:
    return load_peer(key)


def multipart_files(content_type: str, body: bytes) -> dict[str, bytes]:
    """Form field name -> file bytes, parsed by the standard library's MIME parser."""
    head = f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n".encode()
    message = message_from_bytes(head + body, policy=policy.HTTP)
    assert message.is_multipart() and not message.defects
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        files[name] = payload
    return files


@pytest.mark.parametrize("key", KEYS)
def test_a_peer_loads_under_its_own_key_with_its_defaults_first(key: str) -> None:
    loaded = peer(key)
    assert loaded.key == key
    assert loaded.settings[0].name == "defaults"
    assert loaded.settings[0].args == () and dict(loaded.settings[0].env) == {}
    assert len(loaded.settings) >= 2
    assert len({s.name for s in loaded.settings}) == len(loaded.settings)
    assert loaded.requirements.is_file() and loaded.server.is_file()
    assert loaded.expect == "daisy"


def test_the_mlserver_request_is_a_v2_base64_bytes_tensor_of_the_photo(jpeg: bytes) -> None:
    request = peer("mlserver").build_request(jpeg)
    assert request.path == "/v2/models/efficientnet/infer"
    assert request.content_type == "application/json"
    (tensor,) = json.loads(request.body)["inputs"]
    assert tensor["datatype"] == "BYTES" and tensor["shape"] == [1]
    assert tensor["parameters"] == {"content_type": "base64"}
    assert base64.b64decode(tensor["data"][0], validate=True) == jpeg


def test_the_bentoml_request_is_one_multipart_file_holding_the_photo(jpeg: bytes) -> None:
    request = peer("bentoml").build_request(jpeg)
    assert request.path == "/classify"
    assert request.content_type.startswith("multipart/form-data; boundary=")
    assert multipart_files(request.content_type, request.body) == {"images": jpeg}


def test_the_ray_serve_request_is_the_photo_itself(jpeg: bytes) -> None:
    request = peer("rayserve").build_request(jpeg)
    assert (request.path, request.content_type, request.body) == ("/", "image/jpeg", jpeg)


def test_the_requests_pin_the_peer_and_every_package_the_shared_serving_code_needs() -> None:
    needed = {"numpy", "pillow", "onnxruntime", "pydantic", "orjson", "pyyaml"}
    for key, package in (("mlserver", "mlserver"), ("bentoml", "bentoml"), ("rayserve", "ray")):
        text = peer(key).requirements.read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        assert all("==" in line for line in lines), key  # every line pinned
        names = {line.split("==", 1)[0].split("[", 1)[0].lower() for line in lines}
        assert {package} | needed <= names, key
