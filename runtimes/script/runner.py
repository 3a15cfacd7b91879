"""run_script: one input file through the user's script, the way OSCAR's supervisor does it.

The input is written to a fresh folder, a cell of the `Box` (its own user when the runtime is
root, with limits); the script runs there in its own process group with only the allowlisted
environment (`runtimes.environment.script_environment`: ``INPUT_FILE_PATH``, ``TMP_OUTPUT_DIR``,
``STORAGE_OBJECT_KEY``... and the service's declared environment); stdout and stderr go to one
log. Past the time limit, and at its end, everything it started is killed. What the script wrote
under ``TMP_OUTPUT_DIR`` is read back (regular files only, links not followed), names kept.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from runtimes.environment import script_environment
from runtimes.errors import OutputTooLarge, ScriptFailed, ScriptTimeout, ServingError
from runtimes.script.box import Box


@dataclass(frozen=True, slots=True)
class ScriptResult:
    """What one run produced: exit status, files (relative name -> bytes), log, timing out."""

    returncode: int
    files: dict[str, bytes]
    log: str
    timed_out: bool = False


_SIGNALS: dict[int, str] = {
    signal.SIGXCPU.value: "its CPU time limit",
    signal.SIGXFSZ.value: "its file size limit",
    signal.SIGKILL.value: "SIGKILL",
    signal.SIGSEGV.value: "SIGSEGV (memory limit?)",
}


def exit_message(returncode: int) -> str:
    """How a failed run ended, in words (a signal named, with the limit that sends it)."""
    if returncode < 0:
        signum = -returncode
        name = _SIGNALS.get(signum) or signal.strsignal(signum) or "unknown"
        return f"the script was killed by signal {signum} ({name})"
    if returncode > 128 and returncode - 128 in _SIGNALS:  # the shell reports its child's signal
        return f"the script exited with status {returncode} ({_SIGNALS[returncode - 128]})"
    return f"the script exited with status {returncode}"


def failure(result: ScriptResult, timeout: float) -> ServingError | None:
    """The error a finished run is (past its time limit, a non-zero exit), else None."""
    if result.timed_out:
        message = f"the script ran past its limit of {timeout:g} s and was killed"
        return ScriptTimeout(message, log=result.log)
    if result.returncode != 0:
        return ScriptFailed(exit_message(result.returncode), log=result.log)
    return None


async def run_script(
    script: Path,
    data: bytes,
    *,
    key: str,
    timeout: float,
    box: Box,
    environment: Mapping[str, str] | None = None,
    shell: str = "/bin/sh",
    max_output_bytes: int = 64 * 1024 * 1024,
    log_tail_bytes: int = 4096,
) -> ScriptResult:
    """Run `script` on `data` (the object at `key`) in a cell of `box`, with the service's
    declared `environment`; kill everything it started after `timeout` or at its end."""
    async with box.cell() as cell:
        work = cell.folder
        inputs, outputs = work / "input", work / "output"
        for folder in (inputs, outputs):
            folder.mkdir()
            box.give(cell, folder)
        name = PurePosixPath(key).name or "input"
        input_path = inputs / name
        input_path.write_bytes(data)
        box.give(cell, input_path)
        own_script = work / "script.sh"  # the runtime's copy is not readable by the cell's user
        own_script.write_bytes(script.read_bytes())
        box.give(cell, own_script)
        oscar = {
            "INPUT_FILE_PATH": str(input_path),
            "TMP_INPUT_DIR": str(inputs),
            "TMP_OUTPUT_DIR": str(outputs),
            "STORAGE_OBJECT_KEY": key,
        }
        env = script_environment(os.environ, environment or {}, oscar, home=str(work))
        proc = await asyncio.create_subprocess_exec(
            shell,
            str(own_script),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            **box.spawn_options(cell),
        )
        tail = bytearray()
        reader = asyncio.create_task(_keep_tail(proc, tail, max(log_tail_bytes, 1)))
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            timed_out = True
        finally:
            await box.stop(cell, proc.pid)  # past the limit, or what it left in the background
            await proc.wait()
            await reader
        files = _read_outputs(outputs, max_output_bytes)
        log = tail.decode(errors="replace") if log_tail_bytes else ""
        return ScriptResult(proc.returncode or 0, files, log, timed_out)


async def _keep_tail(proc: asyncio.subprocess.Process, tail: bytearray, size: int) -> None:
    """Read the script's output to its end, keeping the last `size` bytes."""
    assert proc.stdout is not None
    while chunk := await proc.stdout.read(65536):
        tail += chunk
        del tail[:-size]


def _read_outputs(folder: Path, limit: int) -> dict[str, bytes]:
    """Regular files under `folder` (which the script owned: no link is followed)."""
    if folder.is_symlink() or not folder.is_dir():
        return {}
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(folder.rglob("*")):  # rglob does not descend into linked folders
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            continue
        with os.fdopen(fd, "rb") as handle:
            total += info.st_size
            if total > limit:
                raise OutputTooLarge(f"the script wrote more than {limit} bytes")
            files[path.relative_to(folder).as_posix()] = handle.read(info.st_size)
    return files
