"""Linux process controls (``prctl``) shared by the gateway, the runtimes and the script box.

- `set_parent_death_signal`: a child gets `signum` when its parent dies (even by SIGKILL).
- `become_subreaper`: orphaned descendants (a script's background processes whose parent died)
  are re-parented to this process rather than to init, which may never reap them.
- `forbid_inspection`: this process becomes non-dumpable, so that no other process of the same
  user (a user's script, where it cannot run as another user) may read its
  ``/proc/<pid>/environ`` or memory, or trace it; only root can. No core dumps either.

Both do nothing where ``prctl`` is not available (not Linux).
"""

from __future__ import annotations

import contextlib
import ctypes
import sys

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> bool:
    if sys.platform != "linux":
        return False
    with contextlib.suppress(Exception):
        return bool(ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0)
    return False


def set_parent_death_signal(signum: int) -> bool:
    """Ask for `signum` when the parent process dies (runs in a child between fork and exec)."""
    return _prctl(_PR_SET_PDEATHSIG, signum)


def forbid_inspection() -> bool:
    """Make this process non-dumpable (True when it worked)."""
    return _prctl(_PR_SET_DUMPABLE, 0)


def become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (True when it worked)."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)
