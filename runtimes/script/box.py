"""Box: where each run of a user's script runs, as whom, and with what limits.

Boxed (the runtime runs as root, the case of the local backend on a server and of CI): each run
gets a user and group id of its own, with no account behind it (``uid_base + pid * SLOTS +
slot``, so unique among the runs of every runtime on the machine). The script can then not read
the runtime's nor the gateway's ``/proc/<pid>/environ``, signal or trace them, nor reach another
run's files or processes; the process limit (``RLIMIT_NPROC``, counted per user) counts this
run's processes alone. Its folder (``HOME``, ``TMPDIR``, the working directory) is its own, mode
0700; supplementary groups are dropped; umask 077. At the end, or at the time limit, every
process of that uid is killed (``kill -KILL -1`` run as that uid), including those that left
the process group (``setsid``), and reaped: the runtime adopts a script's orphans
(`runtimes.prctl.become_subreaper`), since a zombie still counts against the uid's process limit.

Not boxed (the runtime is not root, e.g. in a container image that runs as a plain user): the
script runs as this user, with the same limits except the process count (``RLIMIT_NPROC`` would
count all of this user's processes), and only its process group is killed. The runtime makes
itself non-dumpable (`runtimes.prctl.forbid_inspection`) so its environ stays unreadable, but
the script can read whatever this user can read; `Box` says so once, at start, with a WARNING.
A runtime that is root but cannot box (its uid range is not mapped in its user namespace)
refuses to run scripts rather than run them as root, and says so with an ERROR.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import resource
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtimes.errors import ScriptNotBoxed
from runtimes.prctl import set_parent_death_signal
from runtimes.script.limits import BoxLimits

log = logging.getLogger("runtimes.script")

SLOTS = 256  # runs at once per runtime process
DEFAULT_UID_BASE = 1_000_000_000
_KILL_ALL = "kill -KILL -1 2>/dev/null; exit 0"  # as the run's uid: every process of that uid


@dataclass(frozen=True, slots=True)
class Cell:
    """One run's place: its folder and, when boxed, its own uid and gid."""

    folder: Path
    uid: int | None


def can_box(uid_base: int) -> bool:
    """True where scripts can run as other users: root, with the uid range mapped."""
    if os.geteuid() != 0:
        return False
    top = uid_base + _pid_max() * SLOTS
    return all(_mapped(f"/proc/self/{ids}_map", uid_base, top) for ids in ("uid", "gid"))


def _pid_max() -> int:
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return 4_194_304


