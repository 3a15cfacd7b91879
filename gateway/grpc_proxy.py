"""The gRPC data path: forwards Open Inference Protocol calls to runtimes over pooled channels.

One ``grpc.aio`` channel per upstream (``host:port``), kept open and shared by every call to it
(HTTP/2 multiplexes them). Messages pass as bytes, neither parsed nor re-encoded. A failed call is
translated into the `GatewayError` tree here, where it arises, keeping the upstream's message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from gateway.errors import GatewayError, UpstreamTimeout, error_for_status
from runtimes.auth import TOKEN_METADATA
from runtimes.oip.grpc_calls import http_status

#: Channel options: the gateway checks sizes itself, so the channel limits none.
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
]


class GrpcChannels:
    """Pooled channels to the runtimes' gRPC servers (one per gateway process)."""

    def __init__(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._calls: dict[tuple[str, str], grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}

    async def call(
        self,
        target: str,
        method: str,
        request: bytes,
        timeout: float,
        metadata: Sequence[tuple[str, str]] | None = None,
        token: str | None = None,
    ) -> bytes:
        """Send one serialized request (with `metadata`, and a runtime's `token` when given);
        the serialized answer, or a `GatewayError`."""
        multicallable = self._calls.get((target, method))
        if multicallable is None:
            channel = self._channels.get(target)
            if channel is None:
                channel = self._channels[target] = grpc.aio.insecure_channel(
                    target, options=_CHANNEL_OPTIONS
                )
            multicallable = self._calls[(target, method)] = channel.unary_unary(method)
        try:
            sent = [*(metadata or ()), *(() if token is None else ((TOKEN_METADATA, token),))]
            answer: bytes = await multicallable(
                request, timeout=timeout, metadata=tuple(sent) if sent else None
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(target, exc) from None
        return answer

    async def aclose(self) -> None:
        """Close every channel."""
        channels, self._channels, self._calls = list(self._channels.values()), {}, {}
        for channel in channels:
            await channel.close()


def _translate(target: str, exc: grpc.aio.AioRpcError) -> GatewayError:
    code = exc.code()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return UpstreamTimeout(f"upstream {target} did not answer within the deadline")
    details = exc.details() or code.name
    if code == grpc.StatusCode.UNAVAILABLE:
        details = f"upstream {target} is not reachable ({details})"
    return error_for_status(http_status(code), details)
