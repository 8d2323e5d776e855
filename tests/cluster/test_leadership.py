"""Operator requests between `RaftNode`s over the in-memory link: leadership transfer (to a
named voter, to the most up-to-date one, asked on a follower) and the members table."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from concord_resp.cluster import ClusterError, RaftNode
from tests.support.node_link import Link, cluster, follower, leader_of, write
from tests.support.waiting import wait_until, wait_until_async


async def agreed_leader(link: Link, name: str) -> None:
    with trio.fail_after(5):
        await wait_until(
            lambda: {node.leader for node in link.nodes.values()} == {name}, interval=0.005
        )


async def test_leadership_moves_to_the_named_voter_and_by_default_to_the_most_up_to_date(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        target = follower(link, lead)
        assert await lead.leader_request(["transfer", target.name]) == target.name
        await agreed_leader(link, target.name)
        term = target.refresh_status().term
        # Asked on a follower: the leader picks. A follower cut off from the leader has an
        # older log, so the up-to-date one is chosen.
        behind = next(n for n in link.nodes.values() if n not in (lead, target))
        link.cut.add(behind.name)
        await write(target, b"SET", b"k", b"v")
        link.cut.clear()
        chosen = await lead.leader_request(["transfer", None])
        assert chosen == lead.name  # `lead` is now a follower whose log is complete
        await agreed_leader(link, lead.name)
        assert lead.refresh_status().term == term + 1  # no failed election
        assert await write(behind, b"GET", b"k") == b"$1\r\nv\r\n"


async def test_transfer_refusals(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        other = follower(link, lead)
        with pytest.raises(ClusterError, match="no voter named 'nosuch'"):
            await other.leader_request(["transfer", "nosuch"])
        assert await other.leader_request(["transfer", lead.name]) == lead.name  # a no-op
        with pytest.raises(ClusterError, match="CLUSTERDOWN this node is not the leader"):
            await other.transfer_leadership("n1")
        with pytest.raises(ClusterError, match="unknown request"):
            await other.leader_request(["frobnicate"])


async def test_the_members_table_comes_from_the_leader_on_every_node(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        await write(lead, b"SET", b"a", b"1")
        tables = [await node.leader_request(["nodes"]) for node in link.nodes.values()]
        names = [[row["name"] for row in table] for table in tables]
        assert names == [["n1", "n2", "n3"]] * 3

        async def caught_up() -> bool:  # the followers' acknowledgements come back
            return all(row["lag"] == 0 for row in await lead.leader_request(["nodes"]))

        await wait_until_async(caught_up, within=5)
        rows = {row["name"]: row for row in await lead.leader_request(["nodes"])}
        for name, row in rows.items():
            assert row["role"] == ("leader" if name == lead.name else "follower")
            assert (row["voter"], row["match"], row["reachable"]) == (1, lead.status.last_index, 1)
            assert row["address"] == "127.0.0.1:0@0"
        # A node cut off from everyone cannot reach a leader to ask.
        lonely: RaftNode = follower(link, lead)
        link.cut.add(lonely.name)
        with trio.fail_after(5):
            await wait_until(lambda: not lonely.leader, interval=0.01)
        with pytest.raises(ClusterError, match="CLUSTERDOWN No raft leader"):
            await lonely.leader_request(["nodes"])
