"""wrk checks every answer: a wrong body or an unexpected status counts as an error, once.

The real wrk with the benchmarks' own Lua script, against a small HTTP/1.1 server on loopback
that answers some requests wrongly in a fixed pattern; one connection, so the answers wrk counted
are the first ones the server sent and the expected error count is exact.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks.payloads import Payload
from benchmarks.processes import ProcessGroup
from benchmarks.wrk import run_wrk

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (`make test` installs it)"
)


def answer(number: int) -> tuple[int, bytes]:
    """The status and body of the server's ``number``-th answer (from 1)."""
    if number % 3 == 0:
        return 200, b'{"label": "tulip"}'  # a wrong answer
    if number % 5 == 0:
        return 202, b'{"label": "daisy"}'  # the right label, not a 200
    if number % 7 == 0:
        return 500, b'{"label": "daisy"}'  # an error status (wrk counts it itself)
    return 200, b'{"label": "daisy"}'


def wrong_answers(requests: int) -> int:
    return sum(answer(n) != (200, b'{"label": "daisy"}') for n in range(1, requests + 1))


def error_statuses(requests: int) -> int:
    return sum(answer(n)[0] >= 400 for n in range(1, requests + 1))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the servers wrk measures
    answered = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            Handler.answered += 1
            status, body = answer(Handler.answered)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Handler.answered = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/predict"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_every_wrong_answer_counts_as_one_error(server: str, tmp_path: Path) -> None:
    payload = Payload(b"jpeg bytes", "image/jpeg")
    with ProcessGroup() as group:
        stats = run_wrk(group, server, payload, 1, 1, tmp_path / "check", expect="daisy")
    assert stats.requests > 20
    assert stats.failures == wrong_answers(stats.requests)


def test_without_an_expected_text_only_error_statuses_count(server: str, tmp_path: Path) -> None:
    payload = Payload(b"jpeg bytes", "image/jpeg")
    with ProcessGroup() as group:
        stats = run_wrk(group, server, payload, 1, 1, tmp_path / "plain")
    assert stats.requests > 20
    assert stats.failures == error_statuses(stats.requests)
