"""``gateway serve`` (the gateway process) and ``gateway models prepare`` (the demo models)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.auth import check_exposure
from gateway.config import Settings
from gateway.hardening import harden
from gateway.services import ServiceSpec, StorageSpec, load_file

if TYPE_CHECKING:
    from starlette.applications import Starlette

REPO_ROOT = Path(__file__).resolve().parents[1]
STARTUP_FAILURE = 3  # the exit status of a server that could not start (uvicorn's)
LOG_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s"


def add_serve_command(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("-f", "--file", action="append", type=Path, default=[], help="FDL file")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--grpc-port", type=int, help="Open Inference Protocol gRPC; 0: off")
    serve.set_defaults(func=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    """Run the gateway with `Settings` from the environment, overridden by the flags."""
    # Set before grpc loads: the local backend forks runtime processes (and execs them at once)
    # while gRPC runs; grpc's fork handlers have nothing to do there but log that they skipped.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.grpc_port is not None:
        overrides["grpc_port"] = args.grpc_port
    if args.file:
        overrides["files"] = tuple(args.file)
    settings = Settings().model_copy(update=overrides)
    check_exposure(settings)
    logging.basicConfig(
        level=settings.log_level.upper(), format=LOG_FORMAT, datefmt="%H:%M:%S", force=True
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per readiness poll
    harden(settings)  # secrets out of os.environ, non-dumpable, data folder 0700
    specs: list[ServiceSpec] = []
    storage: dict[str, StorageSpec] = {}
    for path in settings.files:
        document = load_file(path, cluster_id=settings.cluster_id)
        for line in document.warnings:
            logging.getLogger("gateway").warning("%s", line)
        specs.extend(document.services)
        storage.update(document.storage)
    run_app(lambda: _build(settings, specs, storage), settings)
    return 0


async def _build(
    settings: Settings, specs: Sequence[ServiceSpec], storage: Mapping[str, StorageSpec]
) -> Starlette:
    """The gateway app, built after the local runtimes were started: each runtime imports and
    loads its model while the gateway imports and builds the rest of itself."""
    from gateway.backends import build_backends
    from gateway.backends.local import LocalBackend

    local = LocalBackend(settings) if "local" in settings.backends else None
    if local is not None:
        await local.start_early(specs)
    from gateway.app import create_app

    backends = build_backends(settings, local=local)
    return create_app(settings, specs, backends=backends, storage=storage, serve_grpc=True)


def run_app(app: Starlette | Callable[[], Awaitable[Starlette]], settings: Settings) -> None:
    """Serve a gateway app as `gateway serve` does (uvloop, httptools, graceful SIGTERM).

    ``app`` may be a coroutine function that builds it on the event loop that serves it (so it
    may start processes of its own first); exits with `STARTUP_FAILURE` if it cannot serve."""
    import uvloop

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the handler that
    # was there before it: with the default one the process would end "killed by SIGTERM" (143)
    # although it answered every request. A completed graceful shutdown exits 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)

    async def serve() -> bool:
        from starlette.applications import Starlette

        built = app if isinstance(app, Starlette) else await app()
        import uvicorn  # here: gateway serve starts its runtimes before this import

        from gateway.http_protocol import JsonErrorProtocol

        config = uvicorn.Config(
            built,
            host=settings.host,
            port=settings.port,
            http=JsonErrorProtocol,  # httptools, with our JSON body on requests it cannot parse
            access_log=False,
            log_level=settings.log_level,
            log_config=None,
            timeout_graceful_shutdown=10,
        )
        server = uvicorn.Server(config)
        await server.serve()
        return server.started

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            started = runner.run(serve())
    except KeyboardInterrupt:  # Ctrl-C: uvicorn already shut down gracefully
        return
    if not started:
        sys.exit(STARTUP_FAILURE)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def prepare_models(args: argparse.Namespace) -> int:
    """Run every ``model_images/*/prepare.py`` with the export environment's python."""
    exporter = os.environ.get("GATEWAY_EXPORT_PYTHON") or str(
        REPO_ROOT / ".venv-export" / "bin" / "python"
    )
    if not Path(exporter).exists():
        print(f"error: no export environment at {exporter}; run `make models`", file=sys.stderr)
        return 2
    scripts = sorted(REPO_ROOT.glob("model_images/*/prepare.py"))
    for index, script in enumerate(scripts, 1):
        started = time.monotonic()
        print(f"[{index}/{len(scripts)}] {script.parent.name} ...", flush=True)
        command = [exporter, str(script), *(["--force"] if args.force else [])]
        if subprocess.run(command, check=False).returncode != 0:
            print(f"error: {script} failed", file=sys.stderr)
            return 1
        elapsed = time.monotonic() - started
        print(f"[{index}/{len(scripts)}] {script.parent.name} done in {elapsed:.1f} s")
    return 0
