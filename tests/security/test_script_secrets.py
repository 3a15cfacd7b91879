"""A public script service, run by a real gateway that holds secrets, can read none of them:
not in its environment, not in any ancestor's ``/proc/<pid>/environ``, not in the gateway's files.
"""

from __future__ import annotations

import base64
import os
import re

import httpx
import pytest

from tests.security.conftest import SecretGateway

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="scripts are boxed only under root")


def _dump(gateway: SecretGateway) -> str:
    response = httpx.post(
        f"{gateway.server.url}/predict/dump",
        content=b"anything",
        headers={"Content-Type": "application/octet-stream"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    (dump,) = [f for f in response.json()["files"] if f["name"] == "dump.txt"]
    text = base64.b64decode(dump["data"]).decode(errors="replace")
    assert text.rstrip().endswith("== end"), text  # the script ran to its end
    return text


def test_a_public_script_finds_no_secret_anywhere_it_looks(gateway: SecretGateway) -> None:
    dump = _dump(gateway)
    for what, secret in gateway.secrets.items():
        assert secret not in dump, f"the script read the {what}"


def test_the_script_environment_is_the_allowlist(gateway: SecretGateway) -> None:
    env_section = _dump(gateway).split("== env\n", 1)[1].split("\n== ", 1)[0]
    names = {line.split("=", 1)[0] for line in env_section.splitlines() if "=" in line}
    assert {"INPUT_FILE_PATH", "TMP_OUTPUT_DIR", "STORAGE_OBJECT_KEY", "OWN_SETTING"} <= names
    assert not [n for n in names if n.startswith(("GATEWAY_", "RUNTIME_", "AWS_", "JOB_"))]
    assert "TOKEN" not in names  # the other service's variable


def test_no_ancestor_environ_and_no_gateway_file_is_readable(gateway: SecretGateway) -> None:
    dump = _dump(gateway)
    denied = re.findall(r"^== DENIED (\S+)$", dump, re.MULTILINE)
    read = re.findall(r"^== READ (\S+)$", dump, re.MULTILINE)
    assert str(gateway.server.proc.pid) in denied  # the gateway, two levels up
    assert len(denied) >= 3  # the runtime, the gateway, the test runner...
    assert not read, f"the script could read {read}"
    assert any(path.endswith("services.db") for path in denied)


def test_the_gateway_data_folder_is_private(gateway: SecretGateway) -> None:
    data = gateway.server.log_path.parent / "data"
    assert data.stat().st_mode & 0o777 == 0o700
