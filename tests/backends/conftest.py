"""Fixtures for the Kubernetes backends: the kmock API emulator on loopback, a namespace per test,
settings and API clients pointing at it, and `Cluster`, which plays Knative and the kubelet."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import kmock
import pytest
import pytest_asyncio
from kubernetes import client

from gateway.config import Settings
from gateway.kube.client import api_client_for
from tests.backends.truthful import TruthfulEmulator

_namespaces = itertools.count()


@pytest_asyncio.fixture(scope="session")
async def kube_emulator() -> AsyncIterator[tuple[TruthfulEmulator, str]]:
    """A Kubernetes API emulator (kmock, made truthful) on a free loopback port, and its URL, for
    the whole session."""
    async with TruthfulEmulator() as emulator, kmock.Server(emulator) as server:
        with warnings.catch_warnings():  # kmock 0.8 reads its bundle with a deprecated API
            warnings.simplefilter("ignore", DeprecationWarning)
            emulator.resources.load_bundled()
        emulator.resources["serving.knative.dev/v1/services"] = kmock.ResourceInfo(
            namespaced=True, kind="Service", singular="service", subresources={"status"}
        )
        emulator.resources["authorization.k8s.io/v1/selfsubjectaccessreviews"] = kmock.ResourceInfo(
            namespaced=False, kind="SelfSubjectAccessReview"
        )
        yield emulator, str(server.url).rstrip("/")


@pytest.fixture
def emulator(kube_emulator: tuple[TruthfulEmulator, str]) -> Iterator[TruthfulEmulator]:
    """The session's emulator, its test-set rules (denied verbs, compaction) reset after use."""
    yield kube_emulator[0]
    kube_emulator[0].denied.clear()
    kube_emulator[0].compacted = 0


@pytest.fixture
def kube_url(kube_emulator: tuple[TruthfulEmulator, str]) -> str:
    return kube_emulator[1]


@pytest.fixture
def namespace(kube_emulator: tuple[TruthfulEmulator, str]) -> str:
    """A namespace of its own for each test, existing in the emulator (as it must)."""
    name = f"test-{next(_namespaces)}"
    kube_emulator[0].add_namespace(name)
    return name


def make_api_client(url: str) -> Any:
    configuration = client.Configuration()
    configuration.host = url
    return api_client_for(configuration)


@pytest.fixture
def api_client(kube_url: str) -> Iterator[Any]:
    """An API client for the test itself (the backends get their own)."""
    api = make_api_client(kube_url)
    yield api
    api.close()


def kube_settings(namespace: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "backends": ("knative", "deployment"),
        "kube_namespace": namespace,
        "kube_request_timeout": 10.0,
        "reconcile_interval": 3600.0,
        "cold_start_budget": 20.0,
        **overrides,
    }
    return Settings(**values)


async def wait_for(fn: Any, *args: Any, timeout: float = 60.0, **kwargs: Any) -> Any:
    """Call the blocking client method `fn` in a thread until it stops raising 404."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except client.ApiException as exc:
            if exc.status != 404 or asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.05)


async def gone(fn: Any, *args: Any) -> bool:
    with contextlib.suppress(client.ApiException):
        await asyncio.to_thread(fn, *args)
        return False
    return True
