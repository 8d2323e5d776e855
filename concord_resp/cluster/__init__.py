"""The glue between connections and the log: proposals, commit, apply, active expiry."""

from .single import Proposal, SingleNode

__all__ = ["Proposal", "SingleNode"]
