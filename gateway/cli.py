"""The ``gateway`` command: serve, apply, ls, rm, logs, predict, job, models prepare.

Commands that talk to a gateway use `gateway.client.Client` with ``--url``/``GATEWAY_URL`` and
``--token``/``GATEWAY_TOKEN``. Errors are one clear line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway import __version__
from gateway.errors import GatewayError

if TYPE_CHECKING:  # imported where used: `gateway serve` starts its runtimes before httpx loads
    from gateway.client import Client


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gateway`` console script."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _failed(exc, args.url)


def _failed(exc: Exception, url: str) -> int:
    """One clear line on stderr for what a command may meet, and its exit status; else raise."""
    import httpx

    from gateway.client import ApiError

    if isinstance(exc, ApiError):
        print(f"error: {exc.message} ({exc.status_code} {exc.code})", file=sys.stderr)
        return 1
    if isinstance(exc, GatewayError):
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if isinstance(exc, httpx.HTTPError):
        print(f"error: cannot reach the gateway at {url}: {exc}", file=sys.stderr)
        return 3
    if isinstance(exc, (OSError, TimeoutError)):
        print(f"error: {exc}", file=sys.stderr)
        return 2
    raise exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="inference-gateway")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--url", default=os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("GATEWAY_TOKEN"), help="Bearer token")
    sub = parser.add_subparsers(dest="command", required=True)

    from gateway.server import add_serve_command

    add_serve_command(sub)

    apply = sub.add_parser("apply", help="create or update services from an FDL file")
    apply.add_argument("file", type=Path)
    apply.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="wait until every service is ready (else: answer at once, a Kubernetes service "
        "is 'starting' until the cluster makes it ready)",
    )
    apply.add_argument(
        "--rollback",
        action="store_true",
        help="with --wait: undo the apply if a service fails or is not ready in time",
    )
    apply.add_argument(
        "--cluster-id",
        default=os.environ.get("GATEWAY_CLUSTER_ID"),
        help="OSCAR FDL: the cluster entry to take for a service declared for several",
    )
    apply.set_defaults(func=_apply)

    ls = sub.add_parser("ls", help="list services")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_ls)

    rm = sub.add_parser("rm", help="delete a service")
    rm.add_argument("name")
    rm.set_defaults(func=_rm)

    logs = sub.add_parser("logs", help="a service runtime's last log lines")
    logs.add_argument("name")
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.set_defaults(func=_logs)

    predict = sub.add_parser("predict", help="classify images")
    predict.add_argument("service")
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--top-k", type=int, default=5)
    predict.add_argument("--json", action="store_true", help="print the JSON answer")
    predict.set_defaults(func=_predict)

    from gateway.cli_jobs import add_job_commands

    add_job_commands(sub)

    models = sub.add_parser("models", help="demo models")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    prepare = models_sub.add_parser("prepare", help="build the demo models offline")
    prepare.add_argument("--force", action="store_true")
    from gateway.server import prepare_models

    prepare.set_defaults(func=prepare_models)
    return parser


def client(args: argparse.Namespace) -> Client:
    """The API client for the gateway the command line points at."""
    from gateway.client import Client

    return Client(args.url, token=args.token)


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain aligned text table."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _apply(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise OSError(f"no such file: {args.file}")
    if args.rollback and args.wait is None:
        raise OSError("--rollback needs --wait SECONDS")
    with client(args) as gw:
        answer = gw.apply(
            args.file, cluster_id=args.cluster_id, wait=args.wait, rollback=args.rollback
        )
    for line in answer.get("warnings") or []:
        print(f"warning: {line}", file=sys.stderr)
    for service in answer["services"]:
        verb = "created" if service["created"] else "updated"
        detail = f" ({service['detail']})" if service.get("detail") else ""
        print(f"{service['name']}: {verb}, {service['state']}{detail}")
        if "token" in service:
            print(f"  token (shown once): {service['token']}")
    return 0


def _ls(args: argparse.Namespace) -> int:
    with client(args) as gw:
        services = gw.list_services()
    if args.json:
        print(json.dumps(services, indent=2))
        return 0
    rows = [
        [s["name"], s["backend"], s["state"], str(s["replicas"]), s.get("url") or "-"]
        for s in services
    ]
    print(table(rows, ["NAME", "BACKEND", "STATE", "REPLICAS", "URL"]))
    return 0


def _rm(args: argparse.Namespace) -> int:
    with client(args) as gw:
        gw.delete_service(args.name)
    print(f"{args.name}: deleted")
    return 0


def _logs(args: argparse.Namespace) -> int:
    with client(args) as gw:
        for line in gw.logs(args.name, args.lines):
            print(line)
    return 0


def _predict(args: argparse.Namespace) -> int:
    for path in args.images:
        if not path.is_file():
            raise OSError(f"no such file: {path}")
    with client(args) as gw:
        answer = gw.predict(args.service, *args.images, top_k=args.top_k)
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    results: list[dict[str, Any]] = answer.get("results") or [
        {"filename": args.images[0].name, **answer}
    ]
    failed = 0
    for result in results:
        print(f"{result['filename']}:")
        if "error" in result:
            failed += 1
            print(f"  error: {result['error']['message']}")
            continue
        rows = [
            [f"{p['score']:.3f}", str(p["label"]), str(p["class_id"])]
            for p in result["predictions"]
        ]
        print("  " + table(rows, ["SCORE", "LABEL", "CLASS"]).replace("\n", "\n  "))
    return 1 if failed else 0
