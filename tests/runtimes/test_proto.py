"""The committed gRPC module is what `make proto` makes from the .proto (no stale gencode)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

PROTO = "runtimes/oip/grpc_predict_v2.proto"


def test_generated_module_and_stub_match_the_proto(tmp_path: Path) -> None:
    plugin = Path(sys.executable).parent / "protoc-gen-mypy"
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", "-I.", f"--python_out={tmp_path}",
            f"--mypy_out={tmp_path}", f"--plugin=protoc-gen-mypy={plugin}", PROTO,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )  # fmt: skip
    for suffix in ("_pb2.py", "_pb2.pyi"):
        name = PROTO.removesuffix(".proto") + suffix
        assert (tmp_path / name).read_bytes() == (ROOT / name).read_bytes(), (
            f"run `make proto`: {name}"
        )
