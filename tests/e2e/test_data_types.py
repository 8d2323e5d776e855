"""Every value type through snapshots, InstallSnapshot and restarts, on real processes.

A 3-node cluster with the tests' frequent snapshots (every 200 entries) and small segments:
values of every type and encoding are written, one node is killed while many more writes go
through several snapshots and compactions, and restarted it catches up by an InstallSnapshot
stream; then every node is restarted (a snapshot plus the log after it). Each time, every
node's DEBUG DIGEST (Redis's per-type algorithm) and a set of replies must equal the leader's,
blocked clients' waiters included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import redis

from tests.support.cluster import LocalCluster


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def write_every_type(client: redis.Redis, round_: int) -> None:
    pipe = client.pipeline(transaction=False)
    for n in range(40):
        tag = f"{round_}:{n}"
        pipe.set(f"s:{tag}", tag)
        pipe.rpush(f"l:{round_ % 3}", tag)
        pipe.hset(f"h:{round_ % 4}", tag, n)
        pipe.sadd(f"set:{round_ % 4}", tag)
        pipe.sadd(f"ints:{round_ % 2}", n * round_)
        pipe.zadd(f"z:{round_ % 4}", {tag: n / 7})
        pipe.pfadd(f"hll:{round_ % 2}", tag)
        pipe.setbit(f"bits:{round_ % 2}", n * 13 + round_, 1)
    pipe.hincrbyfloat("h:float", "f", 0.1)
    pipe.lpop(f"l:{round_ % 3}")
    pipe.spop(f"set:{round_ % 4}", 2)
    pipe.zpopmin(f"z:{round_ % 4}")
    pipe.expire(f"s:{round_}:0", 1000)
    pipe.execute()


def observations(client: redis.Redis) -> list[object]:
    return [
        client.execute_command("DEBUG", "DIGEST"),
        client.lrange("l:1", 0, -1),
        client.hgetall("h:1"),
        client.smembers("set:2"),
        client.object("encoding", "set:2"),
        client.object("encoding", "ints:0"),
        client.zrange("z:3", 0, -1, withscores=True),
        client.object("encoding", "z:3"),
        client.pfcount("hll:1"),
        client.get("bits:1"),
        client.hget("h:float", "f"),
        client.info("clients")["concord_blocked_waiters"],
    ]


def agree(cluster: LocalCluster) -> None:
    """Wait until every node observes what the leader does."""
    leader = cluster.leader()

    def same() -> bool:
        views = []
        for name in [leader, *[n for n in cluster.names if n != leader]]:
            client = cluster.client(name)
            try:
                views.append(observations(client))
            finally:
                client.close()
        return all(view == views[0] for view in views)

    wait_for("every node to agree with the leader", same)


def test_every_type_survives_snapshots_install_and_restarts(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        leader = cluster.leader()
        client = cluster.client(leader)
        client.config_set("zset-max-listpack-entries", 16)  # replicated: skiplists sooner
        for round_ in range(3):
            write_every_type(client, round_)
        waiter = redis.Connection(port=cluster.ports[leader])  # type: ignore[no-untyped-call]
        waiter.send_command("BLPOP", "nothing-here", "0")  # type: ignore[no-untyped-call]
        wait_for("the waiter", lambda: client.info("clients")["concord_blocked_waiters"] == 1)
        agree(cluster)
        stopped = next(name for name in cluster.names if name != leader)
        cluster.kill(stopped)
        for round_ in range(3, 12):  # thousands of entries: several snapshots and compactions
            write_every_type(client, round_)
        cluster.start(stopped)
        agree(cluster)
        info = cluster.raft_info(stopped)
        assert int(info["raft_snapshots_received"]) >= 1, "it did not catch up by snapshot"
        client.close()
        # (Its node ends the wait once it sees it disconnect; here the kill comes first.)
        waiter.disconnect()  # type: ignore[no-untyped-call]
        cluster.kill_all()
        cluster.start_all()
        agree(cluster)
