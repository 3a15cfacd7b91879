"""The protocols section asks one question four ways: the same digit answers the same label."""

from __future__ import annotations

import grpc
import httpx
import numpy as np

from benchmarks.protocols import protocol_table, requests_for
from benchmarks.results import DIRECT, GATEWAY, ProtocolPoint
from benchmarks.stats import Stats
from runtimes.oip import grpc_predict_v2_pb2 as pb
from runtimes.oip.grpc_calls import method
from runtimes.onnx.app import create_app
from tests.runtimes.conftest import service_settings, wait_ready
from tests.support import free_port


async def test_the_four_requests_get_the_same_label_from_a_runtime() -> None:
    port = free_port()
    app = create_app(service_settings("digits", host="127.0.0.1", grpc_port=port))
    raw, as_json, binary, over_grpc = requests_for("digits")
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://runtime") as client,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        await wait_ready(client)
        predicted = await client.post("/predict", content=raw.body, headers=raw.headers)
        label = int(predicted.json()["predictions"][0]["label"])
        answer = await client.post(as_json.path, content=as_json.body, headers=as_json.headers)
        outputs = {o["name"]: o for o in answer.json()["outputs"]}
        assert outputs["label"]["data"] == [label]
        answer = await client.post(binary.path, content=binary.body, headers=binary.headers)
        length = int(answer.headers["inference-header-content-length"])
        assert answer.status_code == 200 and len(answer.content) > length  # binary outputs
        infer = channel.unary_unary(
            method("ModelInfer"), response_deserializer=pb.ModelInferResponse.FromString
        )
        reply = await infer(over_grpc.body)
    names = [o.name for o in reply.outputs]
    labels = np.frombuffer(reply.raw_output_contents[names.index("label")], "<i8")
    assert labels.tolist() == [label]


def test_the_table_puts_each_protocol_direct_next_to_the_gateway() -> None:
    stats = Stats(requests=100, failures=0, rps=100.0, p50_ms=1.0, p99_ms=2.0, mean_ms=1.0)
    slower = Stats(requests=80, failures=1, rps=80.0, p50_ms=1.5, p99_ms=3.0, mean_ms=1.2)
    points = [
        ProtocolPoint("digits", "OIP gRPC", DIRECT, 16, 286, stats),
        ProtocolPoint("digits", "OIP gRPC", GATEWAY, 16, 286, slower),
    ]
    (row,) = protocol_table(points)[4:]
    assert row == (
        "| digits | OIP gRPC | 286 | 16 | 100 | 80 | 0.80x | 1.00 → 1.50 | +0.50 ms "
        "| 2.00 → 3.00 | +1.00 ms | 1 |"
    )
