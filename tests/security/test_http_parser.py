"""A request the HTTP parser itself rejects gets our JSON error body, from a real gateway."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from tests.security.conftest import SecretGateway

BROKEN = [
    b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nthis is no header\r\n\r\n",
    b"NOT HTTP AT ALL\r\n\r\n",
    b"POST /predict/digits HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
]


@pytest.mark.parametrize("request_bytes", BROKEN, ids=["header", "request-line", "chunk"])
def test_an_unparsable_request_gets_a_json_400(
    gateway: SecretGateway, request_bytes: bytes
) -> None:
    address = urlsplit(gateway.server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(request_bytes)
        answer = b""
        while chunk := sock.recv(65536):  # the gateway closes the connection after it
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    assert status_line.startswith("HTTP/1.1 400")
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "bad_request"
