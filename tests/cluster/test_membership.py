"""Membership changes between `RaftNode`s over the in-memory link: a new node added as a
learner catches up and is promoted to voter; adding it again changes nothing; removals that
would leave no reachable quorum are refused unless forced; removing the leader hands over
leadership first; a removed node knows it, and believes a notice that it was removed only
when its own log agrees."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from concord_resp.cluster import ClusterError, RaftNode
from concord_resp.cluster import peer_protocol as pp
from concord_resp.store.digest import dataset_digest
from tests.support.node_link import Link, cluster, follower, leader_of, make_node, write
from tests.support.waiting import wait_until


@asynccontextmanager
async def extra_node(link: Link, directory: Path, name: str) -> AsyncIterator[RaftNode]:
    """A node outside the initial configuration, on the link (as a fresh `--join` node)."""
    node = make_node(directory, name)
    await node.load()
    link.nodes[name] = node
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(node.run, link.transport(name))
            yield node
            nursery.cancel_scope.cancel()
    finally:
        node.close()


async def converged(link: Link) -> set[bytes]:
    with trio.fail_after(10):
        await wait_until(
            lambda: len({node.machine.applied_index for node in link.nodes.values()}) == 1,
            interval=0.01,
        )
    return {dataset_digest(node.machine.keyspace) for node in link.nodes.values()}


async def reachable(lead: RaftNode, name: str, expected: bool) -> None:
    """Until the leader's members table says whether `name` is reachable as expected."""
    with trio.fail_after(5):
        while True:
            rows = {row["name"]: row for row in await lead.leader_request(["nodes"])}
            if rows[name]["reachable"] == int(expected):
                return
            await trio.sleep(0.01)


async def test_a_new_node_joins_as_learner_and_is_promoted_once_caught_up(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        for i in range(30):
            await write(lead, b"SET", b"k%d" % i, b"v")
        async with extra_node(link, tmp_path, "n4") as n4:
            assert await lead.leader_request(["add", "n4", "127.0.0.1:7004@17004"]) == "learner"
            with trio.fail_after(10):
                await wait_until(lambda: "n4" in lead.refresh_status().voters, interval=0.01)
            assert len(await converged(link)) == 1
            assert n4.members["n4"].address == "127.0.0.1:7004@17004"
            assert {m.address for m in lead.members.values()} >= {"127.0.0.1:7004@17004"}
            # Again, at the same address: nothing changes.
            assert (
                await follower(link, lead).leader_request(["add", "n4", "127.0.0.1:7004@17004"])
                == "voter"
            )
            with pytest.raises(
                ClusterError, match=re.escape("already exists at 127.0.0.1:7004@17004")
            ):
                await lead.leader_request(["add", "n4", "127.0.0.1:1@2"])
            with pytest.raises(ClusterError, match="is not host:port@cluster-port"):
                await lead.leader_request(["add", "n5", "nowhere"])
            # The new voter serves writes and counts in the quorum.
            assert await write(n4, b"SET", b"from", b"n4") == b"+OK\r\n"
            rows = await n4.leader_request(["nodes"])
            assert [(row["name"], row["voter"]) for row in rows] == [
                ("n1", 1), ("n2", 1), ("n3", 1), ("n4", 1)
            ]  # fmt: skip
            assert len(await converged(link)) == 1


async def test_removals_keep_a_reachable_quorum_unless_forced(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        first, second = (node for node in link.nodes.values() if node is not lead)
        link.cut.add(first.name)
        await reachable(lead, first.name, False)  # after an election timeout
        with pytest.raises(ClusterError, match="fewer than a quorum"):
            await lead.leader_request(["remove", second.name, False])
        with pytest.raises(ClusterError, match="no member named 'nosuch'"):
            await lead.leader_request(["remove", "nosuch", False])
        link.cut.clear()
        await reachable(lead, first.name, True)
        assert await second.leader_request(["remove", second.name, False]) == "removed"
        assert second.name not in lead.refresh_status().voters
        with trio.fail_after(5):
            await wait_until(lambda: second.removed, interval=0.01)
        assert await write(lead, b"SET", b"after", b"removal") == b"+OK\r\n"
        with pytest.raises(ClusterError, match="was removed from this cluster"):
            await lead.leader_request(["add", second.name, "127.0.0.1:1@2"])


async def test_removing_the_leader_hands_over_leadership_first(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        assert await lead.leader_request(["remove", lead.name, False]) == "removed"
        new = next(node for node in link.nodes.values() if node.is_leader)
        assert new is not lead
        assert set(new.refresh_status().voters) == {n for n in link.nodes if n != lead.name}
        assert await write(new, b"SET", b"k", b"v") == b"+OK\r\n"


async def test_force_removes_even_without_a_reachable_quorum(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        first, second = (node for node in link.nodes.values() if node is not lead)
        link.cut.add(first.name)
        await reachable(lead, first.name, False)
        # Committed under the old configuration (the leader and `second`), after which the
        # two voters left need `first` back to commit anything.
        assert await lead.leader_request(["remove", second.name, True]) == "removed"
        assert set(lead.refresh_status().voters) == {lead.name, first.name}
        link.cut.clear()
        assert await write(lead, b"SET", b"k", b"after") == b"+OK\r\n"
        with trio.fail_after(5):
            await wait_until(
                lambda: first.machine.keyspace.dbs[0].get(b"k", 0) == b"after", interval=0.01
            )


async def test_a_notice_of_removal_the_log_does_not_show_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        target = follower(link, lead)
        assert await write(lead, b"SET", b"k", b"v") == b"+OK\r\n"
        with trio.fail_after(5):
            await wait_until(lambda: target.machine.applied_index == lead.machine.applied_index)
        applied, term = target.machine.applied_index, target.refresh_status().term
        notices = {
            "an entry it does not hold": (lead.name, pp.Removed(applied + 50, term)),
            "an entry it applied, which removes no one": (lead.name, pp.Removed(applied, term)),
            "the first entry": (lead.name, pp.Removed(1, 1)),
            "from no member": ("stranger", pp.Removed(applied + 1, term)),
        }
        for sender, notice in notices.values():
            target.deliver(sender, pp.encode(notice))
        # Served after the notices were stepped (a write goes through the same rounds).
        assert await write(target, b"SET", b"after", b"notices") == b"+OK\r\n"
        assert not target.removed
        assert target.name in lead.refresh_status().voters
        ignored = [r for r in caplog.records if "ignoring a notice from" in r.getMessage()]
        assert len(ignored) == 3  # the stranger's is not even looked at


async def test_a_removed_node_that_never_applied_its_removal_believes_the_notice(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        second = follower(link, lead)
        assert await write(lead, b"SET", b"k", b"v") == b"+OK\r\n"
        assert lead.rn is not None
        removal = lead.rn.last_index() + 1  # the index the removal will take

        def hold_commit(sender: str, to: str, frame: object) -> object:
            # `second` gets every entry but never learns that the removal is committed.
            if to == second.name and isinstance(frame, list) and frame[0] == "raft":
                frame[1][7] = min(frame[1][7], removal - 1)  # the message's commit index
            return frame

        link.filter = hold_commit
        assert await lead.leader_request(["remove", second.name, False]) == "removed"
        with trio.fail_after(5):
            await wait_until(lambda: second.removed, interval=0.01)
        assert second.machine.applied_index < removal <= second.storage.last_index()
