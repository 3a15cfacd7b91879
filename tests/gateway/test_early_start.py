"""``gateway serve`` starts its local runtimes before it builds itself; deploying then adopts the
runtime started early when its definition is unchanged, and replaces it when it changed."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.backends.local import LocalBackend
from gateway.config import Settings
from gateway.services import ServiceSpec, load_file
from tests.support import DIGITS_YAML, digit_png, digits_holdout, gateway_process


def _digits() -> ServiceSpec:
    return load_file(DIGITS_YAML).services[0]


async def test_deploy_adopts_the_runtime_started_early(tmp_path: Path) -> None:
    backend = LocalBackend(Settings(data_dir=tmp_path, log_level="warning"))
    spec = _digits()
    try:
        await backend.start_early([spec])
        early = backend.pid(spec.name)
        assert early is not None
        await backend.deploy(spec)
        assert backend.pid(spec.name) == early
        status = backend.status(spec.name)
        assert (status.state, status.restarts) == ("ready", 0)
    finally:
        await backend.aclose()


async def test_a_changed_definition_replaces_the_early_runtime(tmp_path: Path) -> None:
    backend = LocalBackend(Settings(data_dir=tmp_path, log_level="warning"))
    spec = _digits()
    try:
        await backend.start_early([spec])
        early = backend.pid(spec.name)
        changed = spec.model_copy(update={"environment": {"EXTRA": "1"}})
        await backend.deploy(changed)
        assert backend.pid(spec.name) not in (None, early)
        assert backend.status(spec.name).state == "ready"
    finally:
        await backend.aclose()


async def test_only_local_out_of_process_services_start_early(tmp_path: Path) -> None:
    backend = LocalBackend(Settings(data_dir=tmp_path, log_level="warning"))
    spec = _digits()
    others = [
        spec.model_copy(update={"name": "inside", "in_process": True}),
        spec.model_copy(update={"name": "missing", "model": tmp_path / "none.onnx"}),
    ]
    try:
        await backend.start_early(others)
        assert [backend.pid(s.name) for s in others] == [None, None]
    finally:
        await backend.aclose()


def test_gateway_serve_starts_each_runtime_once(tmp_path: Path) -> None:
    x_test, y_test = digits_holdout()
    png = digit_png(x_test[0], ink_on_paper=False)
    with gateway_process(tmp_path, DIGITS_YAML, env={"GATEWAY_LOG_LEVEL": "info"}) as gateway:
        # ready: every service is (tests.support waits for it)
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            answer = client.post(
                "/predict/digits", content=png, headers={"content-type": "image/png"}
            )
        log = gateway.log()
    assert answer.status_code == 200
    assert answer.json()["predictions"][0]["label"] == str(y_test[0])
    assert log.count("runtime digits: started pid") == 1, log
    assert log.count("runtime digits: ready in") == 1, log
