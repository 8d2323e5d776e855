"""The node's consensus counters (`metrics/cluster.py`) and its telemetry events, on three
in-process nodes over the in-memory peer link: what each one counts, and when."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from concord_resp.cluster import ClusterError
from tests.cluster.test_membership import extra_node
from tests.support.node_link import NAMES, cluster, follower, leader_of, write
from tests.support.waiting import wait_until


def leader_events(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "leader_changed"]


async def test_what_a_healthy_cluster_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="concord.node")
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        other = follower(link, lead)
        # Every leader a node saw is one event (usually one election, more after a split).
        events = leader_events(caplog)
        assert sum(node.metrics.leader_changes for node in link.nodes.values()) == len(events)
        last = events[-1]
        assert last.leader == lead.name  # type: ignore[attr-defined]
        assert last.term == lead.status.term  # type: ignore[attr-defined]
        assert f"[event=leader_changed leader={lead.name} term=" in last.getMessage()

        commits = lead.metrics.commit.count
        for step in range(5):
            await write(lead, b"SET", b"k", b"%d" % step)
        # One observation per batch proposed, so at most one per write.
        assert commits + 1 <= lead.metrics.commit.count <= commits + 5
        assert lead.metrics.commit.sum >= 0
        before = other.metrics.commit.count
        await write(other, b"SET", b"k", b"x")  # forwarded: the leader proposes it
        assert other.metrics.commit.count == before

        reads = other.metrics.read_index.count
        await other.read_barrier()
        assert other.metrics.read_index.count == reads + 1

        # Heartbeats and their answers: a round trip per peer.
        peers = [name for name in NAMES if name != lead.name]
        await wait_until(
            lambda: all(
                peer in lead.metrics.peer_rtt and lead.metrics.peer_rtt[peer].count > 0
                for peer in peers
            )
        )
        assert lead.metrics.proposals_failed == 0
        assert lead.proposals.pending == 0


async def test_a_new_leader_and_failed_writes_are_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="concord.node")
    async with cluster(tmp_path, write_timeout=0.5, read_timeout=0.5) as link:
        lead = await leader_of(link)
        term = lead.status.term
        seen = {name: node.metrics.leader_changes for name, node in link.nodes.items()}
        link.cut.add(lead.name)
        survivors = tuple(name for name in NAMES if name != lead.name)
        successor = await leader_of(link, survivors)
        for name in survivors:
            node = link.nodes[name]
            assert node.metrics.leader_changes > seen[name]
            assert node.status.term > term
        last = leader_events(caplog)[-1]
        assert last.leader == successor.name  # type: ignore[attr-defined]
        assert last.term > term  # type: ignore[attr-defined]
        assert last.previous in NAMES  # type: ignore[attr-defined]

        # The old leader, alone, cannot commit (or no longer leads): its write fails.
        failed = lead.metrics.proposals_failed
        reply = await write(lead, b"SET", b"lost", b"1")
        assert reply.startswith((b"-TIMEOUT", b"-CLUSTERDOWN"))
        assert lead.metrics.proposals_failed == failed + 1
        with pytest.raises(ClusterError):
            await lead.read_barrier()


async def test_membership_changes_are_events_with_their_fields(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="concord.node")
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        async with extra_node(link, tmp_path, "n4"):
            assert await lead.leader_request(["add", "n4", "127.0.0.1:7004@17004"]) == "learner"
            await wait_until(lambda: "n4" in lead.refresh_status().voters, within=10)
            await lead.leader_request(["remove", "n4", False])
            await wait_until(lambda: "n4" not in lead.refresh_status().voters, within=10)

            def seen(event: str) -> list[logging.LogRecord]:
                return [
                    r
                    for r in caplog.records
                    if getattr(r, "event", None) == event and r.member == "n4"  # type: ignore[attr-defined]
                ]

            await wait_until(lambda: len(seen("member_removed")) >= 3)  # every member applies it
        added, promoted, removed = (
            seen("member_added"),
            seen("member_voter"),
            seen("member_removed"),
        )
        assert added
        assert promoted
        for record in added + promoted:
            assert record.address == "127.0.0.1:7004@17004"  # type: ignore[attr-defined]
        assert added[0].index < promoted[0].index < removed[0].index  # type: ignore[attr-defined]
        assert {r.voters for r in promoted} == {4}  # type: ignore[attr-defined]
        assert {r.voters for r in removed} == {3}  # type: ignore[attr-defined]
        assert "membership: n4 joined as a learner" in added[0].getMessage()
        assert "[event=member_removed member=n4 address= index=" in removed[0].getMessage()
