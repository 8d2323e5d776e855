"""Concord's own cluster commands: RAFT.NODES, RAFT.TRANSFER_LEADER, RAFT.NODE ADD/REMOVE.

Each is an operator request the leader answers (`RaftNode.leader_request`: here if this node
leads, else over the peer link), so any node takes them. They wait for the cluster (route
CLUSTER) and are refused inside MULTI (`no_multi`, see `commands/spec_extra.py`); an error
from the cluster (`ClusterError`) is the reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ...commands import CommandError, Route
from ...commands.errors import SYNTAX
from ...resp import OK, Map, Reply
from ..client import ClientState
from .base import handler

if TYPE_CHECKING:
    from ..dispatch import Dispatcher

NODE_FIELDS: Final = (
    "name",
    "address",
    "role",
    "voter",
    "match",
    "lag",
    "last_contact_ms",
    "reachable",
)


@handler("raft.nodes", route=Route.CLUSTER)
async def raft_nodes(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """One entry per member, as the leader sees it (a follower asks the leader)."""
    rows = await d.state.node.leader_request(["nodes"])
    return [_node_entry(row, client.proto) for row in rows]


def _node_entry(row: dict[str, object], proto: int) -> Reply:
    pairs = []
    for field in NODE_FIELDS:
        value = row.get(field)
        pairs.append((field.encode(), value if isinstance(value, int) else str(value).encode()))
    if proto >= 3:
        return Map(pairs)
    return [item for pair in pairs for item in pair]


@handler("raft.transfer_leader", route=Route.CLUSTER)
async def raft_transfer_leader(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """RAFT.TRANSFER_LEADER [name]: hand leadership to `name`, or to the most up-to-date
    voter; +OK once it leads."""
    if len(argv) > 2:
        raise CommandError(SYNTAX)
    target = argv[1].decode(errors="replace") if len(argv) == 2 else None
    await d.state.node.leader_request(["transfer", target])
    return OK


@handler("raft.node|add", route=Route.CLUSTER)
async def raft_node_add(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """RAFT.NODE ADD name host:port@cluster-port: +OK once the node is a learner (it is
    promoted to voter when it has caught up); +OK too if it is already a member there."""
    name, address = argv[2].decode(errors="replace"), argv[3].decode(errors="replace")
    await d.state.node.leader_request(["add", name, address])
    return OK


@handler("raft.node|remove", route=Route.CLUSTER)
async def raft_node_remove(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """RAFT.NODE REMOVE name [FORCE]."""
    if len(argv) > 4 or (len(argv) == 4 and argv[3].upper() != b"FORCE"):
        raise CommandError(SYNTAX)
    await d.state.node.leader_request(["remove", argv[2].decode(errors="replace"), len(argv) == 4])
    return OK
