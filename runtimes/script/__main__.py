"""``python -m runtimes.script [--host H] [--port P]``: serve a script from ``RUNTIME_*``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from runtimes.prctl import become_subreaper
from runtimes.script.app import create_app
from runtimes.script.config import ScriptSettings
from runtimes.serving import serve


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the script the environment names until interrupted."""
    become_subreaper()  # a script's orphans come back here to be killed and reaped
    return serve(
        "runtimes.script", ScriptSettings, create_app, argv, describe=lambda s: f"script {s.name}"
    )


if __name__ == "__main__":
    sys.exit(main())
