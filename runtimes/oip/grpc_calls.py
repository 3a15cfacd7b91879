"""The gRPC side of the protocol, shared by the runtime's server and the gateway's: call paths,
server options and the one mapping between HTTP statuses and gRPC status codes."""

from __future__ import annotations

import grpc

from runtimes.oip import SERVICE

#: The calls of ``inference.GRPCInferenceService`` that this project serves.
CALLS = ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer")

#: The gRPC status of each error, by the HTTP status the same error has on the REST routes.
_HTTP_TO_GRPC = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    409: grpc.StatusCode.ALREADY_EXISTS,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    431: grpc.StatusCode.RESOURCE_EXHAUSTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
#: The other way: metrics count a gRPC answer under the HTTP status of the same outcome.
_GRPC_TO_HTTP = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def method(call: str) -> str:
    """The path of one call, ``/inference.GRPCInferenceService/<call>``."""
    return f"/{SERVICE}/{call}"


def grpc_status(http_status: int) -> grpc.StatusCode:
    """The gRPC status code of an error that HTTP answers with ``http_status``."""
    return _HTTP_TO_GRPC.get(http_status, grpc.StatusCode.INTERNAL)


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status of the same outcome as the gRPC status ``code``."""
    return _GRPC_TO_HTTP.get(code, 500)


def server_options(
    max_message_bytes: int, max_metadata_bytes: int | None = None
) -> list[tuple[str, int]]:
    """grpc.aio server options: the largest message taken in, the largest metadata; a port in
    use is an error (no SO_REUSEPORT sharing)."""
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", -1),
        ("grpc.so_reuseport", 0),
    ]
    if max_metadata_bytes is not None:
        options.append(("grpc.max_metadata_size", max_metadata_bytes))
    return options
