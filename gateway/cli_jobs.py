"""``gateway job submit`` (with a progress bar), ``gateway job status`` and ``gateway job results``
(downloads a job's output files)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

# rich and the client (httpx) are imported by the commands that use them, not with the parser:
# `gateway serve` starts its runtimes before it loads either.

_LISTED = 10  # output keys printed after `submit --wait`; the rest are counted


def add_job_commands(sub: Any) -> None:
    job = sub.add_parser("job", help="async jobs")
    job_sub = job.add_subparsers(dest="job_command", required=True)
    submit = job_sub.add_parser("submit", help="upload files as one job")
    submit.add_argument("service")
    submit.add_argument("paths", nargs="+", type=Path)
    submit.add_argument("--wait", action="store_true", help="follow it to the end")
    submit.add_argument("--timeout", type=float, default=3600.0)
    submit.set_defaults(func=_submit)
    status = job_sub.add_parser("status", help="a job's state and items")
    status.add_argument("job_id")
    status.set_defaults(func=_status)
    results = job_sub.add_parser("results", help="download a job's output files")
    results.add_argument("job_id")
    results.add_argument(
        "-o", "--output", type=Path, help="folder to write them to (default: ./<job id>/)"
    )
    results.set_defaults(func=_results)


def _files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise OSError(f"no such file or folder: {path}")
    return files


def _done(job: dict[str, Any]) -> int:
    return sum(item.get("status") in ("succeeded", "failed") for item in job.get("items", []))


def _submit(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from gateway.client import Client

    files = _files(args.paths)
    with Client(args.url, token=args.token) as gw:
        job = gw.submit_job(args.service, *files)
        job_id = job["job_id"]
        print(f"job {job_id}: {job['status']} ({len(files)} file(s))")
        if not args.wait:
            return 0
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeElapsedColumn(), transient=False) as progress:
            task = progress.add_task(f"job {job_id}", total=len(files))
            job = gw.wait_job(
                job_id,
                timeout=args.timeout,
                progress=lambda j: progress.update(task, completed=_done(j)),
            )
    failed = [item for item in job.get("items", []) if item.get("status") == "failed"]
    print(f"job {job_id}: {job['status']}, {len(failed)} item(s) failed")
    for item in failed:
        print(f"  {item.get('key', item.get('name'))}: {item.get('error')}")
    _where(args, job)
    return 0 if job["status"] == "succeeded" else 1


def _where(args: argparse.Namespace, job: dict[str, Any]) -> None:
    """Where a finished job's results are, and the command that fetches them."""
    files = [f for item in job.get("items", []) for f in item.get("files", [])]
    if not files:
        print("no output files")
        return
    print(f"results: {len(files)} object(s)")
    for file in files[:_LISTED]:
        print(f"  {file['storage']}: {file['key']}")
    if len(files) > _LISTED:
        print(f"  ... and {len(files) - _LISTED} more")
    print(f"fetch them: gateway --url {args.url} job results {job['job_id']} [-o DIR]")


def _status(args: argparse.Namespace) -> int:
    from gateway.client import Client

    with Client(args.url, token=args.token) as gw:
        print(json.dumps(gw.job(args.job_id), indent=2))
    return 0


def _results(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from gateway.client import Client, output_files, target_path

    folder: Path = args.output or Path(args.job_id)
    with Client(args.url, token=args.token) as gw:
        job = gw.job(args.job_id, results=False)
        files = output_files(job)
        if not files:
            print(f"job {args.job_id} ({job['status']}) has no output files")
            return 0 if job["status"] == "succeeded" else 1
        total = sum(f.get("size") or 0 for f in files) or None
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
        written = []
        with Progress(*columns, TimeElapsedColumn(), transient=False) as progress:
            task = progress.add_task(f"job {args.job_id}", total=total)
            for file in files:
                try:
                    target = target_path(folder, file["name"])
                except ValueError as exc:  # a name no gateway of ours sends
                    raise OSError(str(exc)) from None
                gw.download(file["url"], target, progress=lambda n: progress.advance(task, n))
                written.append((file, target))
    for file, target in written:
        print(f"{file['storage']}: {file['key']} -> {target}")
    print(f"{len(written)} file(s) in {folder}")
    return 0
