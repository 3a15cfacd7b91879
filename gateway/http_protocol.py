"""JsonErrorProtocol: uvicorn's httptools protocol, with our JSON error body on a bad request.

When the HTTP parser itself rejects a request (a malformed request line or header, a broken
chunked body), uvicorn answers 400 with a plain-text body before any application code runs.
This subclass overrides the one method uvicorn writes that answer with (``send_400_response``,
the same in its httptools and h11 protocols), so the client gets
``{"error": {"code": "bad_request", "message"}}`` as from every other error. The connection is
closed after it, as uvicorn does.
"""

from __future__ import annotations

import orjson

from gateway.errors import BadRequest
from runtimes.errors import error_body
from runtimes.http_writes import CoalescingProtocol


def bad_request_body(message: str) -> bytes:
    """The JSON error body of a request the HTTP parser rejected (no path to go by: the
    gateway's shape)."""
    return orjson.dumps(error_body(BadRequest(message), ""))


class JsonErrorProtocol(CoalescingProtocol):
    """uvicorn's httptools protocol whose parser errors answer our JSON error body."""

    def send_400_response(self, msg: str) -> None:
        body = bad_request_body(msg)
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
