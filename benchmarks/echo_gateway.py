"""``python -m benchmarks.echo_gateway``: the gateway in front of one fixed upstream (the echo).

The local backend only starts runtimes from service definitions, so this launcher builds the
gateway with ``create_app(settings, [spec], backends={"local": FixedBackend(url)})`` and serves
it with the same uvicorn options as ``gateway serve`` (uvloop, httptools, no access log). The
service ``echo`` is public, so no token is needed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.backends.base import Endpoint, ServiceState
from gateway.services import ServiceSpec

SERVICE = "echo"


class FixedBackend:
    """A Backend (structurally) whose every service is already running at ``url``."""

    name = "local"

    def __init__(self, url: str) -> None:
        self.url = url

    async def deploy(self, spec: ServiceSpec) -> None:
        return None

    async def remove(self, name: str) -> None:
        return None

    def endpoint(self, name: str) -> Endpoint:
        return Endpoint(self.url)

    def status(self, name: str) -> ServiceState:
        return ServiceState("ready", replicas=1, url=self.url)

    async def logs(self, name: str, lines: int) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the gateway on ``--port`` with the one service ``echo`` routed to ``--upstream``."""
    from gateway.app import create_app
    from gateway.config import Settings
    from gateway.server import run_app

    parser = argparse.ArgumentParser(prog="python -m benchmarks.echo_gateway", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL of the echo upstream")
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = Settings(data_dir=args.data_dir, port=args.port, log_level="warning")
    spec = ServiceSpec(name=SERVICE, model=Path("echo.onnx"), visibility="public")
    app = create_app(settings, [spec], backends={"local": FixedBackend(args.upstream)})
    run_app(app, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
