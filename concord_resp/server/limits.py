"""Bounded clients: client-output-buffer-limit and maxmemory-clients (Redis 7.0's rules).

A client's output buffer is what the server holds for it and its socket has not taken yet
(the outbox's backlog); `ClientBuffers` keeps the clients that hold any, and those with a
big query buffer, so the limits never walk every client. They are applied when a buffer
grows (`Outbox` calls `check`) and by the clients cron (`cron`, ten times a second: a soft
limit is about time, and a client paused by backpressure does not grow):

- `client-output-buffer-limit <class> <hard> <soft> <seconds>`: at `hard` bytes the client is
  closed at once; at `soft` bytes or more continuously for more than `seconds`, then.
- `maxmemory-clients`: while every tracked client's buffers together reach the limit, the
  client using the most (output and query buffers) is closed, unless it set CLIENT NO-EVICT.

The rules themselves (`over_output_limit`) are pure, with the time passed in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, Protocol

import trio

from ..config import NORMAL, PUBSUB, OutputBufferLimit

if TYPE_CHECKING:
    from .client import ClientState
    from .state import ServerState

log = logging.getLogger("concord.server")

QUERY_TRACKED: Final = 64 * 1024  # a query buffer this big counts toward maxmemory-clients


class Holder(Protocol):
    """What the limits need of a connection's outbox."""

    client: ClientState
    buffered: int  # bytes of replies the socket has not taken
    soft_since: float | None  # when it reached the soft limit, while it stays over it

    def close_now(self) -> None:
        """Drop what is owed and close the connection at once."""
        ...


def over_output_limit(
    limit: OutputBufferLimit, used: int, since: float | None, now: float
) -> tuple[bool, float | None]:
    """Whether a client holding `used` bytes must be closed (Redis's
    `checkClientOutputBufferLimits`), and the new time it reached the soft limit.

    The soft limit is reached when `used` first goes to `soft` bytes or more; it closes the
    client once it has stayed there for more than `soft_seconds`; going under it starts the
    count again. A limit of 0 bytes is no limit."""
    hard = limit.hard != 0 and used >= limit.hard
    if limit.soft == 0 or used < limit.soft:
        return hard, None
    if since is None:
        return hard, now  # the first time it is seen over the soft limit
    return hard or now - since > limit.soft_seconds, since


def client_class(client: ClientState) -> int:
    """The limits' class of a client: `pubsub` in subscribed mode (as Redis's
    getClientType), else `normal`; no client is a replica."""
    return PUBSUB if client.subscribed else NORMAL


def describe(client: ClientState) -> str:
    return client.describe().decode("latin-1")


class ClientBuffers:
    """The connections holding buffers worth limiting, by client id (see the docstring)."""

    def __init__(self) -> None:
        self.holders: dict[int, Holder] = {}
        self.evicted = 0  # INFO stats evicted_clients
        # Set when there is something to watch: the cron sleeps on it while there is not.
        self.wanted = trio.Event()

    def track(self, holder: Holder) -> None:
        self.holders[holder.client.id] = holder
        self.wanted.set()

    def release(self, holder: Holder) -> None:
        self.holders.pop(holder.client.id, None)

    def check(self, state: ServerState, holder: Holder, now: float) -> None:
        """After `holder`'s output buffer grew: its limits, then the total's."""
        if not self._within_output_limit(state, holder, now, scheduled=True):
            return
        if state.settings.maxmemory_clients:
            self.evict(state)

    def cron(self, state: ServerState, now: float) -> None:
        """The clients cron: soft limits that have run out, the total, and clients that no
        longer hold anything (dropped from the table)."""
        for holder in list(self.holders.values()):
            if not holder.buffered and holder.client.query_buffer < QUERY_TRACKED:
                holder.soft_since = None
                self.release(holder)
            elif holder.buffered:
                self._within_output_limit(state, holder, now, scheduled=False)
        if state.settings.maxmemory_clients:
            self.evict(state)

    def _within_output_limit(
        self, state: ServerState, holder: Holder, now: float, *, scheduled: bool
    ) -> bool:
        """Close the client if it is over its output buffer limit (the log line is Redis's:
        "scheduled" when its buffer grew, "closed" from the cron); whether it is within."""
        client = holder.client
        limit = state.settings.client_output_buffer_limit[client_class(client)]
        over, holder.soft_since = over_output_limit(limit, holder.buffered, holder.soft_since, now)
        if not over:
            return True
        log.warning(
            "Client %s scheduled to be closed ASAP for overcoming of output buffer limits."
            if scheduled
            else "Client %s closed for overcoming of output buffer limits.",
            describe(client),
        )
        holder.close_now()
        self.release(holder)
        return False

    def biggest_output(self) -> int:
        """The largest output buffer now (INFO's client_recent_max_output_buffer)."""
        return max((h.buffered for h in self.holders.values()), default=0)

    def total(self) -> int:
        return sum(h.buffered + h.client.query_buffer for h in self.holders.values())

    def evict(self, state: ServerState) -> None:
        """Close the clients using the most memory while the total is at the limit (Redis's
        `evictClients`); a client with CLIENT NO-EVICT on is never closed so."""
        limit = state.settings.client_eviction_limit()
        if not limit:
            return
        total = self.total()
        if total < limit:
            return
        candidates = sorted(
            (h for h in self.holders.values() if not h.client.no_evict),
            key=lambda h: h.buffered + h.client.query_buffer,
            reverse=True,
        )
        for holder in candidates:
            if total < limit:
                return
            total -= holder.buffered + holder.client.query_buffer
            log.info("Evicting client: %s", describe(holder.client))
            self.evicted += 1
            holder.close_now()
            self.release(holder)
        if total >= limit:
            log.warning("Over client maxmemory after evicting all evictable clients")
