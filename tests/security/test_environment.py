"""The environment allowlist, the gateway's secret scrubbing and the script limits' defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.hardening import scrub_secrets
from gateway.runtime_env import runtime_env
from gateway.services import ServiceSpec
from runtimes.environment import declared_environment, runtime_environment, script_environment
from runtimes.script.limits import BoxLimits, ScriptLimits, quantity_bytes, resolve_limits

PARENT = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "GATEWAY_ADMIN_TOKEN": "admin",
    "AWS_SECRET_ACCESS_KEY": "key",
    "PYTHONPATH": "/src",
}


def test_a_runtime_gets_only_allowlisted_parent_variables() -> None:
    env = runtime_environment(PARENT, {"OWN": "1"}, {"RUNTIME_NAME": "x"})
    assert env == {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONPATH": "/src",
        "OWN": "1",
        "RUNTIME_NAME": "x",
    }


def test_a_script_gets_its_declared_and_oscar_variables_only() -> None:
    oscar = {"INPUT_FILE_PATH": "/w/input/a", "STORAGE_OBJECT_KEY": "b/a"}
    env = script_environment(PARENT, {"OWN": "1"}, oscar, home="/w")
    assert env == {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": "/w",
        "TMPDIR": "/w",
        "OWN": "1",
        **oscar,
    }


def test_a_secret_named_like_the_runtime_token_does_not_hand_it_to_the_script() -> None:
    runtime = {"RUNTIME_TOKEN": "the-runtime-token", "API_KEY": "k"}
    declared = declared_environment(runtime, {}, ("API_KEY", "RUNTIME_TOKEN"))
    assert declared == {"API_KEY": "k"}


def test_a_script_is_given_no_variable_outside_the_oscar_list() -> None:
    with pytest.raises(ValueError, match="RUNTIME_SCRIPT"):
        script_environment({}, {}, {"RUNTIME_SCRIPT": "x"}, home="/w")


def test_secret_settings_leave_the_environment_once_read(tmp_path: Path) -> None:
    environ = {"GATEWAY_ADMIN_TOKEN": "a", "gateway_events_token": "e", "GATEWAY_PORT": "1"}
    settings = Settings(admin_token="a", events_token="e", data_dir=tmp_path)  # type: ignore[arg-type]
    removed = scrub_secrets(settings, environ)
    assert sorted(removed) == ["GATEWAY_ADMIN_TOKEN", "gateway_events_token"]
    assert environ == {"GATEWAY_PORT": "1"}


def test_limits_default_from_the_service_memory_cpu_and_timeout() -> None:
    limits = resolve_limits(None, memory="256Mi", cpu_cores=2, timeout=30)
    assert limits == BoxLimits(cpu_seconds=60, memory_bytes=256 * 1024**2)


def test_limits_from_the_definition_win() -> None:
    given = ScriptLimits(cpu_seconds=5, memory="1G", file_size="10Mi", processes=8)
    limits = resolve_limits(given, memory="256Mi", cpu_cores=1, timeout=30)
    assert (limits.cpu_seconds, limits.memory_bytes) == (5, 10**9)
    assert (limits.file_size_bytes, limits.processes) == (10 * 1024**2, 8)
    assert quantity_bytes("1.5Ki") == 1536


def test_a_script_runtime_is_configured_with_its_environment_and_limits() -> None:
    spec = ServiceSpec(
        name="s", runtime="script", script="true", memory="64Mi", environment={"A": "1"},
        limits=ScriptLimits(processes=4),
    )  # fmt: skip
    env = runtime_env(spec, threads=1, max_body_bytes=1000)
    assert env["RUNTIME_ENVIRONMENT"] == '{"A":"1"}'
    limits = BoxLimits.model_validate_json(env["RUNTIME_LIMITS"])
    assert (limits.processes, limits.memory_bytes) == (4, 64 * 1024**2)
