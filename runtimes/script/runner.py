"""run_script: one input file through the user's script, the way OSCAR's supervisor does it.

The input is written to a fresh temporary folder; the script runs in its own process group with
``INPUT_FILE_PATH``, ``TMP_OUTPUT_DIR`` and ``STORAGE_OBJECT_KEY`` set (and the service's own
environment); stdout and stderr go to one log. Past the time limit the whole process group is
killed. What the script wrote under ``TMP_OUTPUT_DIR`` is read back, relative names kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True, slots=True)
class ScriptResult:
    """What one run produced: exit status, files (relative name -> bytes), log, timing out."""

    returncode: int
    files: dict[str, bytes]
    log: str
    timed_out: bool = False


class OutputTooLarge(Exception):
    """The script wrote more than the runtime may send back."""


async def run_script(
    script: Path,
    data: bytes,
    *,
    key: str,
    timeout: float,
    shell: str = "/bin/sh",
    max_output_bytes: int = 64 * 1024 * 1024,
    log_tail_bytes: int = 4096,
) -> ScriptResult:
    """Run `script` on `data` (the object at `key`); kill its process group after `timeout`."""
    with tempfile.TemporaryDirectory(prefix="script-") as temp:
        work = Path(temp)
        inputs, outputs = work / "input", work / "output"
        inputs.mkdir()
        outputs.mkdir()
        name = PurePosixPath(key).name or "input"
        input_path = inputs / name
        input_path.write_bytes(data)
        env = {
            **os.environ,
            "INPUT_FILE_PATH": str(input_path),
            "TMP_INPUT_DIR": str(inputs),
            "TMP_OUTPUT_DIR": str(outputs),
            "STORAGE_OBJECT_KEY": key,
        }
        proc = await asyncio.create_subprocess_exec(
            shell,
            str(script),
            cwd=work,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        tail = bytearray()
        reader = asyncio.create_task(_keep_tail(proc, tail, max(log_tail_bytes, 1)))
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            timed_out = True
        finally:
            _kill_group(proc.pid)  # past the limit, or whatever it left running in the background
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


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _read_outputs(folder: Path, limit: int) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
            if total > limit:
                raise OutputTooLarge(f"the script wrote more than {limit} bytes")
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return files
