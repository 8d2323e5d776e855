"""Taking a snapshot without stalling the event loop: write it from a forked child (issue 5).

`fork()` gives the child a copy-on-write image of the process at that instant, so the child
can walk the state machine and write the snapshot file at its leisure while the parent goes
on applying entries and serving clients: the snapshot is exactly the state at the fork, and
the parent's only stall is the fork itself (copying the page tables). This is what Redis does
for BGSAVE.

The child runs nothing but `write` (no event loop, no logging, no threads: only the forking
thread exists in it), dies with the server if the server is killed, and leaves with `os._exit`, so no atexit handler, buffered stream or
finaliser of the parent runs twice. Its exit status says whether the snapshot was written;
the parent waits for it in a worker thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable

import trio

_FAILED = 1
_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """Have the kernel kill this child if the server dies (kill -9 included): an orphan
    must not go on writing into the data directory of the next server started on it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        raise SnapshotChildError("the server died before its snapshot child started")


class SnapshotChildError(Exception):
    """The child could not write the snapshot (its exit status or signal says why)."""


async def run_in_child(
    write: Callable[[], None], *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run `write` in a forked child; return once it has finished successfully. With
    `nursery.start`, the caller resumes as soon as the child exists (with its pid): from
    then on nothing the parent changes reaches the snapshot."""
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        code = 0
        try:
            _die_with(parent)
            write()
        except BaseException as error:  # any failure: reported through the exit status
            code = _FAILED
            with contextlib.suppress(OSError):
                os.write(2, f"snapshot child failed: {error!r}\n".encode())
        os._exit(code)
    task_status.started(pid)
    _, status = await trio.to_thread.run_sync(os.waitpid, pid, 0, abandon_on_cancel=False)
    if os.WIFSIGNALED(status):
        raise SnapshotChildError(f"snapshot child {pid} killed by signal {os.WTERMSIG(status)}")
    code = os.WEXITSTATUS(status)
    if code != 0:
        raise SnapshotChildError(f"snapshot child {pid} exited with status {code}")
