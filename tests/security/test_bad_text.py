"""Text Python parses but cannot encode again (a lone surrogate, ``"\\ud83d"``) is a 4xx with
our error body on every route that takes a body, never a 500; through a real gateway process."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.app import create_app
from gateway.config import Settings
from gateway.errors import BadRequest
from gateway.services import load_file, parse_text
from tests.security.conftest import SecretGateway
from tests.security.test_openapi import DOCUMENT

LONE = b'"\\ud83d"'  # JSON for a lone high surrogate
BODIES = {
    "a document": b'{"a": ' + LONE + b"}",
    "a definition": b'{"services": [{"name": "bad", "runtime": "script", "script": "true", '
    b'"environment": {"A": ' + LONE + b"}}]}",
    "an OSCAR service": b'{"name": "bad", "script": ' + LONE + b', "image": "x"}',
    "instances": b'{"instances": [{"b64": ' + LONE + b"}]}",
    "tensors": b'{"inputs": [{"name": ' + LONE + b', "shape": [1], "datatype": "BYTES", '
    b'"data": ["x"]}]}',
    "S3 records": b'{"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": '
    + LONE
    + b"}}}]}",
}
PARAMETERS = {"service": "digits", "name": "digits"}


def _writing_routes(tmp_path: Path) -> list[tuple[str, str]]:
    app = create_app(Settings(data_dir=tmp_path), backends={})
    found = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method in ("POST", "PUT", "PATCH"):
                found.append((method, str(getattr(route, "path", ""))))
    assert found
    return found


def _takes_a_body(method: str, path: str) -> bool:
    operation: Any = DOCUMENT["paths"].get(re.sub(r"{(\w+):[^}]*}", r"{\1}", path), {})
    return "requestBody" in operation.get(method.lower(), {})


def test_every_route_answers_bad_text_with_a_4xx(gateway: SecretGateway, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {gateway.admin_token}"}
    failures = []
    with httpx.Client(base_url=gateway.server.url, headers=headers, timeout=30) as client:
        for method, path in _writing_routes(tmp_path):
            url = re.sub(r"{(\w+)(:[^}]*)?}", lambda m: PARAMETERS.get(m[1], "x"), path)
            for what, body in BODIES.items():
                response = client.request(
                    method, url, content=body, headers={"Content-Type": "application/json"}
                )
                ok = response.status_code < 500 and (
                    400 <= response.status_code or not _takes_a_body(method, path)
                )
                if response.status_code >= 400:
                    error = response.json()["error"]
                    ok = ok and (isinstance(error, str) if path.startswith("/v2/") else
                                 {"code", "message"} <= set(error))  # fmt: skip
                if not ok:
                    failures.append(f"{method} {url} with {what}: {response.status_code} "
                                    f"{response.text[:200]}")  # fmt: skip
    assert not failures, "\n".join(failures)


def test_a_definition_with_a_lone_surrogate_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match=r"environment\.A is not valid Unicode"):
        parse_text(BODIES["a definition"], source="request body")


def test_a_file_with_a_lone_surrogate_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump({"services": [{"name": "x", "model": "m.onnx"}]}) + 'x: "\\ud83d"\n'
    )
    with pytest.raises(BadRequest, match="not valid Unicode"):
        load_file(path)
