"""The glue between connections and the Raft log, one module per concern (see `node`)."""

from .membership import Member
from .node import RaftNode
from .node_config import NodeConfig
from .proposals import Proposal
from .reads import ClusterError

__all__ = ["ClusterError", "Member", "NodeConfig", "Proposal", "RaftNode"]
