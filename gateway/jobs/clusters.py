"""The clusters the service definitions name (``clusters:``), as members to talk to.

A pipeline's outbox posts to a cluster's service (`gateway.jobs.forward`), and a job delegated
here reads its input from its origin cluster's store (`gateway.jobs.origin`): both find the
cluster's endpoint and Basic credentials here, in the ``clusters:`` of any service here.
"""

from __future__ import annotations

from gateway.federation import Member
from gateway.registry import Registry
from gateway.spec_parts import ClusterSpec

URL_PREFIXES = ("http://", "https://")


def cluster_member(registry: Registry, cluster: str, service: str) -> Member | None:
    """The cluster ``cluster`` (an id of ``clusters:``, or a member's URL) serving ``service``;
    None for an id no definition declares with an endpoint. A URL no ``clusters:`` entry has
    as its endpoint is a plain endpoint, without credentials."""
    url = cluster.rstrip("/") if cluster.startswith(URL_PREFIXES) else None
    for entry in registry:
        clusters = entry.spec.clusters
        if url is None:
            found = clusters.get(cluster)
        else:
            found = next((c for c in clusters.values() if _endpoint(c) == url), None)
        if found is not None and found.endpoint:
            password = found.auth_password
            return Member(
                name=cluster,
                kind="oscar",
                base_url=_endpoint(found),
                service=service,
                ssl_verify=found.ssl_verify,
                user=found.auth_user,
                password=password.get_secret_value() if password is not None else None,
            )
    if url is not None:
        return Member(name=url, kind="endpoint", base_url=url, service=service)
    return None


def known_cluster(registry: Registry, cluster: str) -> bool:
    """Whether some definition here declares the cluster ``cluster`` with an endpoint."""
    return any(
        (found := entry.spec.clusters.get(cluster)) is not None and bool(found.endpoint)
        for entry in registry
    )


def _endpoint(cluster: ClusterSpec) -> str:
    return (cluster.endpoint or "").rstrip("/")
