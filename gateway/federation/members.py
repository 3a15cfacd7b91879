"""A service's members: the other gateways, OSCAR clusters or plain endpoints that serve it.

A member comes from OSCAR's ``replicas`` (≤ 3.7) or v4 ``federation.members``: ``type: oscar``
names a cluster of ``clusters:`` (its endpoint, and the Basic credentials that fetch the service's
token), or gives its ``url``; ``type: endpoint`` is a plain HTTP endpoint, sent the request as it
is (with the member's own ``headers``). A gateway of this project is an ``oscar`` member: it
speaks OSCAR's API. A member naming this gateway's own cluster is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gateway.errors import InvalidDefinition
from gateway.services import ServiceSpec
from gateway.spec_parts import MemberSpec

Policy = Literal["static", "random", "load-based"]
_POLICIES: dict[str, Policy] = {
    "static": "static",
    "random": "random",
    "load-based": "load-based",
    "load_based": "load-based",
    "topsis": "load-based",  # OSCAR's multi-criteria choice: here by load
}


@dataclass(frozen=True, slots=True)
class Member:
    """One place that may serve a service: where, as what, and how to authenticate there."""

    name: str  # the cluster id, or the endpoint's URL: what ``X-Served-By`` says
    kind: Literal["oscar", "endpoint"]
    base_url: str  # no trailing slash
    service: str  # the service's name there
    priority: int = 0
    ssl_verify: bool = True
    headers: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    grpc_target: str | None = None  # its OIP gRPC port (``host:port``); None: HTTP only


def has_members(spec: ServiceSpec) -> bool:
    """Whether the definition lists any member (cheap: the hot path asks it per request)."""
    return bool(spec.replicas) or bool(spec.federation is not None and spec.federation.members)


def policy_of(spec: ServiceSpec) -> Policy:
    """The delegation policy: ``federation.delegation``, else static (by priority)."""
    if spec.federation is None:
        return "static"
    policy = _POLICIES.get(spec.federation.delegation.lower())
    if policy is None:
        raise InvalidDefinition(
            f"service {spec.name!r}: unknown delegation {spec.federation.delegation!r} "
            "(static, random or load-based)"
        )
    return policy


def members_of(spec: ServiceSpec, own_cluster: str | None = None) -> tuple[Member, ...]:
    """The service's members, lowest ``priority`` first (as declared among equals)."""
    declared = [*spec.replicas, *(spec.federation.members if spec.federation else ())]
    members = [
        member
        for member in (_member(spec, declared_member) for declared_member in declared)
        if own_cluster is None or member.name != own_cluster
    ]
    return tuple(sorted(members, key=lambda member: member.priority))


def _member(spec: ServiceSpec, declared: MemberSpec) -> Member:
    service = declared.service_name or spec.name
    headers = tuple(sorted(declared.headers.items()))
    if declared.type == "endpoint":
        if not declared.url:
            raise InvalidDefinition(f"service {spec.name!r}: an endpoint member needs 'url'")
        plain = declared.url.rstrip("/")
        return Member(
            plain, "endpoint", plain, service, declared.priority, declared.ssl_verify, headers,
            grpc_target=grpc_target(declared.grpc_url),
        )  # fmt: skip
    cluster = spec.clusters.get(declared.cluster_id or "") if declared.cluster_id else None
    url = declared.url or (cluster.endpoint if cluster is not None else None)
    if not url:
        raise InvalidDefinition(
            f"service {spec.name!r}: member {declared.cluster_id or '(no cluster_id)'!r} has no "
            "endpoint (give 'url', or declare the cluster under 'clusters')"
        )
    password = cluster.auth_password if cluster is not None else None
    user = cluster.auth_user if cluster is not None else None
    extras = {**(declared.model_extra or {}), **((cluster.model_extra or {}) if cluster else {})}
    if user is None and extras.get("refresh_token"):
        raise InvalidDefinition(
            f"service {spec.name!r}: member {declared.cluster_id or url!r} authenticates with "
            "refresh_token (an OIDC exchange), which is not supported here: declare the "
            "cluster's auth_user and auth_password"
        )
    return Member(
        name=declared.cluster_id or url.rstrip("/"),
        kind="oscar",
        base_url=url.rstrip("/"),
        service=service,
        priority=declared.priority,
        ssl_verify=declared.ssl_verify and (cluster.ssl_verify if cluster is not None else True),
        headers=headers,
        user=user,
        password=password.get_secret_value() if password is not None else None,
        grpc_target=grpc_target(
            declared.grpc_url or (cluster.grpc_url if cluster is not None else None)
        ),
    )


def grpc_target(url: str | None) -> str | None:
    """``host:port`` of a ``grpc_url`` (``grpc://host:port`` or ``host:port``)."""
    if not url:
        return None
    return url.split("://", 1)[-1].rstrip("/") or None
