"""Hypothesis on what clients send to ``POST /predict/digits`` of a real gateway process.

Random and damaged image bytes (truncated or mutated PNG and JPEG), hand-built multipart bodies
with odd boundaries, b64 JSON with junk, random content types, query strings and headers: the
gateway never answers 5xx, every error has the JSON error body, and it (and the runtime behind it)
stays up afterwards.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from functools import cache

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.reliability.conftest import SERVICE, serve_digits
from tests.support import ServerProcess, digit_png, digits_holdout, sample_jpeg

BODY_LIMIT = 256 * 1024
FUZZ = settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# RFC 9110 token characters (header names, media type names) and visible field-value characters
TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VCHAR = "".join(chr(c) for c in range(0x21, 0x7F))
# headers that frame the request or the connection: httpx sets them, fuzzing them tests httpx
FRAMING = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade", "te"}


@cache
def png() -> bytes:
    return digit_png(digits_holdout()[0][0], ink_on_paper=True)


@cache
def jpeg() -> bytes:
    return sample_jpeg("flower.jpg")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve_digits(tmp_path_factory, GATEWAY_MAX_BODY_BYTES=str(BODY_LIMIT)) as server:
        yield server


@pytest.fixture(scope="module")
def client(gateway: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        yield http


@st.composite
def damaged_image(draw: st.DrawFn) -> bytes:
    """A real PNG or JPEG, truncated and/or with some bytes overwritten."""
    data = bytearray(draw(st.sampled_from([png(), jpeg()])))
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


images = st.one_of(
    st.binary(max_size=2048),
    damaged_image(),
    st.sampled_from([b"", png()]),
    # an image bomb candidate: a tiny body that declares a huge canvas is the runtime's problem
    st.just(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01\x00\x00\x00\x01\x00\x00\x08\x00\x00\x00\x00"
    ),
)


@st.composite
def multipart(draw: st.DrawFn) -> tuple[bytes, str]:
    """A hand-built multipart body, more or less well formed, and its Content-Type."""
    boundary = draw(
        st.one_of(
            st.text(alphabet=TCHAR + "()+,./:=?", min_size=1, max_size=70),
            st.sampled_from(["", '"quoted boundary"', "x" * 200]),
        )
    )
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(["file", "files", "", "image", 'fi"le']))
        filename = draw(st.one_of(st.none(), st.text(max_size=20)))
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        part_type = draw(st.sampled_from(["image/png", "image/jpeg", "text/plain", ""]))
        head = f"Content-Disposition: {disposition}\r\n"
        if part_type:
            head += f"Content-Type: {part_type}\r\n"
        parts.append(head.encode(errors="surrogateescape") + b"\r\n" + draw(images))
    delimiter = b"--" + boundary.encode()
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts)
    if draw(st.booleans()):
        body += delimiter + b"--\r\n"
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    params = draw(st.sampled_from(["; boundary={}", ";boundary={}", "", "; charset=utf-8"]))
    return body, "multipart/form-data" + params.format(boundary)


@st.composite
def b64_json(draw: st.DrawFn) -> tuple[bytes, str]:
    """``{"instances": [{"b64": ...}]}`` with good, bad and absent pieces."""
    item = st.one_of(
        images.map(lambda data: {"b64": base64.b64encode(data).decode()}),
        st.fixed_dictionaries({"b64": st.text(max_size=64)}),
        st.fixed_dictionaries(
            {"b64": st.one_of(st.none(), st.integers(), st.lists(st.integers(), max_size=3))}
        ),
        st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
        st.one_of(st.none(), st.integers(), st.text(max_size=8)),
    )
    document = draw(
        st.one_of(
            st.fixed_dictionaries({"instances": st.lists(item, max_size=4)}),
            st.fixed_dictionaries({"instances": st.one_of(st.none(), st.text(), st.integers())}),
            st.dictionaries(st.text(max_size=8), st.integers(), max_size=2),
            st.lists(st.integers(), max_size=3),
        )
    )
    body = json.dumps(document).encode()
    if draw(st.booleans()):  # junk around or inside the JSON
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + draw(st.binary(max_size=8)) + body[cut:]
    return body, draw(st.sampled_from(["application/json", "application/json; charset=utf-8"]))


content_types = st.one_of(
    st.sampled_from(
        [
            "image/png",
            "image/jpeg",
            "image/webp",
            "image/",
            "IMAGE/PNG",
            "application/octet-stream",
            "application/json",
            "multipart/form-data",
            "text/plain",
            "",
            ";",
        ]
    ),
    st.builds(
        lambda kind, sub, params: f"{kind}/{sub}{params}",
        st.text(alphabet=TCHAR, min_size=1, max_size=12),
        st.text(alphabet=TCHAR, min_size=1, max_size=12),
        st.text(alphabet=VCHAR + " ", max_size=30).map(str.strip).map(lambda p: p and f"; {p}"),
    ),
)
bodies = st.one_of(
    st.tuples(images, content_types),
    multipart(),
    b64_json(),
)
queries = st.one_of(
    st.just(""),
    st.integers(-(2**70), 2**70).map(lambda k: f"top_k={k}"),
    st.text(alphabet=VCHAR, max_size=20).map(lambda v: f"top_k={v}"),
    st.text(alphabet=VCHAR, max_size=40),
)
headers = st.dictionaries(
    st.text(alphabet=TCHAR, min_size=1, max_size=30).filter(lambda n: n.lower() not in FRAMING),
    st.text(alphabet=VCHAR + " \t", max_size=200).map(str.strip),
    max_size=6,
)


def check_answer(response: httpx.Response) -> None:
    """Never a 5xx; 200 is a prediction, anything else the JSON error body."""
    request = response.request
    where = (
        f"{request.method} {request.url} {dict(request.headers)} {request.content[:200]!r}"
        f" -> {response.status_code}: {response.content[:300]!r}"
    )
    assert response.status_code < 500, where
    assert response.headers.get("content-type", "").startswith("application/json"), where
    body = response.json()
    if response.status_code == 200:
        assert body["service"] == SERVICE, where
        assert "predictions" in body or "results" in body, where
        return
    assert response.status_code >= 400, where
    assert isinstance(body, dict) and set(body) == {"error"}, where
    error = body["error"]
    assert isinstance(error, dict), where
    assert isinstance(error.get("code"), str) and error["code"], where
    assert isinstance(error.get("message"), str) and error["message"], where


@FUZZ
@given(body=bodies, query=queries)
def test_bodies_content_types_and_queries(
    client: httpx.Client, body: tuple[bytes, str], query: str
) -> None:
    content, content_type = body
    response = client.post(
        f"/predict/{SERVICE}?{query}" if query else f"/predict/{SERVICE}",
        content=content,
        headers={"Content-Type": content_type} if content_type else {},
    )
    check_answer(response)


@settings(FUZZ, max_examples=200)
@given(extra=headers, body=st.tuples(images, st.sampled_from(["image/png", "image/jpeg"])))
def test_random_headers(
    client: httpx.Client, extra: dict[str, str], body: tuple[bytes, str]
) -> None:
    content, content_type = body
    response = client.post(
        f"/predict/{SERVICE}", content=content, headers={**extra, "Content-Type": content_type}
    )
    check_answer(response)


@pytest.mark.parametrize(
    ("declared", "sent"),
    [
        (10**12, b"\x89PNG"),  # far over the limit: refused before reading
        (BODY_LIMIT + 1, b"\x00" * 16),  # over the limit by one, and the client stops short
        (len(b"\x89PNG") + 10, b"\x89PNG"),  # under the limit, the client stops short
    ],
)
def test_content_length_that_lies(gateway: ServerProcess, declared: int, sent: bytes) -> None:
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST /predict/{SERVICE} HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n"
            f"Content-Length: {declared}\r\n\r\n".encode()
            + sent
        )
        sock.shutdown(socket.SHUT_WR)  # the rest of the body never comes
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if answer:  # the gateway may also just close a connection whose client went away
        head, _, payload = answer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        assert status < 500, answer[:500]
        if declared > BODY_LIMIT:
            assert status == 413, answer[:500]
            assert json.loads(payload)["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("path", ["/v2/health/live", f"/predict/{SERVICE}"])
def test_oversized_headers_answer_in_the_error_format_of_the_route(
    client: httpx.Client, path: str
) -> None:
    response = client.request(
        "GET" if path.startswith("/v2/") else "POST",
        path,
        content=b"x",
        headers={"Content-Type": "image/png", "X-Big": "a" * 40_000},
    )
    assert response.status_code == 431
    error = response.json()["error"]
    if path.startswith("/v2/"):  # the OIP routes answer {"error": "<message>"}
        assert isinstance(error, str) and error
    else:
        assert error["code"] == "headers_too_large"


def test_the_gateway_and_runtime_stayed_up(gateway: ServerProcess, client: httpx.Client) -> None:
    # runs last in this module: after all of the above, a good image still gets its answer
    assert gateway.proc.poll() is None
    response = client.post(
        f"/predict/{SERVICE}", content=png(), headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 200, response.text
    state = client.get(f"/system/services/{SERVICE}").json()
    assert state["state"] == "ready" and state["restarts"] == 0, state
