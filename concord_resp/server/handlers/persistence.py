"""Persistence commands: SAVE, BGSAVE, LASTSAVE, over this node's snapshots.

Concord's log replaces Redis's RDB and AOF files; a snapshot (written by a forked child, see
`cluster.snapshots`) is what SAVE and BGSAVE make, on the node they are sent to. SAVE waits
for its snapshot (route CLUSTER: only this client waits, the others are served meanwhile).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ...commands import CommandError, Route
from ...commands.errors import SYNTAX
from ...resp import OK, ErrorReply, Reply, SimpleString
from ..client import ClientState
from .base import handler

if TYPE_CHECKING:
    from ..dispatch import Dispatcher

IN_PROGRESS: Final = "ERR Background save already in progress"


@handler("bgsave", route=Route.LOCAL)
def bgsave(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    # SCHEDULE only matters in Redis when another kind of child runs; Concord has none.
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() != b"schedule"):
        raise CommandError(SYNTAX)
    node = d.state.node
    if node.snapshots.taking:
        raise CommandError(IN_PROGRESS)
    node.start_snapshot()
    # Redis schedules a BGSAVE run by EXEC (`server.in_exec`); Concord starts it at once.
    return SimpleString(
        b"Background saving scheduled" if client.in_exec else b"Background saving started"
    )


@handler("save", route=Route.CLUSTER)
async def save(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    node = d.state.node
    if node.snapshots.taking:
        raise CommandError(IN_PROGRESS)
    # Only this client waits (Redis's SAVE blocks every client; Concord's child does not).
    return OK if await node.snapshot_now() else ErrorReply(b"ERR")


@handler("lastsave")
def lastsave(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    # The last snapshot written (or restored) by this node, else the start-up time.
    return int(d.state.node.snapshots.time) or d.state.last_save
