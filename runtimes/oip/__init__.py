"""The Open Inference Protocol (v2) as both sides speak it: names, headers, the gRPC messages.

The gateway and the runtimes import it (the runtimes never import the gateway). The gRPC messages
and stubs (``grpc_predict_v2_pb2*``) are generated from ``grpc_predict_v2.proto`` by ``make proto``.
"""

from __future__ import annotations

#: The binary tensor extension's header: the JSON part's length; tensor bytes follow it.
INFERENCE_HEADER = "Inference-Header-Content-Length"

#: The protocol extensions every server of this project supports (``GET /v2``, ServerMetadata).
EXTENSIONS = ("binary_tensor_data",)

#: The one model version a service has (``/v2/models/{m}/versions/1``).
MODEL_VERSION = "1"

#: gRPC method paths, ``/inference.GRPCInferenceService/<Call>``.
SERVICE = "inference.GRPCInferenceService"
