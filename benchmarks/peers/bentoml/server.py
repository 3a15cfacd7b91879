"""BentoML 1.4.40 serving EfficientNet-Lite0: ``bentoml serve service:ImageClassifier``.

Turns the launch contract's arguments into a ``bentoml serve`` command line (host 127.0.0.1, the
given port, the service's settings as ``--arg``) and becomes that command (``exec``), so the
runner's SIGTERM reaches BentoML's own process manager, which stops its workers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from benchmarks.peers.launch import launch_parser

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = launch_parser(__doc__)
    parser.add_argument("--workers", type=int, default=None, help="default: BentoML's (1)")
    parser.add_argument("--batchable", action="store_true", help="adaptive batching")
    parser.add_argument("--max-batch-size", type=int, default=None)
    parser.add_argument("--max-latency-ms", type=int, default=None)
    args = parser.parse_args()
    bento_args = {
        "model": str(Path(args.model).resolve()),
        "labels": str(Path(args.labels).resolve()),
        "threads": args.threads,
        "workers": args.workers,
        "batchable": args.batchable or None,
        "max_batch_size": args.max_batch_size,
        "max_latency_ms": args.max_latency_ms,
    }
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    argv = [bentoml, "serve", "service:ImageClassifier", "--working-dir", str(HERE)]
    argv += ["--host", "127.0.0.1", "--port", str(args.port)]
    for key, value in bento_args.items():
        if value is not None:
            argv += ["--arg", f"{key}={value}"]
    os.execv(bentoml, argv)


if __name__ == "__main__":
    main()
