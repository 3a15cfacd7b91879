"""GatewayMetrics: the gateway's Prometheus metrics, on a registry passed in (none at import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


class GatewayMetrics:
    """Request counts, latencies, in-flight requests and cold starts, labelled by service."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "gateway_requests_total",
            "Requests answered, by service, backend and HTTP status code.",
            ["service", "backend", "code"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "gateway_request_duration_seconds",
            "Time from request received to response sent by the gateway.",
            ["service", "backend"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_duration = Histogram(
            "gateway_upstream_duration_seconds",
            "Time spent waiting for the upstream runtime.",
            ["service", "backend"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.inflight = Gauge(
            "gateway_inflight_requests",
            "Requests being handled now.",
            ["service"],
            registry=registry,
        )
        self.cold_starts = Counter(
            "gateway_cold_starts_total",
            "Requests that found their upstream cold and waited for it.",
            ["service", "backend"],
            registry=registry,
        )
        self.jobs = Counter(
            "gateway_jobs_total",
            "Job items finished, by service and final status.",
            ["service", "status"],
            registry=registry,
        )
        self.delegations = Counter(
            "gateway_delegations_total",
            "Requests and job items sent to a service's members, by member and outcome "
            "(taken, failed).",
            ["service", "member", "outcome"],
            registry=registry,
        )
        self.cold_start_duration = Histogram(
            "gateway_cold_start_duration_seconds",
            "Time from a cold upstream's first refusal to its first answer.",
            ["service", "backend"],
            buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
            registry=registry,
        )

    def for_service(self, service: str, backend: str) -> ServiceMetrics:
        """The metrics of one service, labelled once (label lookups cost on every request)."""
        return ServiceMetrics(
            requests=self.requests,
            service=service,
            backend=backend,
            inflight=self.inflight.labels(service),
            request_duration=self.request_duration.labels(service, backend),
            upstream_duration=self.upstream_duration.labels(service, backend),
            cold_starts=self.cold_starts.labels(service, backend),
            cold_start_duration=self.cold_start_duration.labels(service, backend),
        )


@dataclass
class ServiceMetrics:
    """One service's labelled metric children."""

    requests: Counter
    service: str
    backend: str
    inflight: Any
    request_duration: Any
    upstream_duration: Any
    cold_starts: Any
    cold_start_duration: Any
    _by_code: dict[int, Any] = field(default_factory=dict)

    def count(self, code: int) -> None:
        """One more answer with HTTP status `code`."""
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self.requests.labels(
                self.service, self.backend, str(code)
            )
        child.inc()
