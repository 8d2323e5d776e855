"""Replies owed to a client that are not known yet: a write's, until its entry is applied.

The dispatcher puts one of these in the connection's outbox where the reply belongs; the node
completes the proposal (`Proposal.finish`, in its apply loop) with the reply *value*, and the
pending reply then encodes it for the client's protocol, counts the command (INFO
commandstats: a command is counted once it has run) and tells the outbox, which sends every
reply that is ready, in order. Nothing here may raise into the node's apply loop: a failure
to build a reply is logged and answered as an internal error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from ..cluster import Proposal
from ..metrics import Metrics
from ..resp import ErrorReply, Reply, encode_reply

log = logging.getLogger("concord.server")

INTERNAL_ERROR: Final = b"-ERR internal error\r\n"


class Pending:
    """The reply to one proposal, once applied."""

    __slots__ = ("_callback", "_encoded", "proposal")

    def __init__(self, proposal: Proposal) -> None:
        self.proposal = proposal
        self._encoded = b""
        self._callback: Callable[[], None] | None = None
        proposal.on_done = self._applied

    @property
    def done(self) -> bool:
        return self.proposal.done

    @property
    def encoded(self) -> bytes:
        """The reply's bytes (only once `done`)."""
        assert self.proposal.done, "a reply read before its entry was applied"
        return self._encoded

    def notify(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the reply is ready (the outbox then sends it)."""
        self._callback = callback

    async def wait(self) -> None:
        await self.proposal.wait()

    def _applied(self) -> None:
        try:
            self._encoded = self.complete(self.proposal)
        except Exception:
            log.exception("internal error completing a reply")
            self._encoded = INTERNAL_ERROR
        if self._callback is not None:
            self._callback()

    def complete(self, proposal: Proposal) -> bytes:
        raise NotImplementedError


class WriteReply(Pending):
    """The reply to one write command."""

    __slots__ = ("metrics", "name", "proto")

    def __init__(self, proposal: Proposal, name: str, proto: int, metrics: Metrics) -> None:
        super().__init__(proposal)
        self.name = name
        self.proto = proto  # as when it was sent: a HELLO after it does not change its reply
        self.metrics = metrics

    def complete(self, proposal: Proposal) -> bytes:
        reply = proposal.reply
        error = reply if isinstance(reply, ErrorReply) else None
        self.metrics.called(self.name, proposal.apply_us, error)
        return encode_reply(reply, self.proto)


class SubmittedReply(Pending):
    """The reply a connection-level handler builds from its applied entry (EXEC)."""

    __slots__ = ("finish", "proto")

    def __init__(self, proposal: Proposal, finish: Callable[[Proposal], Reply], proto: int) -> None:
        super().__init__(proposal)
        self.finish = finish
        self.proto = proto

    def complete(self, proposal: Proposal) -> bytes:
        return encode_reply(self.finish(proposal), self.proto)
