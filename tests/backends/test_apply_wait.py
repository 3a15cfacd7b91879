"""Applying a Kubernetes service answers at once (202, ``starting``) or waits with ``?wait=``: a
service that fails (502) or is not ready in time (504) is left in place with its state and why,
unless ``rollback=true``; the CLI's ``apply --wait`` sends its create once and waits longer than
the gateway does. Against the kmock emulator, the test playing Knative."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kmock
import pytest
from kubernetes import client

from gateway.app import create_app
from gateway.backends.knative import KnativeBackend
from tests.backends import cluster
from tests.backends.conftest import gone, kube_settings, make_api_client
from tests.backends.test_batch_jobs import kubeconfig
from tests.backends.test_knative import NO_HANG, gateway
from tests.backends.truthful import TruthfulEmulator
from tests.support import ROOT, free_port, gateway_process

KSVC = ("serving.knative.dev", "v1")


def definition(name: str) -> str:
    service = {"name": name, "model": "m.onnx", "image": "r/m:1", "backend": "knative"}
    return json.dumps({"services": [{**service, "visibility": "public"}]})


def ksvc_creates(emulator: TruthfulEmulator, namespace: str) -> int:
    resource = kmock.resource(*KSVC, "services")
    return sum(
        r.action == kmock.action.CREATE and r.resource == resource and r.namespace == namespace
        for r in emulator._requests
    )


async def test_apply_answers_202_starting_then_waits_504_and_leaves_it_in_place(
    kube_url: str, namespace: str, api_client: Any, tmp_path: Path
) -> None:
    settings = kube_settings(namespace, data_dir=tmp_path)  # its own definitions store
    custom = client.CustomObjectsApi(api_client)
    backend = KnativeBackend(settings, make_api_client(kube_url))
    app = create_app(settings, [], backends={"knative": backend})

    async def scenario() -> None:
        async with gateway(app) as http:
            created = await http.post("/system/services", content=definition("a"))
            assert created.status_code == 202, created.text
            (service,) = created.json()["services"]
            assert service["state"] == "starting" and service["created"] is True

            waited = await http.put("/system/services?wait=0.5", content=definition("a"))
            assert waited.status_code == 504, waited.text
            message = waited.json()["error"]["message"]
            assert "'a' not ready after 0.5 s (starting" in message and "left in place" in message
            listed = await http.get("/system/services/a")
            assert listed.status_code == 200 and listed.json()["state"] == "starting"
            await asyncio.to_thread(custom.get_namespaced_custom_object, *KSVC, namespace,
                                    "services", "a")  # fmt: skip

            await cluster.knative_ready(api_client, namespace, "a", "http://127.0.0.1:9")
            ready = await http.put("/system/services?wait=30", content=definition("a"))
            assert ready.status_code == 200 and ready.json()["services"][0]["state"] == "ready"

    await asyncio.wait_for(scenario(), NO_HANG)


async def test_a_failed_readiness_is_502_with_the_reason_and_left_in_place(
    kube_url: str, namespace: str, api_client: Any, tmp_path: Path
) -> None:
    settings = kube_settings(namespace, data_dir=tmp_path)  # its own definitions store
    backend = KnativeBackend(settings, make_api_client(kube_url))
    app = create_app(settings, [], backends={"knative": backend})

    async def scenario() -> None:
        async with gateway(app) as http:
            assert (await http.post("/system/services", content=definition("b"))).status_code == 202
            reason = "Back-off pulling image r/m:1"
            await cluster.knative_ready(
                api_client, namespace, "b", "", ready="False", message=reason
            )
            answer = await http.put("/system/services?wait=30", content=definition("b"))
            assert answer.status_code == 502, answer.text
            assert f"service 'b' failed: {reason}" in answer.json()["error"]["message"]
            state = (await http.get("/system/services/b")).json()
            assert state["state"] == "failed"

    await asyncio.wait_for(scenario(), NO_HANG)


async def test_rollback_removes_a_new_service_that_is_not_ready_in_time(
    kube_url: str, namespace: str, api_client: Any, tmp_path: Path
) -> None:
    settings = kube_settings(namespace, data_dir=tmp_path)  # its own definitions store
    backend = KnativeBackend(settings, make_api_client(kube_url))
    app = create_app(settings, [], backends={"knative": backend})
    custom = client.CustomObjectsApi(api_client)

    async def scenario() -> None:
        async with gateway(app) as http:
            url = "/system/services?wait=0.3&rollback=true"
            answer = await http.post(url, content=definition("c"))
            assert answer.status_code == 504 and "rolled back" in answer.json()["error"]["message"]
            assert (await http.get("/system/services/c")).status_code == 404
            path = (*KSVC, namespace, "services", "c")
            assert await gone(custom.get_namespaced_custom_object, *path)

    await asyncio.wait_for(scenario(), NO_HANG)


@pytest.mark.parametrize("query", ["wait=-1", "wait=601", "wait=soon", "rollback=true"])
async def test_wrong_wait_options_are_400(
    kube_url: str, namespace: str, query: str, tmp_path: Path
) -> None:
    settings = kube_settings(namespace, data_dir=tmp_path)
    backend = KnativeBackend(settings, make_api_client(kube_url))
    app = create_app(settings, [], backends={"knative": backend})
    async with gateway(app) as http:
        answer = await http.put(f"/system/services?{query}", content=definition("d"))
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_request"


async def test_cli_apply_wait_sends_one_create_and_reports_what_is_left(
    kube_url: str, namespace: str, emulator: TruthfulEmulator, tmp_path: Path
) -> None:
    """Through a real gateway process and the real CLI: the create is sent once (it used to be
    retried on the readiness 503: 4 Knative Services), the CLI outwaits the gateway's --wait."""
    port = free_port()
    env = {
        "GATEWAY_BACKENDS": '["knative"]',
        "GATEWAY_KUBE_NAMESPACE": namespace,
        "GATEWAY_KUBECONFIG": str(kubeconfig(tmp_path / "kubeconfig", kube_url)),
    }
    fdl = tmp_path / "services.yaml"
    fdl.write_text(definition("e"))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "gateway", "--url", url, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)

    process = gateway_process(
        tmp_path, env=env, port=port, data_dir=tmp_path / "data", ready_path="/v2/health/live"
    )
    with contextlib.ExitStack() as stack:
        await asyncio.to_thread(stack.enter_context, process)
        try:
            waited = await asyncio.to_thread(cli, "apply", str(fdl), "--wait", "1")
            assert waited.returncode == 1, waited.stderr
            assert "not ready after 1 s" in waited.stderr and "left in place" in waited.stderr
            assert "504" in waited.stderr and "cannot reach" not in waited.stderr
            assert ksvc_creates(emulator, namespace) == 1

            listed = await asyncio.to_thread(cli, "ls")
            assert listed.returncode == 0 and "starting" in listed.stdout

            again = await asyncio.to_thread(cli, "apply", str(fdl))  # no --wait: at once
            assert again.returncode == 0 and "e: updated, starting" in again.stdout
        finally:
            await asyncio.to_thread(stack.close)
