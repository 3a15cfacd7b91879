"""Delegation of Open Inference Protocol gRPC calls to a service's members.

A member takes gRPC calls when its ``grpc_url`` is known (``host:port`` of its OIP gRPC port:
the member's own ``grpc_url`` in ``replicas``/``federation.members``, else that of its cluster in
``clusters:``); the others are passed over. The call goes to the member's port as it came (the
model's name set to the member's name for the service, where it differs), with the metadata
``x-delegated-from`` (the hop marker: it is never delegated again), ``authorization: Bearer
<the member's service token>`` (fetched as for HTTP, again once if refused) and the member's
``headers``. As over HTTP, a member that is unreachable or answers ``RESOURCE_EXHAUSTED``,
``UNAVAILABLE`` or another server-side code is held off for a while and the next one tried; any
other answer (the input's fault) is the answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import Message

from gateway.errors import Forbidden, GatewayError, Unauthorized
from gateway.federation.client import DELEGATED_FROM, MemberFailed
from gateway.federation.delegator import Delegator
from gateway.federation.members import Member
from gateway.grpc_proxy import GrpcChannels
from gateway.services import ServiceSpec
from runtimes.oip import grpc_predict_v2_pb2 as pb

HOP_KEY = DELEGATED_FROM.lower()  # gRPC metadata keys are lower case
SERVED_BY_KEY = "x-served-by"
_REQUESTS: Mapping[str, tuple[type[Message], str]] = {
    "ModelInfer": (pb.ModelInferRequest, "model_name"),
    "ModelReady": (pb.ModelReadyRequest, "name"),
    "ModelMetadata": (pb.ModelMetadataRequest, "name"),
}


class GrpcMembers:
    """Sends a gRPC call a service cannot take here to its first member that takes it."""

    def __init__(self, delegator: Delegator, channels: GrpcChannels) -> None:
        self._delegator = delegator
        self._channels = channels

    async def call(
        self, spec: ServiceSpec, path: str, request: bytes, timeout: float
    ) -> tuple[bytes, Member]:
        """The first member's answer, and which member it was; `Unavailable` when none."""
        client = self._delegator.client

        async def one(member: Member) -> tuple[bytes, Member]:
            assert member.grpc_target is not None
            sent = (
                _renamed(path, request, member.service) if member.service != spec.name else request
            )
            for fresh in (False, True):
                token = await client.token(member)
                metadata = [(k.lower(), v) for k, v in member.headers]
                metadata.append((HOP_KEY, client.origin))
                if token:
                    metadata.append(("authorization", f"Bearer {token}"))
                try:
                    answer = await self._channels.call(
                        member.grpc_target, path, sent, timeout, metadata
                    )
                except (Unauthorized, Forbidden):
                    if not token or fresh:
                        raise MemberFailed("it refused the credentials") from None
                    client.forget_token(member)  # rotated there: fetched again
                    continue
                except GatewayError as exc:
                    if exc.status_code == 429 or exc.status_code >= 500:
                        raise MemberFailed(exc.message) from None
                    raise
                return answer, member
            raise MemberFailed("it refused the credentials")  # not reached: the loop returns

        return await self._delegator.first(spec, one, lambda m: m.grpc_target is not None)


def _renamed(path: str, request: bytes, name: str) -> bytes:
    """The request with the model's name set to ``name`` (the member's name for it)."""
    kind, field = _REQUESTS[path.rsplit("/", 1)[-1]]
    message = kind.FromString(request)
    setattr(message, field, name)
    return message.SerializeToString()
