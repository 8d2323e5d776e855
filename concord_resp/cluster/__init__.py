"""The glue between connections and the Raft log: proposals, forwarding, reads, expiry."""

from .node import ClusterError, Member, Proposal, RaftNode

__all__ = ["ClusterError", "Member", "Proposal", "RaftNode"]
