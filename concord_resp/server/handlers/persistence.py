"""Persistence commands: SAVE, BGSAVE, LASTSAVE, SHUTDOWN, RAFT.BACKUP, over this node's
snapshots.

Concord's log replaces Redis's RDB and AOF files; a snapshot (written by a forked child, see
`cluster.snapshots`) is what SAVE and BGSAVE make, on the node they are sent to. SAVE waits
for its snapshot (route CLUSTER: only this client waits, the others are served meanwhile).
RAFT.BACKUP OPEN does the same and RAFT.BACKUP READ hands the file out in chunks (read off
the event loop), which is how `concord backup` copies a consistent snapshot over the network.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

import trio

from ...commands import CommandError, Route
from ...commands.errors import SYNTAX
from ...raft.driver.snapshot_file import list_snapshots
from ...resp import OK, ErrorReply, Reply, SimpleString, string2ll
from ..client import ClientState
from .base import handler
from .client import NO_REPLY

if TYPE_CHECKING:
    from ..dispatch import Dispatcher

log = logging.getLogger("concord.server")

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


# -- SHUTDOWN: stop this node, as SIGTERM does ------------------------------------------------

_SHUTDOWN_FLAGS: Final = frozenset({b"nosave", b"save", b"now", b"force", b"abort"})
BUSY_SCRIPT: Final = (
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
)


@handler("shutdown", route=Route.CLUSTER)
async def shutdown(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: this node stops as on SIGTERM (in-flight
    commands finish, leadership is handed over first); the client gets no reply, its
    connection closes. Every acknowledged write is in the log already, so nothing is saved
    unless SAVE asks for a snapshot first; NOW and FORCE change nothing (no replicas to wait
    for, no save to fail past, except SAVE's: FORCE stops even if it fails). A shutdown once
    begun cannot be aborted."""
    flags = {argument.lower() for argument in argv[1:]}
    if not flags <= _SHUTDOWN_FLAGS or len(flags) != len(argv) - 1:
        raise CommandError(SYNTAX)
    if (b"abort" in flags and len(flags) > 1) or {b"save", b"nosave"} <= flags:
        raise CommandError(SYNTAX)
    if b"abort" in flags:
        raise CommandError("ERR No shutdown in progress.")
    node = d.state.node
    if b"nosave" not in flags and node.applier.busy:
        raise CommandError(BUSY_SCRIPT)
    if b"save" in flags and not await node.snapshot_now() and b"force" not in flags:
        raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
    log.warning("SHUTDOWN asked by client id=%d addr=%s", client.id, client.addr)
    if d.state.request_shutdown is not None:
        d.state.request_shutdown()
    d.state.clients.close_now(client)  # (redis-cli takes the closed connection for success)
    return NO_REPLY


# -- RAFT.BACKUP: a snapshot over the client port (`concord backup`) ------------------------

BACKUP_CHUNK_MAX: Final = 8 << 20  # bytes one READ may ask for: the reply is held in memory
_BACKUP_NAME: Final = re.compile(rb"snapshot-[0-9]{20}-[0-9]{20}\.snap")


@handler("raft.backup|open", route=Route.CLUSTER)
async def raft_backup_open(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """Write a snapshot now (one applied index: a consistent backup, taken at a read point so
    it holds every write acknowledged before) and answer
    [name, size, sha256 hex, index]. The client then READs it in chunks and checks the
    digest; the file stays until two newer snapshots replace it (READ then says so)."""
    node = d.state.node
    directory = node.config.snapshot_dir
    if directory is None:
        raise CommandError("ERR this node keeps no snapshots")
    # A read point first (thesis 6.4: ReadIndex): the snapshot then holds every write
    # acknowledged before the backup began, on a follower too. A ClusterError is the reply.
    await node.read_barrier()
    if node.snapshots.taking:
        raise CommandError(IN_PROGRESS)
    if not await node.snapshot_now():
        raise CommandError("ERR the snapshot failed (see the server's log)")
    newest = list_snapshots(directory)
    if not newest:
        raise CommandError("ERR the snapshot is not on disk")
    info = newest[0]
    try:
        size, digest = await trio.to_thread.run_sync(_size_and_digest, info.path)
    except OSError as error:
        raise CommandError(f"ERR cannot read {info.path.name}: {error.strerror}") from None
    return [info.path.name.encode(), size, digest.encode(), info.index]


def _size_and_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


@handler("raft.backup|read", route=Route.CLUSTER)
async def raft_backup_read(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """RAFT.BACKUP READ name offset count: up to `count` bytes of that snapshot file from
    `offset` (fewer at its end, empty past it)."""
    name, offset, count = argv[2], string2ll(argv[3]), string2ll(argv[4])
    if _BACKUP_NAME.fullmatch(name) is None:
        raise CommandError("ERR not a snapshot name")
    if offset is None or count is None or offset < 0 or not 0 < count <= BACKUP_CHUNK_MAX:
        raise CommandError(f"ERR offset must be 0 or more and count 1 to {BACKUP_CHUNK_MAX}")
    directory = d.state.node.config.snapshot_dir
    if directory is None:
        raise CommandError("ERR this node keeps no snapshots")
    path = directory / name.decode()
    try:
        return await trio.to_thread.run_sync(_read_chunk, path, offset, count)
    except FileNotFoundError:
        raise CommandError(
            "ERR the snapshot is gone (newer ones replaced it): start the backup again"
        ) from None
    except OSError as error:
        raise CommandError(f"ERR cannot read {name.decode()}: {error.strerror}") from None


def _read_chunk(path: Path, offset: int, count: int) -> bytes:
    with open(path, "rb") as file:
        file.seek(offset)
        return file.read(count)
