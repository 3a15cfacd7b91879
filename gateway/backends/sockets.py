"""Where the local runtimes listen: a Unix socket each, in a folder only the gateway's user opens.

A runtime process serves HTTP on ``<data dir>/run/<service>.sock`` (``RUNTIME_UNIX_SOCKET``), not on
a loopback port: no TCP handshake or loopback stack per request, and nobody else on the machine can
connect, because the folder is mode 0700 and owned by the gateway's user (a socket's own mode is
not checked everywhere; the folder's is). A path longer than a socket address can hold (107 bytes)
moves the folder to a private one in the system's temporary folder, removed by `close`.

`probe` asks a runtime on its socket for a health route (the local backend's readiness poll), with
no HTTP client to build.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import tempfile
from pathlib import Path

#: the longest path a Unix socket address holds on Linux (``sun_path`` less its final NUL)
MAX_PATH_BYTES = 107


class SocketFolder:
    """The private folder of the local runtimes' sockets (made 0700, checked to be ours)."""

    def __init__(self, preferred: Path) -> None:
        self._preferred = preferred
        self._fallback: Path | None = None

    def path(self, name: str) -> Path:
        """The socket of service `name`, in a folder made private first."""
        candidate = self._preferred.absolute() / f"{name}.sock"
        if len(os.fsencode(candidate)) > MAX_PATH_BYTES:
            if self._fallback is None:
                self._fallback = Path(tempfile.mkdtemp(prefix="gateway-run-"))  # 0700
            candidate = self._fallback / f"{name}.sock"
        private_folder(candidate.parent)
        return candidate

    def close(self) -> None:
        """Remove the temporary folder, if one was needed (the preferred one stays)."""
        if self._fallback is not None:
            shutil.rmtree(self._fallback, ignore_errors=True)
            self._fallback = None


def private_folder(folder: Path) -> None:
    """Make `folder` (and its parents) and leave it a real folder of this user with mode 0700;
    raises `PermissionError` when it is another user's or a symbolic link."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise PermissionError(f"{folder} is not a folder of this user: no runtime socket there")
    if stat.S_IMODE(info.st_mode) != 0o700:
        folder.chmod(0o700)


async def probe(socket_path: Path, route: str, timeout: float) -> int | None:
    """The HTTP status a server on `socket_path` answers ``GET route``; None when it cannot be
    reached (not listening yet, gone) or says nothing within `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(socket_path)
            try:
                writer.write(
                    f"GET {route} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
                )
                status_line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return None
    parts = status_line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
