"""The glue between connections and the log: proposals, commit, apply, active expiry."""

from .single import Proposal, SingleNode, open_wal

__all__ = ["Proposal", "SingleNode", "open_wal"]