def _mapped(path: str, first: int, last: int) -> bool:
    """True when ids `first`..`last` are mapped in this user namespace (always, outside one)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return True
    for line in lines:
        inside, _, count = (int(x) for x in line.split())
        if inside <= first and last < inside + count:
            return True
    return False


class Box:
    """Hands out cells, one per run, and starts scripts in them."""

    def __init__(
        self, limits: BoxLimits, *, uid_base: int = DEFAULT_UID_BASE, shell: str = "/bin/sh"
    ) -> None:
        self.limits = limits
        self._uid_base = uid_base
        self._shell = shell
        self._free = deque(range(SLOTS))  # first in, first out: a uid rests long between runs
        self.boxed = can_box(uid_base)
        if self.boxed:
            return
        if os.geteuid() == 0:
            log.error(
                "scripts will NOT run: this runtime is root but uids from %d are not mapped in "
                "its user namespace, and a script never runs as root; set RUNTIME_BOX_UID_BASE "
                "to the start of a mapped range (see /proc/self/uid_map)",
                uid_base,
            )
            return
        log.warning(
            "scripts are NOT boxed: this runtime is not root (euid %d), so each script runs as "
            "this same user and can read what this user can read (files, logs); only CPU, "
            "memory, file size and open files are limited. Run the runtime as root for a user "
            "per run, or each service in a pod of its own.",
            os.geteuid(),
        )

    @contextlib.asynccontextmanager
    async def cell(self) -> AsyncIterator[Cell]:
        """A fresh cell; on leaving it, every process of its uid is killed, its folder removed."""
        if not self.boxed and os.geteuid() == 0:
            raise ScriptNotBoxed(f"a script never runs as root, and uids from {self._uid_base} "
                                 "are not mapped here: set RUNTIME_BOX_UID_BASE")  # fmt: skip
        if not self._free:
            raise ScriptNotBoxed(f"more than {SLOTS} scripts at once in one runtime")
        slot = self._free.popleft()
        uid = self._uid_base + os.getpid() * SLOTS + slot if self.boxed else None
        folder = Path(tempfile.mkdtemp(prefix="script-"))
        try:
            if uid is not None:
                _check_free(uid)
                await self._clear(uid)  # anything a crashed runtime of the same pid left
                os.chown(folder, uid, uid)
            yield Cell(folder, uid)
        finally:
            try:
                if uid is not None:
                    await self._clear(uid)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
                self._free.append(slot)

    def give(self, cell: Cell, path: Path) -> None:
        """Make `path` (made by the runtime inside the cell) the cell's user's."""
        if cell.uid is not None:
            os.chown(path, cell.uid, cell.uid)

    def spawn_options(self, cell: Cell) -> dict[str, Any]:
        """Keyword arguments of `asyncio.create_subprocess_exec` that start a process in `cell`."""
        return {
            "cwd": cell.folder,
            "start_new_session": True,
            "preexec_fn": _entering(self.limits, cell.uid),
        }

    async def stop(self, cell: Cell, pid: int) -> None:
        """Kill the run's process group, and when boxed every process of its uid."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        if cell.uid is not None:
            await self._kill_all(cell.uid)  # always: a process may hide from `_reap`'s scan
            await _until_gone(cell.uid)

    async def _clear(self, uid: int) -> None:
        """No process of `uid` left: kill them all if any lives, wait until they are gone (a
        killed process counts against RLIMIT_NPROC until it is reaped)."""
        if _reap(uid):
            await self._kill_all(uid)
            await _until_gone(uid)

    async def _kill_all(self, uid: int) -> None:
        if uid < self._uid_base or uid == os.geteuid():  # never this process's own user
            raise ScriptNotBoxed(f"refusing to kill every process of uid {uid}")
        proc = await asyncio.create_subprocess_exec(
            self._shell, "-c", _KILL_ALL, preexec_fn=lambda: _become(uid),
            env={"PATH": "/usr/bin:/bin"}, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await proc.wait()


async def _until_gone(uid: int, timeout: float = 5.0) -> None:
    """Wait until no process of `uid` is alive, reaping those that are this process's zombies
    (a zombie still counts against the uid's RLIMIT_NPROC until it is reaped)."""
    deadline = time.monotonic() + timeout
    while _reap(uid):
        if time.monotonic() > deadline:
            raise ScriptNotBoxed(f"processes of uid {uid} outlived SIGKILL for {timeout:g} s")
        await asyncio.sleep(0.01)


def _reap(uid: int) -> int:
    """Reap this process's zombie children of `uid`; the number of live processes of `uid`.

    A process's ``/proc/<pid>`` belongs to its user (a cheap ``stat``), except while it is not
    dumpable: such a process is not waited for here, but `Box._kill_all` kills it all the same.
    """
    me = os.getpid()
    alive = 0
    for entry in os.scandir("/proc"):
        try:
            if not entry.name.isdigit() or entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                state, parent = stat.read().rsplit(b")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if state != b"Z":
            alive += 1
        elif int(parent) == me:  # an orphan of the script, adopted (subreaper or pid 1)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(int(entry.name), os.WNOHANG)
    return alive


def _check_free(uid: int) -> None:
    try:
        account = pwd.getpwuid(uid)
    except KeyError:
        return
    raise ScriptNotBoxed(
        f"uid {uid} belongs to account {account.pw_name!r}: set RUNTIME_BOX_UID_BASE"
    )


def _become(uid: int) -> None:  # pragma: no cover - runs in the child between fork and exec
    """Take `uid` as user and group, without supplementary groups (uvloop has no ``user=``)."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _entering(limits: BoxLimits, uid: int | None) -> Callable[[], None]:
    """What the child does between fork and exec: take the run's uid (boxed), limits, umask,
    death with the runtime."""

    def enter() -> None:  # pragma: no cover - runs in the child
        if uid is not None:
            _become(uid)
        os.umask(0o077)
        _limit(resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1)  # SIGXCPU, then 9
        _limit(resource.RLIMIT_AS, limits.memory_bytes)
        _limit(resource.RLIMIT_FSIZE, limits.file_size_bytes)
        _limit(resource.RLIMIT_NOFILE, limits.open_files)
        _limit(resource.RLIMIT_CORE, 0)
        if uid is not None:
            _limit(resource.RLIMIT_NPROC, limits.processes)
        set_parent_death_signal(signal.SIGKILL)

    return enter


def _limit(which: int, soft: int, hard: int | None = None) -> None:  # pragma: no cover - child
    _, current = resource.getrlimit(which)
    hard = soft if hard is None else hard
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(which, (soft, hard))
