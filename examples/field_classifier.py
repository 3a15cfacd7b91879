"""Watch a folder of field images, classify each through the gateway, append the answers to a CSV.

In the spirit of the AI-SPRINT use cases (images from cameras in the field land in a folder; each
is classified as it arrives)::

    python examples/field_classifier.py FOLDER --service imagenet --csv results.csv
    python examples/field_classifier.py FOLDER --once    # classify what is there, then stop

Images already in the CSV are skipped, so a restart neither repeats nor loses one.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from watchfiles import Change, watch

from gateway.client import ApiError, Client

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
FIELDS = ["image", "label", "score", "class_id", "error"]


def done_images(csv_path: Path) -> set[str]:
    if not csv_path.is_file():
        return set()
    with csv_path.open(newline="") as handle:
        return {row["image"] for row in csv.DictReader(handle)}


def classify(gw: Client, service: str, images: Iterable[Path], csv_path: Path) -> int:
    """Classify `images` one by one and append a row each; returns how many were written."""
    new_file = not csv_path.is_file()
    written = 0
    with csv_path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        for image in images:
            row: dict[str, object] = {"image": image.name}
            try:
                best = gw.predict(service, image, top_k=1)["predictions"][0]
                row.update(
                    label=best["label"], score=f"{best['score']:.4f}", class_id=best["class_id"]
                )
            except ApiError as exc:
                row["error"] = exc.message
            writer.writerow(row)
            handle.flush()
            written += 1
            print(f"{image.name}: {row.get('label') or row.get('error')}", flush=True)
    return written


def pending(folder: Path, csv_path: Path) -> list[Path]:
    done = done_images(csv_path)
    return sorted(
        p for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and p.name not in done and p.is_file()
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--service", default="imagenet")
    parser.add_argument("--csv", type=Path, default=Path("field-results.csv"))
    parser.add_argument("--url", default=os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("GATEWAY_TOKEN"))
    parser.add_argument("--once", action="store_true", help="classify what is there and stop")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: not a folder: {args.folder}", file=sys.stderr)
        return 2
    with Client(args.url, token=args.token) as gw:
        classify(gw, args.service, pending(args.folder, args.csv), args.csv)
        if args.once:
            return 0
        print(f"watching {args.folder} (Ctrl-C to stop)", flush=True)
        for changes in watch(args.folder):
            if any(change != Change.deleted for change, _ in changes):
                classify(gw, args.service, pending(args.folder, args.csv), args.csv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
