"""The launch contract's command line, shared by every peer's ``server.py`` (standard library only).

A peer server is started as ``server.py --port P --model M --labels L`` plus its setting's own
arguments (``benchmarks/peers/__init__.py``); this module is imported in the peer's virtualenv,
before any heavy import, so that a server that only launches another program stays light.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def launch_parser(
    description: str | None = None,
    *,
    threads: int = 0,
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """The arguments of the launch contract every peer's ``server.py`` takes (``--port``,
    ``--model``, ``--labels``) and ``--threads`` (ORT intra-op threads; 0: ORT's own choice);
    each server adds its own settings' arguments."""
    parser = argparse.ArgumentParser(description=description, parents=list(parents))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument(
        "--threads", type=int, default=threads, help="ORT intra-op threads (0: ORT's)"
    )
    return parser
