"""Streams on a 3-node cluster of real processes, with redis-py clients.

XREAD BLOCK and XREADGROUP BLOCK on a follower are served by an XADD through another node
(the waiters are replicated, `$` resolved when the blocking command was applied). A consumer
group read by consumers on every node, with a node killed (-9) in between, loses no entry from
its PEL and delivers none twice to `>` readers. `*` IDs are the same on every node.
"""

from __future__ import annotations

from pathlib import Path

import redis

from tests.e2e.test_blocking import Blocked, followers, info_field, wait_for
from tests.support.cluster import LocalCluster


def test_xread_and_xreadgroup_block_on_a_follower_served_through_another_node(
    concord_cluster: LocalCluster,
) -> None:
    leader, (follower, other) = followers(concord_cluster)
    reader = concord_cluster.client(follower, timeout=30)
    group_reader = concord_cluster.client(follower, timeout=30)
    writer = concord_cluster.client(other)
    watcher = concord_cluster.client(leader)
    try:
        writer.xadd("e2e:s", {"before": "1"}, id="1-0")
        writer.xgroup_create("e2e:s", "g", "$")
        plain = Blocked(reader, "XREAD", "BLOCK", "0", "STREAMS", "e2e:s", "$")
        wait_for("the XREAD waiter", lambda: info_field(watcher, "concord_blocked_waiters") == 1)
        grouped = Blocked(
            group_reader, "XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "e2e:s", ">"
        )
        wait_for("both waiters", lambda: info_field(watcher, "concord_blocked_waiters") == 2)
        added = writer.xadd("e2e:s", {"f": "v"})
        assert plain.join() == [[b"e2e:s", [(added, {b"f": b"v"})]]]
        assert grouped.join() == [[b"e2e:s", [(added, {b"f": b"v"})]]]
        # Served by the XADD, the XREADGROUP waiter's entry is pending, on every node.
        for name in concord_cluster.names:
            client = concord_cluster.client(name)
            try:
                assert client.xpending("e2e:s", "g")["pending"] == 1
                assert client.xrange("e2e:s") == [
                    (b"1-0", {b"before": b"1"}),
                    (added, {b"f": b"v"}),
                ]
                assert info_field(client, "concord_blocked_waiters") == 0
            finally:
                client.close()
    finally:
        for client in (reader, group_reader, writer, watcher):
            client.close()


def read_new(client: redis.Redis, consumer: str) -> list[bytes]:
    reply = client.xreadgroup("g", consumer, {"e2e:jobs": ">"}, count=4)
    return [entry_id for _, entries in reply for entry_id, _ in entries]


def test_a_group_read_on_every_node_survives_a_killed_node(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        leader, (doomed, survivor) = followers(cluster)
        writer = cluster.client(leader)
        added = [writer.xadd("e2e:jobs", {"n": str(n)}) for n in range(40)]
        writer.xgroup_create("e2e:jobs", "g", "0")
        clients = {name: cluster.client(name, timeout=30) for name in cluster.names}
        delivered: list[bytes] = []
        for round_ in range(3):
            for name in cluster.names:
                delivered += read_new(clients[name], f"c-{name}-{round_}")
        for client in clients.values():
            client.close()
        cluster.kill(doomed)
        new_leader = cluster.leader(exclude=[doomed])
        rest = {name: cluster.client(name, timeout=30) for name in (leader, survivor)}
        for _ in range(len(added)):  # (each round delivers at least one entry, or ends)
            got = [entry for name in rest for entry in read_new(rest[name], f"after-{name}")]
            if not got:
                break
            delivered += got
        assert sorted(delivered) == sorted(added)  # each entry delivered once to `>` readers
        pending = rest[new_leader].xpending_range("e2e:jobs", "g", "-", "+", 100)
        assert sorted(p["message_id"] for p in pending) == sorted(added)  # none lost
        cluster.start(doomed)
        back = cluster.client(doomed, timeout=30)
        wait_for(
            "the restarted node to catch up",
            lambda: back.xpending("e2e:jobs", "g")["pending"] == len(added),
        )
        assert back.xinfo_groups("e2e:jobs")[0]["last-delivered-id"] == added[-1]
        for client in (*rest.values(), back, writer):
            client.close()
