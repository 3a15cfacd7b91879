"""A service's members, resolved from OSCAR's ``replicas``, ``federation`` and ``clusters``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import Settings
from gateway.errors import InvalidDefinition, Unavailable
from gateway.federation import Delegator, has_members, members_of, policy_of
from gateway.federation.breaker import Breaker
from gateway.services import ServiceSpec, load_file

CLUSTERS = {
    "cloud": {"endpoint": "https://cloud.example/", "auth_user": "oscar", "auth_password": "pw"},
    "edge": {"endpoint": "http://edge.local:8080"},
}


def _spec(**fields: Any) -> ServiceSpec:
    return ServiceSpec.model_validate(
        {"name": "svc", "runtime": "script", "script": "true", "clusters": CLUSTERS, **fields}
    )


def test_a_service_without_members_has_none() -> None:
    spec = _spec()
    assert not has_members(spec) and members_of(spec) == ()


def test_replicas_resolve_to_their_clusters_by_priority() -> None:
    spec = _spec(
        replicas=[
            {"type": "oscar", "cluster_id": "cloud", "service_name": "big", "priority": 2},
            {"type": "endpoint", "url": "http://plain.example/api/", "priority": 1},
            {"type": "oscar", "cluster_id": "edge", "priority": 0},
        ]
    )
    edge, plain, cloud = members_of(spec)
    assert (edge.name, edge.base_url, edge.service, edge.user) == (
        "edge", "http://edge.local:8080", "svc", None,
    )  # fmt: skip
    assert (plain.kind, plain.base_url, plain.name) == (
        "endpoint", "http://plain.example/api", "http://plain.example/api",
    )  # fmt: skip
    assert (cloud.base_url, cloud.service, cloud.user, cloud.password) == (
        "https://cloud.example", "big", "oscar", "pw",
    )  # fmt: skip
    assert "pw" not in repr(cloud)


def test_this_gateways_own_cluster_is_left_out() -> None:
    spec = _spec(federation={"members": [{"cluster_id": "cloud"}, {"cluster_id": "edge"}]})
    assert [m.name for m in members_of(spec, own_cluster="edge")] == ["cloud"]


@pytest.mark.parametrize(
    ("delegation", "policy"),
    [("static", "static"), ("random", "random"), ("load-based", "load-based"),
     ("topsis", "load-based")],
)  # fmt: skip
def test_federation_policies(delegation: str, policy: str) -> None:
    spec = _spec(federation={"delegation": delegation, "members": [{"cluster_id": "cloud"}]})
    assert has_members(spec) and policy_of(spec) == policy


def test_an_unknown_policy_is_invalid() -> None:
    spec = _spec(federation={"delegation": "fastest", "members": [{"cluster_id": "cloud"}]})
    with pytest.raises(InvalidDefinition, match="fastest"):
        policy_of(spec)


def test_a_refresh_token_member_without_basic_credentials_is_invalid() -> None:
    spec = _spec(replicas=[{"type": "oscar", "cluster_id": "edge", "refresh_token": "rt-s3cr3t"}])
    with pytest.raises(InvalidDefinition, match="refresh_token") as raised:
        members_of(spec)
    assert "rt-s3cr3t" not in raised.value.message


def test_a_grpc_url_gives_the_member_its_grpc_target() -> None:
    clusters = {**CLUSTERS, "edge": {**CLUSTERS["edge"], "grpc_url": "grpc://edge.local:8081"}}
    spec = _spec(clusters=clusters, replicas=[{"cluster_id": "edge"}, {"cluster_id": "cloud"}])
    edge, cloud = members_of(spec)
    assert (edge.grpc_target, cloud.grpc_target) == ("edge.local:8081", None)


def test_a_member_without_an_endpoint_is_invalid() -> None:
    spec = _spec(replicas=[{"type": "oscar", "cluster_id": "nowhere"}])
    with pytest.raises(InvalidDefinition, match="nowhere"):
        members_of(spec)
    with pytest.raises(InvalidDefinition, match="url"):
        members_of(_spec(replicas=[{"type": "endpoint"}]))


def test_oscar_fdl_replicas_and_clusters(tmp_path: Path) -> None:
    fdl = tmp_path / "fdl.yaml"
    fdl.write_text(
        """
functions:
  oscar:
    - edge:
        name: digits
        image: ghcr.io/x/digits
        script: script.sh
        replicas:
          - {type: oscar, cluster_id: cloud, service_name: digits-cloud}
        output:
          - {storage_provider: oscar.cloud, path: imagenet}
clusters:
  edge: {endpoint: "http://edge:8080", auth_user: oscar, auth_password: a}
  cloud: {endpoint: "http://cloud:8080", auth_user: oscar, auth_password: b}
"""
    )
    (tmp_path / "script.sh").write_text("true\n")
    (spec,) = load_file(fdl, cluster_id="edge").services
    (member,) = members_of(spec, own_cluster="edge")
    assert (member.base_url, member.service, member.password) == (
        "http://cloud:8080", "digits-cloud", "b",
    )  # fmt: skip
    assert spec.output[0].storage == "oscar.cloud"


def test_the_breaker_holds_a_failed_member_off_for_its_cooldown() -> None:
    now = [100.0]
    breaker = Breaker(30.0, clock=lambda: now[0])
    assert breaker.allows("cloud/svc")
    breaker.failed("cloud/svc")
    assert not breaker.allows("cloud/svc") and breaker.allows("cloud/other")
    now[0] += 29.9
    assert not breaker.allows("cloud/svc")
    now[0] += 0.1
    assert breaker.allows("cloud/svc")


async def test_misdeclared_members_answer_503_not_422() -> None:
    delegator = Delegator(Settings(cluster_id="edge"))
    spec = _spec(replicas=[{"type": "oscar", "cluster_id": "nowhere"}])
    with pytest.raises(Unavailable, match=r"misdeclared.*nowhere"):
        await delegator.order(spec)
    assert delegator.members(spec) == ()
