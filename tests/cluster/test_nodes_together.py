"""Three `RaftNode`s in one trio run over the in-memory peer link of `tests.support.node_link`.

What is shown here: writes forwarded by followers are applied once even when they arrive
twice, every node converges on the same data, a follower reads its own cluster's latest
write, a write too large for one peer frame is refused, and a node cut off from the others
answers `CLUSTERDOWN` / `TIMEOUT` instead of serving.
"""

from __future__ import annotations

from pathlib import Path

import cbor2
import pytest
import trio

from concord_resp.cluster import ClusterError, Proposal
from concord_resp.resp import OK
from concord_resp.state import OP_COMMAND, OP_EXPIRE, OP_MULTI
from tests.support.node_link import NAMES, cluster, converged, follower, leader_of, write
from tests.support.waiting import wait_until


async def test_followers_forward_writes_and_every_node_applies_them(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        await leader_of(link)
        for node in link.nodes.values():
            assert await write(node, b"APPEND", b"k", node.name.encode()) == b":%d\r\n" % (
                2 * int(node.name[1:])
            )
        assert await converged(link, b"k") == {b"n1n2n3"}
        assert link.forwards_seen >= 2  # the two followers' writes went through the leader


async def test_a_forwarded_write_delivered_twice_is_applied_once(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        link.duplicate_forwards = True
        other = follower(link, lead)
        assert await write(other, b"INCR", b"counter") == b":1\r\n"
        assert await write(other, b"INCR", b"counter") == b":2\r\n"
        assert await converged(link, b"counter") == {b"2"}
        transaction = Proposal(OP_MULTI, 0, [[b"INCR", b"counter"], [b"INCR", b"counter"]])
        other.submit(transaction)
        with trio.fail_after(10):
            await transaction.wait()
        assert transaction.reply == [3, 4]
        assert await converged(link, b"counter") == {b"4"}


async def test_writes_too_large_for_one_peer_frame_are_refused_and_the_rest_go_on(
    tmp_path: Path,
) -> None:
    limit = 4096
    async with cluster(tmp_path, max_entry_bytes=limit) as link:
        lead = await leader_of(link)
        other = follower(link, lead)
        forwards: list[bytes] = []

        def record(sender: str, to: str, frame: object) -> object:
            if isinstance(frame, list) and frame[0] == "fwd":
                forwards.append(cbor2.dumps(frame))
            return frame

        link.filter = record
        for node in (lead, other):  # proposed, or forwarded
            reply = await write(node, b"SET", b"big", b"v" * limit)
            assert reply.startswith(b"-ERR write of ")
            assert b"is too large for the peer link (at most 4096 bytes" in reply
        # A round of writes too large together for one frame goes in several.
        proposals = [Proposal(OP_COMMAND, 0, [b"SET", b"k%d" % i, b"v" * 1000]) for i in range(8)]
        for proposal in proposals:
            other.submit(proposal)
        with trio.fail_after(10):
            for proposal in proposals:
                await proposal.wait()
        assert [p.reply for p in proposals] == [OK] * 8
        assert len(forwards) >= 3
        assert all(len(frame) <= limit for frame in forwards)
        assert await converged(link, b"k7") == {b"v" * 1000}
        assert await converged(link, b"big") == {None}


async def test_an_entry_too_large_for_the_link_is_not_sent_and_the_leader_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # (An entry from before --cluster-max-frame was lowered: writes are refused before.)
    async with cluster(tmp_path, write_timeout=0.5) as link:
        lead = await leader_of(link)
        link.max_frame = 4096
        reply = await write(lead, b"SET", b"big", b"v" * 8192)
        assert reply == b"-TIMEOUT not committed yet\r\n"  # no follower could get it
        assert lead.is_leader
        too_large = [r for r in caplog.records if "cannot send a frame to" in r.getMessage()]
        assert 1 <= len(too_large) <= 2  # once a minute per follower, while Raft retries


async def test_a_resent_write_is_applied_once(tmp_path: Path) -> None:
    # A follower resends every unapplied write each resend interval; with an interval far
    # shorter than a round trip through the log, most writes are proposed several times.
    async with cluster(tmp_path, resend_interval=0.001) as link:
        lead = await leader_of(link)
        other = follower(link, lead)
        proposals = [Proposal(OP_COMMAND, 0, [b"INCR", b"c"]) for _ in range(50)]
        for proposal in proposals:
            other.submit(proposal)
        with trio.fail_after(10):
            for proposal in proposals:
                await proposal.wait()
        assert sorted(p.reply for p in proposals) == list(range(1, 51))  # type: ignore[type-var]
        assert await converged(link, b"c") == {b"50"}


async def test_a_follower_read_sees_the_latest_write_made_elsewhere(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        other = follower(link, lead)
        for i in range(20):
            await write(lead, b"SET", b"k", b"%d" % i)
            await other.read_barrier()  # ReadIndex through the leader, then wait to apply
            assert other.machine.keyspace.dbs[0].get(b"k", 0) == b"%d" % i


async def test_a_node_cut_off_answers_errors_and_the_majority_goes_on(tmp_path: Path) -> None:
    async with cluster(tmp_path, write_timeout=0.3, read_timeout=0.3) as link:
        lead = await leader_of(link)
        await write(lead, b"SET", b"k", b"before")
        lonely = follower(link, lead)
        link.cut.add(lonely.name)
        rest = tuple(n for n in NAMES if n != lonely.name)
        # While it still believes in the old leader it forwards: the outcome is unknown.
        reply = await write(lonely, b"SET", b"k", b"lonely")
        assert reply in (b"-TIMEOUT not committed yet\r\n", b"-CLUSTERDOWN No raft leader\r\n")
        with pytest.raises(ClusterError) as raised:
            await lonely.read_barrier()
        assert raised.value.message in (
            b"TIMEOUT no quorum for read",
            b"CLUSTERDOWN No raft leader",
        )
        # Once its election timeout passes it knows no leader: nothing is appended.
        with trio.fail_after(10):
            await wait_until(lambda: not lonely.leader, interval=0.005)
        assert await write(lonely, b"SET", b"k", b"x") == b"-CLUSTERDOWN No raft leader\r\n"
        with pytest.raises(ClusterError) as raised:
            await lonely.read_barrier()
        assert raised.value.message == b"CLUSTERDOWN No raft leader"
        # The majority keeps serving, reads included.
        majority = await leader_of(link, rest)
        assert await write(majority, b"SET", b"k", b"after") == b"+OK\r\n"
        await link.nodes[rest[0]].read_barrier()
        # Healed: the lonely node catches up and never applied its own unknown-outcome write
        # after the majority's (it may have been applied before it, never after).
        link.cut.clear()
        await leader_of(link)
        assert await converged(link, b"k") == {b"after"}


async def test_the_leader_cut_off_times_out_writes_and_reads(tmp_path: Path) -> None:
    async with cluster(tmp_path, write_timeout=0.05, read_timeout=0.05) as link:
        lead = await leader_of(link)
        link.cut.add(lead.name)
        # Within its election timeout (100 ms) it still leads: the write is appended but
        # cannot commit, so its outcome is unknown; a read cannot confirm leadership.
        assert await write(lead, b"SET", b"k", b"v") == b"-TIMEOUT not committed yet\r\n"
        with pytest.raises(ClusterError) as raised:
            await lead.read_barrier()
        assert raised.value.message in (
            b"TIMEOUT no quorum for read",
            b"CLUSTERDOWN No raft leader",
        )
        rest = tuple(n for n in NAMES if n != lead.name)
        new = await leader_of(link, rest)
        assert new is not lead
        assert await write(new, b"SET", b"k", b"w") == b"+OK\r\n"
        link.cut.clear()
        await leader_of(link)
        assert await converged(link, b"k") == {b"w"}


async def test_only_the_leader_proposes_active_expiry(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        for node in link.nodes.values():
            node.expiry.interval = 0.01
        await write(follower(link, lead), b"SET", b"short", b"v", b"PX", b"30")
        with trio.fail_after(10):  # deleted by a log entry on every node, not just hidden
            await wait_until(
                lambda: (
                    not any(b"short" in n.machine.keyspace.dbs[0].data for n in link.nodes.values())
                ),
                interval=0.01,
            )
        storage = lead.storage
        entries = storage.entries(storage.first_index(), storage.last_index() + 1, 1 << 30)
        expiries = [
            op for op in (cbor2.loads(e.data) for e in entries if e.data) if op[0] == OP_EXPIRE
        ]
        assert [op[3] for op in expiries] == [[b"short"]]  # one deletion, by one proposer
