"""Running Lua off the event loop, so a long script never stops a node from being a node.

A script runs for as long as its instruction budget allows (about a second at the default).
Run on the event loop, that would stop heartbeats, votes and every client for that long, and
a leader would lose its leadership to a script. So whatever may run Lua runs in a worker
thread (lupa releases the GIL while Lua runs), and the event loop goes on meanwhile:

- a committed entry that may run Lua (EVAL, EVALSHA, FCALL, FUNCTION LOAD/RESTORE, or a
  transaction holding one) is applied in the worker, together with the committed entries
  that follow it in the same batch (one thread hop per batch, not per script). The runner
  does not wait for it: the entries go to a backlog that a task of this module applies in
  order, and the entries committed meanwhile join the backlog behind them, so the state
  machine still applies the log in order, only later. The core's applied index may run
  ahead of the state machine's meanwhile; a membership change is the exception (the core
  must not act on a configuration the state machine has not applied): the runner waits
  for the backlog before it goes past one, as it does before installing a snapshot.
- a read-only script (EVAL_RO and the like) runs in the worker at its read point.

While the worker holds the state machine (`busy`), nothing else on the event loop touches
it: the dispatcher holds every client's next command until it is free (and answers BUSY
once a script has run longer than busy-reply-threshold, as Redis does), reads and snapshots
wait, the leader's expiry and timeout scans skip a round. Raft goes on: the runner steps,
ticks, sends heartbeats, appends and acknowledges as usual.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import trio

from ..raft.core import Entry
from ..state import Applied, Op

if TYPE_CHECKING:
    from .node import RaftNode
    from .proposals import Proposals

T = TypeVar("T")


class Applier:
    """The backlog of committed entries waiting behind a script, and who holds the state
    machine."""

    def __init__(self, node: RaftNode, drain: Callable[[RaftNode], Awaitable[None]]) -> None:
        self.node = node
        self._drain = drain  # applies the backlog, in order (`apply.apply_backlog`)
        self.backlog: deque[Pending] = deque()
        self.busy = False  # the worker holds the state machine (read on every command)
        self.busy_since = 0.0  # since when (monotonic)
        self.running_task = False
        self._idle = trio.Event()
        self._idle.set()
        self._drained = trio.Event()
        self._drained.set()

    def busy_for(self) -> float:
        """Seconds the worker has held the state machine (0 if it does not)."""
        return time.monotonic() - self.busy_since if self.busy else 0.0

    async def idle(self) -> None:
        """Return once no worker holds the state machine."""
        while self.busy:
            await self._idle.wait()

    async def drained(self) -> None:
        """Return once the backlog is applied (and no worker holds the machine)."""
        while self.backlog or self.running_task:
            await self._drained.wait()
        await self.idle()

    async def exclusive(self, work: Callable[[], T]) -> T:
        """Run `work` (which reads or changes the state machine, and may run Lua) in the
        worker, holding the state machine; waits for it to be free first."""
        await self.idle()
        self.busy, self.busy_since = True, time.monotonic()
        self._idle = trio.Event()
        try:
            return await trio.to_thread.run_sync(work, abandon_on_cancel=False)
        finally:
            self.busy = False
            self._idle.set()
            self.node.reads.release()  # reads that came due meanwhile
            self.node.kick()

    # -- the backlog -------------------------------------------------------------------------

    def defer(self, pending: list[Pending]) -> None:
        """Queue committed entries behind the backlog, and make sure they get applied."""
        self.backlog.extend(pending)
        if self.backlog and not self.running_task:
            nursery = self.node.nursery
            assert nursery is not None
            self.running_task = True
            self._drained = trio.Event()
            nursery.start_soon(self._apply_backlog)

    def drop_backlog(self) -> None:
        """Forget the backlog (a snapshot from the leader replaces what it would do)."""
        self.backlog.clear()

    async def _apply_backlog(self) -> None:
        try:
            await self._drain(self.node)
        finally:
            self.running_task = False
            self._drained.set()
            self.node.replies_ready()
            self.node.reads.release()
            self.node.kick()


class Pending:
    """A committed entry in the backlog, with its op once decoded."""

    __slots__ = ("entry", "op")

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.op: Op | None = None

    def decoded(self, proposals: Proposals) -> Op:
        if self.op is None:
            entry = self.entry
            self.op = proposals.op_of(entry.index, entry.term, entry.data)
        return self.op


def results_of(
    machine_apply: Callable[[int, Op], Applied], ops: list[tuple[int, Op]]
) -> list[tuple[Applied, int]]:
    """Apply ops in order (in the worker); each result with the time it took (µs)."""
    out: list[tuple[Applied, int]] = []
    for index, op in ops:
        started = time.perf_counter_ns()
        applied = machine_apply(index, op)
        out.append((applied, (time.perf_counter_ns() - started) // 1000))
    return out
