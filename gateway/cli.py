"""The ``gateway`` command: serve, predict, models prepare.

Errors are one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import mimetypes
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.services import ServiceSpec, load_file

REPO_ROOT = Path(__file__).resolve().parents[1]
LOG_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gateway`` console script."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except GatewayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"error: cannot reach the gateway: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("-f", "--file", action="append", type=Path, default=[], help="FDL file")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)

    predict = sub.add_parser("predict", help="classify images through a gateway")
    predict.add_argument("service")
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--url", default=os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080"))
    predict.add_argument("--top-k", type=int, default=5)
    predict.add_argument("--json", action="store_true", help="print the raw JSON answers")
    predict.set_defaults(func=_predict)

    models = sub.add_parser("models", help="demo models")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    prepare = models_sub.add_parser("prepare", help="build the demo models offline")
    prepare.add_argument("--force", action="store_true")
    prepare.set_defaults(func=_prepare_models)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import create_app

    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    settings = Settings()
    if args.file:
        overrides["files"] = tuple(args.file)
    settings = settings.model_copy(update=overrides)
    logging.basicConfig(
        level=settings.log_level.upper(), format=LOG_FORMAT, datefmt="%H:%M:%S", force=True
    )
    specs: list[ServiceSpec] = []
    for path in settings.files:
        specs.extend(load_file(path).services)
    app = create_app(settings, specs)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    files = []
    for path in args.images:
        if not path.is_file():
            print(f"error: no such file: {path}", file=sys.stderr)
            return 2
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        files.append(("file", (path.name, path.read_bytes(), media)))
    response = httpx.post(
        f"{args.url.rstrip('/')}/predict/{args.service}",
        files=files,
        params={"top_k": args.top_k},
        timeout=60,
    )
    body = response.json()
    if response.status_code != 200:
        error = body.get("error", {})
        print(f"error: {response.status_code} {error.get('message', body)}", file=sys.stderr)
        return 1
    if args.json:
        print(response.text)
        return 0
    results = body.get("results") or [{"filename": args.images[0].name, **body}]
    for result in results:
        print(f"{result['filename']}:")
        if "error" in result:
            print(f"  error: {result['error']['message']}")
        for p in result.get("predictions", []):
            print(f"  {p['score']:7.3f}  {p['label']}  ({p['class_id']})")
    return 0


def _prepare_models(args: argparse.Namespace) -> int:
    exporter = os.environ.get("GATEWAY_EXPORT_PYTHON") or str(
        REPO_ROOT / ".venv-export" / "bin" / "python"
    )
    if not Path(exporter).exists():
        print(
            f"error: export environment not found ({exporter}); run `make models`",
            file=sys.stderr,
        )
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
