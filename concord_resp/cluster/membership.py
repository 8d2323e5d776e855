"""Membership: who the members are and where, and changing it one server at a time.

The member directory follows the log: the founding members of `--initial-cluster`, plus the
members added through the log (their addresses are in the conf-change entries, kept by the
state machine), minus those removed; the peer link dials whoever is in the configuration.
Changes go through the log one at a time (thesis 4.1); the core refuses one while another is
pending or before a new leader has committed an entry of its term (Ongaro's 2015 fix), which
is retried until the write timeout. A learner that has caught up and is reachable is promoted
to voter by the leader. A removed member may never apply the entry that removed it, so the
leader tells it for a while (`removed` frames naming that entry). Being removed is for good
(the server records it in the data directory), so a node believes such a notice only from a
member, and only once its own log agrees: its applied configuration no longer lists it, or
the entry the notice names is in its log and removes it (log matching: then it is the
leader's committed entry). A wrong notice, forged or stale, is logged and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import trio

from ..raft.core import (
    ConfChange,
    ConfChangeType,
    EntryKind,
    ProposalDropped,
    RawNode,
    Status,
    StorageError,
    decode_conf_change,
)
from .peer_protocol import Removed
from .reads import ClusterError

if TYPE_CHECKING:
    from .node import RaftNode

log = logging.getLogger("concord.node")

PROMOTE_LAG: Final = 64  # a learner this close to the commit index has caught up
FAREWELLS: Final = 6  # "you were removed" notices, half an election timeout apart


@dataclass(frozen=True, slots=True)
class Member:
    """A member as given by `--initial-cluster`: `name=host:port@cluster-port`."""

    name: str
    host: str
    port: int
    cluster_port: int

    def spec(self) -> str:
        return f"{self.name}={self.host}:{self.port}@{self.cluster_port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}@{self.cluster_port}"

    @classmethod
    def parse(cls, name: str, address: str) -> Member:
        """`host:port@cluster-port` (ValueError if it is not one)."""
        host_port, at, cluster = address.rpartition("@")
        host, colon, port = host_port.rpartition(":")
        if not (name and at and colon and host and port.isdigit() and cluster.isdigit()):
            raise ValueError(f"{address!r} is not host:port@cluster-port")
        if not (0 < int(port) < 65536 and 0 < int(cluster) < 65536):
            raise ValueError(f"{address!r} has a port out of range")
        return cls(name, host.strip("[]"), int(port), int(cluster))


class Membership:
    def __init__(self, node: RaftNode, members: dict[str, Member]) -> None:
        self.node = node
        self.initial = dict(members)  # from --initial-cluster: the bootstrap
        self.members = dict(members)  # known addresses: those plus changes in the log
        self.removed = False  # this node was removed from the cluster
        self.on_removed: Callable[[], None] | None = None  # the server records it
        self._farewells: dict[str, Member] = {}  # removed members still being told so
        self._removals: dict[str, Removed] = {}  # the entries that removed members (applied)

    def changed(self) -> None:
        """Rebuild the directory from the log's changes; point the peer link at it."""
        node = self.node
        machine = node.machine
        before = self.members
        changes = machine.members
        members = {n: m for n, m in self.initial.items() if n not in changes.removed}
        for name, address in changes.added.items():
            try:
                members[name] = Member.parse(name, address)
            except ValueError:
                log.error("member %s has an unusable address %r", name, address)
        self.members = members
        if node.name in changes.removed:
            self.set_removed()
        # A member just removed may never see the entry that removed it (we stop sending it
        # entries at once): tell it for a while, so that it stops serving and campaigning.
        nursery = node.nursery
        for name in before.keys() - members.keys():
            if (
                nursery is not None
                and name in changes.removed
                and name in self._removals
                and name not in self._farewells
            ):
                self._farewells[name] = before[name]
                nursery.start_soon(self._farewell, name)
        transport = node.transport
        if transport is not None and node.rn is not None:
            configured = node.refresh_status().members
            peers = {n: m for n, m in members.items() if n in configured and n != node.name}
            transport.set_peers(
                {
                    name: (member.host, member.cluster_port)
                    for name, member in {**peers, **self._farewells}.items()
                }
            )

    def note_removal(self, name: str, index: int, term: int) -> None:
        """The entry at `index` (of `term`), applied now, removes `name`: what the notices
        to `name` will point at."""
        self._removals[name] = Removed(index, term)

    async def _farewell(self, name: str) -> None:
        notice = self._removals.pop(name)
        try:
            for _ in range(FAREWELLS):
                self.node.send_frame(name, notice)
                await trio.sleep(self.node.election_timeout() / 2)
        finally:
            del self._farewells[name]
        self.changed()

    def set_removed(self) -> None:
        """This node is no longer a member: it stops serving and campaigning."""
        if self.removed:
            return
        self.removed = True
        log.warning("this node was removed from the cluster; it no longer serves")
        if self.on_removed is not None:
            self.on_removed()

    def told_removed(self, sender: str, notice: Removed) -> None:
        """A member tells us we were removed: believed once our own log agrees (see the
        module's docstring)."""
        if self.removed or sender not in self.members:
            return
        if self.node.machine.applied_index < notice.entry_index and self._removes_us(notice):
            self.set_removed()
            return
        # Applied past it, our configuration (`changed`) still lists us; or we do not hold
        # that entry (yet: the leader tells us again).
        log.warning(
            "ignoring a notice from %s that this node was removed: this node's log does not"
            " show it (entry %d of term %d)",
            sender,
            notice.entry_index,
            notice.entry_term,
        )

    def _removes_us(self, notice: Removed) -> bool:
        """Whether our log holds, at the notice's index and term, the entry removing us."""
        try:
            entry = self.node.storage.entries(notice.entry_index, notice.entry_index + 1, 1)[0]
        except StorageError:
            return False  # compacted (then applied) or not there
        if entry.term != notice.entry_term or entry.kind != EntryKind.CONF_CHANGE:
            return False
        change = decode_conf_change(entry.data)
        return change.type == ConfChangeType.REMOVE and change.node == self.node.name

    def promote_learners(self, rn: RawNode, status: Status) -> None:
        """(Leader.) A learner that has caught up, and that we can reach, becomes a voter.
        One change at a time: the core refuses a second while one is pending."""
        if not status.is_leader or not status.learners:
            return
        if status.pending_conf_index > status.applied:
            return
        links = self.node.transport.status() if self.node.transport is not None else {}
        replication = rn.progress()
        for name in status.learners:
            progress = replication.get(name)
            member = self.members.get(name)
            link = links.get(name)
            if (
                progress is None
                or member is None
                or not progress.recent_active
                or progress.match + PROMOTE_LAG < status.commit
                or (link is not None and not link.connected)
            ):
                continue
            try:
                rn.propose_conf_change(
                    ConfChange(ConfChangeType.ADD_VOTER, name, member.address.encode())
                )
            except ProposalDropped:
                return
            log.info("promoting %s to voter: it has caught up", name)
            return

    async def _change(self, change: ConfChange) -> int:
        """(Leader.) Propose one membership change and wait until it is applied here. The
        core refuses while another change is pending or before a new leader has committed
        an entry of its term: that is retried until the write timeout."""
        node = self.node
        proposed: list[int] = []
        refused: list[str] = []

        with trio.move_on_after(node.config.write_timeout):
            while not proposed:
                refused.clear()
                tried = trio.Event()

                def propose(rn: RawNode, tried: trio.Event = tried) -> None:
                    try:
                        proposed.append(rn.propose_conf_change(change))
                    except ProposalDropped as error:
                        refused.append(str(error))
                    tried.set()

                node.run_in_loop(propose)
                await tried.wait()
                if refused and not node.is_leader:
                    break
                if refused:
                    await trio.sleep(node.config.tick_seconds)  # another change is pending
            if proposed:
                await node.wait_applied(proposed[0])
        if refused and not proposed:
            raise ClusterError(f"ERR cannot change the membership now ({refused[0]}); try again")
        if not proposed or node.machine.applied_index < proposed[0]:
            raise ClusterError("TIMEOUT the membership change was not committed in time")
        if not self._in_effect(change):
            # Our entry was replaced by a new leader's before it committed.
            raise ClusterError("TIMEOUT leadership changed before the change committed; try again")
        return proposed[0]

    def _in_effect(self, change: ConfChange) -> bool:
        status = self.node.refresh_status()
        voters, learners = status.voters, status.learners
        if change.type == ConfChangeType.REMOVE:
            return change.node not in voters and change.node not in learners
        if change.type == ConfChangeType.ADD_LEARNER:
            return change.node in learners or change.node in voters  # promoted already
        return change.node in voters

    async def add(self, name: str, address: str) -> str:
        """(Leader.) Add `name` at `address` as a learner; it is promoted to voter once it
        has caught up. Adding a member again at the same address changes nothing."""
        status = self.node.status
        try:
            member = Member.parse(name, address)
        except ValueError as error:
            raise ClusterError(f"ERR {error}") from None
        if name in self.node.machine.members.removed:
            raise ClusterError(
                f"ERR a node named '{name}' was removed from this cluster; join under a new name"
            )
        if name in status.members:
            known = self.members.get(name)
            if known is not None and known.address == member.address:
                return "voter" if name in status.voters else "learner"
            raise ClusterError(
                f"ERR a member named '{name}' already exists at"
                f" {known.address if known else 'an unknown address'}"
            )
        await self._change(ConfChange(ConfChangeType.ADD_LEARNER, name, member.address.encode()))
        return "learner"

    async def remove(self, name: str, force: bool) -> str:
        """(Leader.) Remove `name`. Refused if the voters left that we can reach would be
        fewer than their quorum, unless `force`. The leader hands over leadership first and
        lets the new leader remove it."""
        node = self.node
        status = node.status
        if name not in status.members:
            raise ClusterError(f"ERR no member named '{name}'")
        voters_after = [voter for voter in status.voters if voter != name]
        if not voters_after:
            raise ClusterError("ERR cannot remove the last voter")
        rows = {row["name"]: row for row in node.admin.nodes_table()}
        reachable = [voter for voter in voters_after if rows[voter]["reachable"] == 1]
        quorum = len(voters_after) // 2 + 1
        if len(reachable) < quorum and not force:
            raise ClusterError(
                f"ERR removing '{name}' would leave {len(reachable)} reachable voters of"
                f" {len(voters_after)}, fewer than a quorum ({quorum}); add FORCE to remove it"
                " anyway"
            )
        if name == node.name:
            await node.admin.transfer_leadership()
            # Checked above with this leader's fresh view; the new one has just been elected
            # and may not have heard from every follower yet.
            result = await node.leader_request(["remove", name, True])
            return str(result)
        await self._change(ConfChange(ConfChangeType.REMOVE, name))
        return "removed"
