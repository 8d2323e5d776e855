"""InstallSnapshot between `RaftNode`s over the in-memory link: a follower cut off while the
leader compacts its log catches up by the snapshot file streamed in chunks, ends with the
same data, and restarts from it; a stream that loses or damages a chunk is refused by the
follower and sent again whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from concord_resp.cluster import Proposal, RaftNode
from concord_resp.raft.driver.snapshot_file import list_snapshots
from concord_resp.state import OP_COMMAND
from concord_resp.store.digest import dataset_digest
from tests.support.node_link import Link, cluster, follower, leader_of, make_node
from tests.support.waiting import wait_until

# Snapshot every 50 entries, keep no entries behind it in memory, and use tiny segments, so a
# few hundred writes compact the log several times; small chunks make a stream of many.
OPTIONS: dict[str, Any] = {
    "snapshots": True,
    "snapshot_entries": 50,
    "catch_up_entries": 0,
    "segment_bytes": 64 * 1024,
    "snapshot_chunk_bytes": 2048,
    "snapshot_timeout": 2.0,
}


async def write_many(node: RaftNode, count: int, start: int = 0) -> None:
    with trio.fail_after(20):
        for first in range(start, start + count, 50):
            proposals = [
                Proposal(OP_COMMAND, 0, [b"SET", b"key:%d" % i, b"value %d" % i * 4])
                for i in range(first, first + 50)
            ]
            for proposal in proposals:
                node.submit(proposal)
            for proposal in proposals:
                await proposal.wait()
                assert proposal.reply == b"OK"


async def cut_off_while_the_leader_compacts(link: Link) -> tuple[RaftNode, RaftNode]:
    lead = await leader_of(link)
    lonely = follower(link, lead)
    link.cut.add(lonely.name)
    await write_many(lead, 400)
    with trio.fail_after(10):
        await wait_until(
            lambda: (
                not lead.snapshots.taking
                and lead.storage.first_index() > lonely.machine.applied_index + 1
            )
        )
    return lead, lonely


async def caught_up(link: Link, lead: RaftNode, lonely: RaftNode) -> None:
    """Until every node has applied what the leader has (the other follower too)."""
    with trio.fail_after(15):
        await wait_until(
            lambda: all(
                node.machine.applied_index >= lead.machine.applied_index
                for node in link.nodes.values()
            )
        )
    assert lonely.machine.applied_index == lead.machine.applied_index
    digests = {dataset_digest(node.machine.keyspace) for node in link.nodes.values()}
    assert len(digests) == 1


async def streams_completed(lead: RaftNode, count: int) -> None:
    """The leader has seen `count` streams acknowledged whole (the last acknowledgement may
    still be on its way when the follower is already done)."""
    with trio.fail_after(10):
        await wait_until(lambda: lead.snapshots.sent >= count, interval=0.01)
    assert lead.snapshots.sent == count


async def test_a_follower_behind_the_compacted_log_catches_up_by_snapshot(tmp_path: Path) -> None:
    async with cluster(tmp_path, **OPTIONS) as link:
        lead, lonely = await cut_off_while_the_leader_compacts(link)
        behind = lonely.machine.applied_index
        link.cut.clear()
        await caught_up(link, lead, lonely)
        assert lonely.snapshots.received == 1
        await streams_completed(lead, 1)
        installed = lonely.storage.snapshot.meta.index
        assert installed > behind
        assert list_snapshots(tmp_path / f"{lonely.name}.snapshots")[0].index == installed
        # It goes on replicating from the log after the snapshot.
        await write_many(lead, 20, start=1000)
        await caught_up(link, lead, lonely)
        applied, digest = lonely.machine.applied_index, dataset_digest(lonely.machine.keyspace)
    # A restart restores the installed snapshot (or a newer one of its own) and the log after.
    again = make_node(tmp_path, lonely.name, **OPTIONS)
    await again.load()
    again.close()
    assert again.machine.applied_index == applied
    assert again.snapshots.index >= installed
    assert dataset_digest(again.machine.keyspace) == digest


@pytest.mark.parametrize("fault", ["lose", "damage"])
async def test_a_stream_with_a_lost_or_damaged_chunk_is_refused_and_sent_again(
    tmp_path: Path, fault: str
) -> None:
    async with cluster(tmp_path, **OPTIONS) as link:
        lead, lonely = await cut_off_while_the_leader_compacts(link)
        hit: list[int] = []

        def spoil(sender: str, to: str, frame: Any) -> Any:
            third_chunk = isinstance(frame, list) and frame[:1] == ["snap"] and frame[2] == 2
            if third_chunk and not hit:  # the first stream's only
                hit.append(frame[2])
                if fault == "lose":
                    return None
                chunk = bytearray(frame[3])
                chunk[len(chunk) // 2] ^= 0xFF
                frame[3] = bytes(chunk)
            return frame

        link.filter = spoil
        link.cut.clear()
        await caught_up(link, lead, lonely)
        assert hit == [2]
        assert lonely.snapshots.received == 1  # the second stream, whole
        await streams_completed(lead, 1)
        # Nothing half-received is left behind.
        names = [p.name for p in (tmp_path / f"{lonely.name}.snapshots").iterdir()]
        assert not [name for name in names if name.startswith(".")]
