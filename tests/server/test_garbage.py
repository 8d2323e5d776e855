"""The serving path leaves no reference cycles behind: every request's objects are freed
when it is answered, not by the cycle collector. (One cycle per write once cost a fifth of
the write throughput: each collection walked every in-flight request.)"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trio

from tests.cluster.test_deferred_reads import a_client, dispatcher_on, expected, pairs
from tests.server.conftest import InProcess
from tests.support.node_link import cluster, follower, leader_of


@contextmanager
def cycles_found() -> Iterator[list[str]]:
    """The names of this project's objects that only the cycle collector would free."""
    found: list[str] = []
    gc.collect()
    gc.disable()
    try:
        yield found
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found += sorted(
            {
                type(thing).__qualname__
                for thing in gc.garbage
                if type(thing).__module__.startswith("concord_resp")
            }
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


async def test_writes_reads_and_pipelines_leave_no_cycles(node: InProcess) -> None:
    client = node.client()
    await node.one(client, "SET warm up")  # (first-use caches are not garbage)
    with cycles_found() as found, trio.fail_after(10):
        for _ in range(3):
            assert await node.run(client, "SET k v", "GET k", "INCR n", "DEL n") == [
                b"+OK\r\n",
                b"$1\r\nv\r\n",
                b":1\r\n",
                b":1\r\n",
            ]
            batch = [b" ".join(argv).decode() for argv in pairs(20)]
            assert await node.run(client, *batch) == expected(20)
            assert await node.run(client, "DEL n", "MULTI", "SET a 1", "GET a", "EXEC") == [
                b":1\r\n",
                b"+OK\r\n",
                b"+QUEUED\r\n",
                b"+QUEUED\r\n",
                b"*2\r\n+OK\r\n$1\r\n1\r\n",
            ]
            assert await node.one(client, "GET nothing") == b"$-1\r\n"
    assert found == []


async def test_writes_and_reads_through_a_follower_leave_no_cycles(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        dispatcher = dispatcher_on(follower(link, lead), tmp_path / "state")
        client = a_client()
        with trio.fail_after(20):
            await dispatcher.run_batch(client, [[b"SET", b"warm", b"up"]])
            with cycles_found() as found:
                for _ in range(3):
                    assert await dispatcher.run_batch(client, pairs(20)) == expected(20)
                    await dispatcher.run_batch(client, [[b"DEL", b"n"]])
        assert found == []
