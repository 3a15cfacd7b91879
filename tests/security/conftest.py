"""Fixtures of the security suite: a real `gateway serve` process with secrets to keep.

The gateway holds an admin token, an events token, storage keys (an S3 storage on a real
SeaweedFS, and ``AWS_*`` keys in its own environment) and a private service's secret. Its script
services are the attackers: one dumps everything it can see, others try to take more than their
limits allow.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.seaweed import SECRET_KEY, Seaweed, seaweed
from tests.support import DIGITS_YAML, ServerProcess, gateway_process

__all__ = ["seaweed"]

DUMP = r"""
exec > "$TMP_OUTPUT_DIR/dump.txt" 2>&1
echo "== env"
env
pid=$$
while :; do
  parent=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
  if [ -z "$parent" ] || [ "$parent" -le 0 ]; then break; fi
  if environ=$(tr '\0' '\n' < "/proc/$parent/environ" 2>/dev/null); then
    echo "== READ $parent"
    echo "$environ"
  else
    echo "== DENIED $parent"
  fi
  pid=$parent
done
for file in {files}; do
  if cat "$file" 2>/dev/null; then echo "== READ $file"; else echo "== DENIED $file"; fi
done
echo "== end"
"""

PROBE = r"""
python3 - "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/probe.txt" 2>&1 <<'END'
import socket
import sys

where = open(sys.argv[1]).read().strip().removeprefix("unix:")
for method, path in (("GET", "/v2/health/ready"), ("POST", "/predict"), ("GET", "/v2"),
                     ("POST", "/v2/models/private-digits/infer"), ("GET", "/metrics")):
    request = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{{}}"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(where)
            sock.sendall(request.encode())
            print(method, path, sock.recv(64).split()[1].decode())
    except OSError as error:
        print(method, path, type(error).__name__)
END
"""

BOMB = "while :; do sleep 60 & done\n"
HOG = "python3 -c 'x = bytearray(512 * 1024 * 1024)'\n"
HUGE_FILE = 'head -c 10485760 /dev/zero > "$TMP_OUTPUT_DIR/huge"\n'


@dataclass(frozen=True)
class SecretGateway:
    """The gateway process and every secret it holds."""

    server: ServerProcess
    admin_token: str
    events_token: str
    env_secret: str
    other_secret: str
    storage_secret: str

    @property
    def secrets(self) -> dict[str, str]:
        return {
            "admin token": self.admin_token,
            "events token": self.events_token,
            "AWS_SECRET_ACCESS_KEY of the gateway": self.env_secret,
            "another service's secret": self.other_secret,
            "the storage's secret key": self.storage_secret,
        }


def _script(name: str, script: str, **fields: object) -> dict[str, object]:
    return {"name": name, "runtime": "script", "visibility": "public", "script": script, **fields}


def _definition(folder: Path, store: Seaweed, other_secret: str) -> Path:
    (digits,) = yaml.safe_load(DIGITS_YAML.read_text())["services"]
    models = DIGITS_YAML.parent / "models"
    digits.update(
        model=str(models / "digits-mlp.onnx"),
        labels=str(models / "digits-labels.txt"),
        visibility="public",
    )
    fdl = folder / "services.yaml"
    files = f"{folder / 'data' / 'services.db'} {fdl}"
    bucket = store.new_bucket()
    document = {
        "services": [
            digits,
            _script(
                "dump",
                DUMP.replace("{files}", files),
                environment={"OWN_SETTING": "visible"},
                input=[{"path": f"{bucket}/in"}],
                output=[{"path": f"{bucket}/out"}],
            ),
            _script("other", "true\n", visibility="private", environment={"TOKEN": other_secret}),
            {**digits, "name": "private-digits", "visibility": "private"},
            _script("probe", PROBE),
            _script("bomb", BOMB, timeout=3, limits={"processes": 16}),
            _script("hog", HOG, limits={"memory": "128Mi"}),
            _script("huge-file", HUGE_FILE, limits={"file_size": "1Mi"}),
        ],
        "storage": {
            "default": {
                "type": "s3",
                "endpoint": store.endpoint,
                "access_key": store.access_key,
                "secret_key": store.secret_key,
            }
        },
    }
    fdl.write_text(yaml.safe_dump(document))
    return fdl


@pytest.fixture(scope="package")
def gateway(tmp_path_factory: pytest.TempPathFactory, seaweed: Seaweed) -> Iterator[SecretGateway]:
    folder = tmp_path_factory.mktemp("secure")
    other_secret = "other-" + secrets.token_hex(16)
    fdl = _definition(folder, seaweed, other_secret)
    admin, events = "admin-" + secrets.token_hex(16), "events-" + secrets.token_hex(16)
    env_secret = "aws-" + secrets.token_hex(16)
    env = {
        "GATEWAY_ADMIN_TOKEN": admin,
        "GATEWAY_EVENTS_TOKEN": events,
        "GATEWAY_RUNTIME_THREADS": "1",
        "AWS_ACCESS_KEY_ID": "gateway-env-key",
        "AWS_SECRET_ACCESS_KEY": env_secret,
    }
    with gateway_process(folder, fdl, env=env, data_dir=folder / "data") as server:
        yield SecretGateway(server, admin, events, env_secret, other_secret, SECRET_KEY)
