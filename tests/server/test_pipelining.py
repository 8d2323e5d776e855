"""Reads pipelined behind a client's own writes on a single node: deferred, not awaited.

Each GET of a pipeline of `SET k v` / `GET k` pairs answers the state after its SET and
before the next one, and the writes of the whole pipeline reach the log together (the reads
do not make each write wait for the one before it).
"""

from __future__ import annotations

import trio

from tests.cluster.test_deferred_reads import expected, pairs
from tests.server.conftest import InProcess


async def test_pipelined_pairs_on_a_single_node(node: InProcess) -> None:
    client = node.client()
    writer = node.server.node.runner.writer  # type: ignore[union-attr]
    before = writer.batches
    with trio.fail_after(10):
        replies = await node.run(client, *[b" ".join(argv).decode() for argv in pairs(300)])
    assert replies == expected(300)
    # The reads were deferred, not awaited: the 302 writes went to the log in a few appends
    # (awaiting each read would have cost one append, and one fsync, per pair).
    assert writer.batches - before <= 5
    assert not node.server.node.reads.deferred
