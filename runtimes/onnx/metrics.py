"""RuntimeMetrics: the runtime's Prometheus metrics, on a registry the caller injects."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RuntimeMetrics:
    """Batch sizes, queue and inference durations, requests by route and status code."""

    def __init__(self, registry: CollectorRegistry, *, service: str) -> None:
        self.registry = registry
        self.service = service
        self.batch_size = Histogram(
            "runtime_batch_size",
            "Requests per inference batch",
            ["service"],
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.queue_duration = Histogram(
            "runtime_queue_duration_seconds",
            "Time a request waited in the batcher's queue",
            ["service"],
            buckets=_SECONDS,
            registry=registry,
        )
        self.inference_duration = Histogram(
            "runtime_inference_duration_seconds",
            "Duration of one model run (one batch)",
            ["service"],
            buckets=_SECONDS,
            registry=registry,
        )
        self.requests = Counter(
            "runtime_requests_total",
            "HTTP requests answered, by route and status code",
            ["service", "route", "code"],
            registry=registry,
        )

        # this service's children, looked up once: a labels() call per observation costs more
        # than the observation
        self._batch_size = self.batch_size.labels(service)
        self._queue_duration = self.queue_duration.labels(service)
        self._inference_duration = self.inference_duration.labels(service)
        self._requests: dict[tuple[str, int], Counter] = {}

    def observe_batch(self, size: int, queue_seconds: Sequence[float], run_seconds: float) -> None:
        """Record one batch (the ``BatchObserver`` protocol)."""
        self._batch_size.observe(size)
        for seconds in queue_seconds:
            self._queue_duration.observe(seconds)
        self._inference_duration.observe(run_seconds)

    def count_request(self, route: str, code: int) -> None:
        """Count one answered request."""
        child = self._requests.get((route, code))
        if child is None:
            child = self.requests.labels(self.service, route, str(code))
            self._requests[route, code] = child
        child.inc()
