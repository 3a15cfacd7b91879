"""/predict on the real EfficientNet-Lite0 model: inputs, answers, limits and errors."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import AsyncIterator

import httpx
from PIL import Image

from runtimes.onnx.app import create_app
from tests.runtimes.conftest import service_settings, wait_ready
from tests.support import CHINA_LABELS, top_labels

JPEG = {"content-type": "image/jpeg"}


async def test_flower_is_a_daisy(imagenet: httpx.AsyncClient, flower: bytes) -> None:
    response = await imagenet.post("/predict", content=flower, headers=JPEG)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["service"] == "imagenet"
    assert answer["model"] == "efficientnet-lite0"
    assert len(answer["predictions"]) == 5
    assert "daisy" in top_labels(answer)
    scores = [p["score"] for p in answer["predictions"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert {"label", "class_id", "score"} == set(answer["predictions"][0])


async def test_china_is_a_palace(imagenet: httpx.AsyncClient, china: bytes) -> None:
    response = await imagenet.post("/predict", content=china, headers=JPEG)
    assert response.status_code == 200
    assert CHINA_LABELS & set(top_labels(response.json()))


async def test_octet_stream_and_top_k(imagenet: httpx.AsyncClient, flower: bytes) -> None:
    response = await imagenet.post(
        "/predict",
        params={"top_k": 2},
        content=flower,
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 2


async def test_bad_top_k_is_400(imagenet: httpx.AsyncClient, flower: bytes) -> None:
    for value in ("zero", "0", "-3"):
        response = await imagenet.post("/predict", params={"top_k": value}, content=flower)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "bad_request"


async def test_multipart_answers_in_order(
    imagenet: httpx.AsyncClient, flower: bytes, china: bytes
) -> None:
    files = [("file", ("china.jpg", china)), ("file", ("flower.jpg", flower))]
    response = await imagenet.post("/predict", files=files)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["filename"] for r in results] == ["china.jpg", "flower.jpg"]
    assert CHINA_LABELS & set(top_labels(results[0]))
    assert "daisy" in top_labels(results[1])


async def test_b64_json(imagenet: httpx.AsyncClient, flower: bytes, china: bytes) -> None:
    one = {"instances": [{"b64": base64.b64encode(flower).decode()}]}
    response = await imagenet.post("/predict", json=one)
    assert response.status_code == 200
    assert "daisy" in top_labels(response.json())
    two = {"instances": [{"b64": base64.b64encode(i).decode()} for i in (flower, china)]}
    results = (await imagenet.post("/predict", json=two)).json()["results"]
    assert "daisy" in top_labels(results[0])
    assert CHINA_LABELS & set(top_labels(results[1]))


async def test_bad_json_is_400(imagenet: httpx.AsyncClient) -> None:
    for body in (b"{nope", b'{"instances": 3}', b'{"instances": [{"b64": 5}]}'):
        response = await imagenet.post(
            "/predict", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "bad_request"


async def test_one_bad_image_among_several(imagenet: httpx.AsyncClient, flower: bytes) -> None:
    files = [
        ("file", ("a.jpg", flower)),
        ("file", ("bad.jpg", b"not an image")),
        ("file", ("c.jpg", flower)),
    ]
    response = await imagenet.post("/predict", files=files)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["filename"] for r in results] == ["a.jpg", "bad.jpg", "c.jpg"]
    assert results[1]["error"]["code"] == "invalid_image"
    assert "predictions" not in results[1]
    assert "daisy" in top_labels(results[0])
    assert "daisy" in top_labels(results[2])


async def test_corrupt_and_truncated_images_are_422(
    imagenet: httpx.AsyncClient, flower: bytes
) -> None:
    for body in (b"\x89PNG definitely not", flower[: len(flower) // 3], b"GIF89a" + bytes(20)):
        response = await imagenet.post("/predict", content=body, headers=JPEG)
        assert response.status_code == 422, body[:10]
        error = response.json()["error"]
        assert error["code"] == "invalid_image"
        assert error["message"]


async def test_an_unreadable_body_is_named_without_python_internals(
    imagenet: httpx.AsyncClient,
) -> None:
    response = await imagenet.post("/predict", content=b"garbage", headers=JPEG)
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert message.startswith("not a decodable image")
    assert "BytesIO" not in message and "0x" not in message


async def test_unsupported_media_type(imagenet: httpx.AsyncClient, flower: bytes) -> None:
    response = await imagenet.post(
        "/predict", content=flower, headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


async def test_empty_body_is_400(imagenet: httpx.AsyncClient) -> None:
    response = await imagenet.post("/predict", content=b"", headers=JPEG)
    assert response.status_code == 400


async def test_body_over_limit_then_next_request(
    imagenet: httpx.AsyncClient, flower: bytes
) -> None:
    response = await imagenet.post("/predict", content=bytes(4_000_001), headers=JPEG)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: stopped while reading
        for _ in range(50):
            yield bytes(100_000)

    response = await imagenet.post("/predict", content=chunked(), headers=JPEG)
    assert response.status_code == 413
    response = await imagenet.post("/predict", content=flower, headers=JPEG)
    assert response.status_code == 200


async def test_too_many_files_is_413(imagenet: httpx.AsyncClient, flower: bytes) -> None:
    files = [("file", (f"{i}.jpg", flower)) for i in range(5)]  # the fixture allows 4
    response = await imagenet.post("/predict", files=files)
    assert response.status_code == 413
    assert "too many files" in response.json()["error"]["message"]


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height but carries almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(width + 1))  # one row of an 8-bit grey image
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


async def test_too_many_pixels_is_413(imagenet: httpx.AsyncClient) -> None:
    # over Pillow's error limit, over its warning limit, over ours only
    for width, height in ((50_000, 50_000), (10_000, 10_000), (8_000, 6_000)):
        response = await imagenet.post(
            "/predict", content=_png_header(width, height), headers={"content-type": "image/png"}
        )
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "payload_too_large"
        assert "pixels" in error["message"]


async def test_max_pixels_setting(flower: bytes) -> None:
    app = create_app(service_settings("imagenet", max_pixels=100_000))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://runtime") as client,
    ):
        await wait_ready(client)
        response = await client.post("/predict", content=flower, headers=JPEG)
        assert response.status_code == 413
        assert "640x427" in response.json()["error"]["message"]


async def test_png_rgba_and_grey_images(imagenet: httpx.AsyncClient, flower: bytes) -> None:
    photo = Image.open(io.BytesIO(flower))
    for mode in ("RGBA", "L", "P"):
        buffer = io.BytesIO()
        photo.convert(mode).save(buffer, "PNG")
        response = await imagenet.post(
            "/predict", content=buffer.getvalue(), headers={"content-type": "image/png"}
        )
        assert response.status_code == 200, mode


async def test_errors_on_unknown_route_and_method(imagenet: httpx.AsyncClient) -> None:
    response = await imagenet.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "no such route"}}
    response = await imagenet.get("/predict")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]
