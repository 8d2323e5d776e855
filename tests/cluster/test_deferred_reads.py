"""Reads pipelined behind a client's own writes: deferred, not awaited, and still right.

A client that pipelines `SET k v` / `GET k` pairs must get each GET's answer from the state
after its SET and before the next SET (read-your-writes, and nothing sent later seen), while
the next SETs are submitted at once. Shown here through a follower of three nodes, with the
real dispatcher over the in-memory peer link (a single node: tests/server/test_pipelining.py);
and the read must still be linearizable when the client's own write is applied late: a write
another client had acknowledged before the read was sent is seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from concord_resp.commands import build_table
from concord_resp.config import Config
from concord_resp.raft.core import MessageType
from concord_resp.raft.driver.codec import decode_message
from concord_resp.server.client import ClientState
from concord_resp.server.dispatch import CollectingSink, Dispatcher
from concord_resp.server.handlers import CONNECTION
from concord_resp.server.state import ServerState
from tests.support.node_link import cluster, follower, leader_of, write
from tests.support.waiting import wait_until

TABLE = build_table(CONNECTION)


def dispatcher_on(node: Any, directory: Path) -> Dispatcher:
    return Dispatcher(ServerState(Config(dir=directory, port=0), TABLE, node.machine, node))


def a_client(number: int = 1) -> ClientState:
    return ClientState(id=number, addr=f"127.0.0.1:{40000 + number}", laddr="x", fd=number)


def pairs(count: int) -> list[list[bytes]]:
    batch: list[list[bytes]] = []
    for i in range(count):
        batch.append([b"SET", b"k", b"v%d" % i])
        batch.append([b"GET", b"k"])
    batch += [[b"INCR", b"n"], [b"GET", b"n"], [b"INCR", b"n"], [b"GET", b"n"]]
    return batch


def expected(count: int) -> list[bytes]:
    replies: list[bytes] = []
    for i in range(count):
        replies += [b"+OK\r\n", b"$%d\r\nv%d\r\n" % (len(b"v%d" % i), i)]
    return [*replies, b":1\r\n", b"$1\r\n1\r\n", b":2\r\n", b"$1\r\n2\r\n"]


async def test_pipelined_pairs_through_a_follower(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        other = follower(link, lead)
        asked: list[str] = []

        def count_read_index(sender: str, to: str, frame: Any) -> Any:
            if frame[0] == "raft" and decode_message(frame[1]).type == MessageType.READ_INDEX:
                asked.append(sender)
            return frame

        link.filter = count_read_index
        dispatcher = dispatcher_on(other, tmp_path / "state")
        with trio.fail_after(20):
            replies = await dispatcher.run_batch(a_client(), pairs(200))
        assert replies == expected(200)
        assert not other.reads.deferred
        # Each read came with the write it follows, which had not left the follower yet: the
        # state after that write is a read point, and no ReadIndex round was needed.
        assert asked == []


async def test_a_deferred_read_sees_what_was_acknowledged_before_it_was_sent(
    tmp_path: Path,
) -> None:
    # The follower's own write `y` is appended first, then another client's `x`; the
    # follower is held back from applying either. Its client then sends GET x, behind its
    # unapplied `y`. Reading right after `y` is applied would miss `x`, which had been
    # acknowledged: the read must wait for its read point (past `x`).
    async with cluster(tmp_path, election_ticks=300) as link:
        lead = await leader_of(link)
        slow = follower(link, lead)
        held = {"on": True}

        def hold_appends(sender: str, to: str, frame: Any) -> Any:
            held_back = (MessageType.APP, MessageType.HEARTBEAT)
            if (
                held["on"]
                and (sender, to, frame[0]) == (lead.name, slow.name, "raft")
                and decode_message(frame[1]).type in held_back
            ):
                return None
            return frame

        link.filter = hold_appends
        dispatcher = dispatcher_on(slow, tmp_path / "state")
        client, sink = a_client(), CollectingSink()
        with trio.fail_after(20):
            await dispatcher.dispatch(client, [[b"SET", b"y", b"1"]], sink)
            await wait_until(
                lambda: lead.machine.keyspace.dbs[0].data.get(b"y") is not None, interval=0.005
            )
            assert await write(lead, b"SET", b"x", b"acknowledged") == b"+OK\r\n"
            await dispatcher.dispatch(client, [[b"GET", b"x"]], sink)
            (read,) = slow.reads.deferred
            await wait_until(lambda: read.read_point() >= 0)  # the leader answers
            assert slow.machine.keyspace.dbs[0].data.get(b"x") is None  # not applied yet
            held["on"] = False
            replies = await sink.replies()
        assert replies == [b"+OK\r\n", b"$12\r\nacknowledged\r\n"]


async def test_a_deferred_read_with_no_read_point_times_out(tmp_path: Path) -> None:
    async with cluster(tmp_path, read_timeout=0.3, write_timeout=0.3) as link:
        lead = await leader_of(link)
        cut_off = follower(link, lead)
        link.cut.add(cut_off.name)
        dispatcher = dispatcher_on(cut_off, tmp_path / "state")
        with trio.fail_after(20):
            replies = await dispatcher.run_batch(a_client(), [[b"SET", b"a", b"1"], [b"GET", b"a"]])
        assert replies[0].startswith((b"-CLUSTERDOWN", b"-TIMEOUT"))
        assert replies[1] in (
            b"-TIMEOUT no quorum for read\r\n",
            b"-CLUSTERDOWN No raft leader\r\n",
        )
        assert not cut_off.reads.deferred
