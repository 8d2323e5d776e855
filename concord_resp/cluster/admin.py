"""Operator requests (the RAFT.* commands): answered by the leader, asked on any node.

`leader_request` runs a request on the leader: here if this node leads, else it is sent over
the peer link (`Ask`) and the leader's `Answer` comes back, bounded by the write timeout plus
two election timeouts. Requests: `["nodes"]` (the members table), `["transfer", name|None]`,
`["add", name, address]`, `["remove", name, force]`. Refusals are `ClusterError`s, whose text
is the client's error reply.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from ..raft.core import ProposalDropped, RawNode
from .peer_protocol import Answer, Ask
from .reads import ClusterError

if TYPE_CHECKING:
    from .node import RaftNode

log = logging.getLogger("concord.node")


class _Question:
    """An operator request sent to the leader, waiting for its answer."""

    __slots__ = ("answered", "error", "value")

    def __init__(self) -> None:
        self.answered = trio.Event()
        self.error: str | None = None
        self.value: object = None


class Admin:
    def __init__(self, node: RaftNode) -> None:
        self.node = node
        self._questions: dict[int, _Question] = {}
        self._next = 0

    async def leader_request(self, request: list[Any]) -> Any:
        node = self.node
        if not node.leader:  # just started, or an election is running: give it a moment
            with trio.move_on_after(2 * node.election_timeout()):
                while not node.leader:
                    await node.leader_changed()
        if node.is_leader:
            return await self._serve(request)
        leader = node.leader
        if not leader or node.transport is None:
            raise ClusterError("CLUSTERDOWN No raft leader")
        self._next += 1
        number = self._next
        question = self._questions[number] = _Question()
        try:
            if not node.send_frame(leader, Ask(number, request)):
                raise ClusterError(f"CLUSTERDOWN cannot reach the leader {leader}")
            with trio.move_on_after(node.config.write_timeout + node.election_timeout() * 2):
                await question.answered.wait()
        finally:
            del self._questions[number]
        if not question.answered.is_set():
            raise ClusterError(f"TIMEOUT the leader {leader} did not answer")
        if question.error is not None:
            raise ClusterError(question.error)
        return question.value

    def asked(self, rn: RawNode, sender: str, frame: Ask) -> None:
        """A follower's request: answered from a task of its own (it may wait)."""
        if self.node.nursery is not None:
            self.node.nursery.start_soon(self._answer, sender, frame)

    async def _answer(self, sender: str, frame: Ask) -> None:
        try:
            value, error = await self._serve(frame.request), None
        except ClusterError as failure:
            value, error = None, failure.message.decode()
        self.node.send_frame(sender, Answer(frame.number, error, value))

    def answered(self, rn: RawNode, sender: str, frame: Answer) -> None:
        question = self._questions.get(frame.number)
        if question is not None and not question.answered.is_set():
            question.error = frame.error
            question.value = frame.value
            question.answered.set()

    async def _serve(self, request: list[Any]) -> Any:
        node = self.node
        if not node.is_leader:
            raise ClusterError("CLUSTERDOWN this node is no longer the leader, try again")
        kind = request[0] if request else None
        if kind == "transfer" and len(request) == 2:
            return await self.transfer_leadership(request[1])
        if kind == "nodes":
            return self.nodes_table()
        if kind == "add" and len(request) == 3:
            return await node.membership.add(str(request[1]), str(request[2]))
        if kind == "remove" and len(request) == 3:
            return await node.membership.remove(str(request[1]), bool(request[2]))
        raise ClusterError(f"ERR unknown request {kind!r}")

    async def transfer_leadership(self, target: str | None = None) -> str:
        """(On the leader.) Hand leadership to `target`, by default the voter whose log is
        the most up to date, and return once it leads. Raises ClusterError if there is no
        such voter or the transfer did not finish within two election timeouts."""
        node = self.node
        status = node.refresh_status()
        if not status.is_leader:
            raise ClusterError("CLUSTERDOWN this node is not the leader")
        others = [name for name in status.voters if name != node.name]
        if target is None:
            if not others:
                raise ClusterError("ERR there is no other voter to hand leadership to")
            connected = self.connected_voters()
            if not connected:
                raise ClusterError("ERR no other voter is connected to hand leadership to")
            progress = node.progress()
            target = max(connected, key=lambda n: (progress[n].recent_active, progress[n].match))
        elif target == node.name:
            return target
        elif target not in others:
            raise ClusterError(f"ERR no voter named '{target}'")
        chosen = target

        def start(rn: RawNode) -> None:
            try:
                rn.transfer_leadership(chosen)
            except ProposalDropped:
                pass  # no longer leading: the wait below fails or sees the new leader

        node.run_in_loop(start)
        log.info("handing leadership to %s", chosen)
        with trio.move_on_after(2 * node.election_timeout()):
            while node.leader != chosen:
                await node.leader_changed()
        if node.leader != chosen:
            raise ClusterError(
                f"TIMEOUT leadership did not move to '{chosen}' (the leader is now"
                f" '{node.leader or 'none'}')"
            )
        return chosen

    def connected_voters(self) -> list[str]:
        """The other voters this node's peer links reach now (all of them without a
        transport): the only ones worth handing leadership to (one that has stopped, as
        when a whole cluster is being stopped, is not)."""
        node = self.node
        others = [name for name in node.refresh_status().voters if name != node.name]
        if node.transport is None:
            return others
        links = node.transport.status()
        return [name for name in others if name in links and links[name].connected]

    def nodes_table(self) -> list[dict[str, object]]:
        """(On the leader.) One row per member: what RAFT.NODES and `concord status` show."""
        node = self.node
        status = node.refresh_status()
        now = trio.current_time()
        links = node.transport.status() if node.transport is not None else None
        last = status.last_index
        replication = node.progress()
        rows: list[dict[str, object]] = []
        for name in sorted(status.members):
            member = node.membership.members.get(name)
            progress = replication.get(name)
            if name == node.name:
                match, contact, reachable = last, 0, True
            else:
                match = progress.match if progress is not None else -1
                heard = node.last_contact.get(name)
                contact = int((now - heard) * 1000) if heard is not None else -1
                link = links.get(name) if links is not None else None
                # Our link to it is up (if there is a transport) and we heard from it lately.
                connected = link.connected if link is not None else links is None
                reachable = connected and 0 <= contact <= 1000 * node.election_timeout()
            learner = name in status.learners
            rows.append(
                {
                    "name": name,
                    "address": member.address if member else "?",
                    "role": "leader"
                    if name == status.lead
                    else ("learner" if learner else "follower"),
                    "voter": 0 if learner else 1,
                    "match": match,
                    "lag": last - match if match >= 0 else -1,
                    "last_contact_ms": contact,
                    "reachable": int(reachable),
                }
            )
        return rows
