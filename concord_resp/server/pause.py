"""CLIENT PAUSE on this node: which commands wait, until when, and who goes first after.

A pause is per node, as it is per server in Redis: it holds this node's clients; writes sent
through other nodes go on. Redis 7.0's rules (pauseClients, processCommand): a WRITE pause
holds commands that write or may replicate (EVAL, PUBLISH, PFCOUNT, ..., a script or
function unless it declares `no-writes`, EXEC of a transaction holding one), an ALL pause
holds every command; a held client waits, it is not refused. A second CLIENT PAUSE keeps the
later end and the stricter kind. UNPAUSE, or the end passing, lets the held clients go in
the order they were held, one at a time, so their writes are proposed in that order. While
paused, this node does not propose active expiry (the leader's).

The end is this node's wall clock (`clock`, time.time by default; tests pass trio's).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Final

import trio

OFF: Final = 0
WRITE: Final = 1
ALL: Final = 2


class ClientPause:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.kind = OFF
        self.end = 0.0  # seconds, on `clock`
        self._changed = trio.Event()  # set (and replaced) when the pause changes
        self._held: deque[trio.Event] = deque()  # one per held client, in arrival order

    @property
    def held(self) -> int:
        """Clients waiting for the pause to end (counted in INFO's blocked_clients)."""
        return len(self._held)

    def pause(self, end: float, kind: int) -> None:
        self.kind = max(self.kind, kind)
        self.end = max(self.end, end)
        self._wake()

    def unpause(self) -> None:
        self.kind = OFF
        self.end = 0.0
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def current(self) -> int:
        """The kind of pause in force now (OFF once its end has passed)."""
        if self.kind and self.clock() >= self.end:
            self.kind = OFF
            self.end = 0.0
        return self.kind

    def holds(self, writes: bool) -> bool:
        """Whether a command (`writes`: it writes or may replicate) must wait now."""
        kind = self.current()
        return kind == ALL or (kind == WRITE and writes)

    def enter(self) -> trio.Event:
        """A client is held: its place in the queue (`leave` it once its command is sent)."""
        ticket = trio.Event()
        self._held.append(ticket)
        return ticket

    def leave(self, ticket: trio.Event) -> None:
        """The client went (or gave up): the next one may go at its next turn."""
        self._held.remove(ticket)
        ticket.set()

    async def wait_turn(self, ticket: trio.Event, writes: bool) -> None:
        """Wait while the pause holds such a command (`writes`: it writes or may
        replicate), then until the clients held before this one have gone."""
        held = self._held
        while True:
            while self.holds(writes):
                changed = self._changed
                with trio.move_on_after(max(self.end - self.clock(), 0.0)):
                    await changed.wait()
            if held[0] is ticket:
                return
            await held[0].wait()  # the one ahead has gone (or left)

    async def wait(self, writes: bool) -> None:
        """Hold a command until it may run and its turn has come (enter, wait, leave).
        The caller must send it before its next checkpoint, so the order holds."""
        ticket = self.enter()
        try:
            await self.wait_turn(ticket, writes)
        finally:
            self.leave(ticket)

    @property
    def expiry_paused(self) -> bool:
        """Active expiry waits while any pause is in force (Redis's activeExpireCycle)."""
        return self.current() != OFF
