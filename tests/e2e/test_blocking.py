"""Blocking pops on a 3-node cluster of real processes, with redis-py clients.

A client blocked on one node is served by a push sent to another, whichever node leads, and
each element reaches exactly one client; timeouts, CLIENT UNBLOCK and disconnection end a
wait; when the blocked client's node dies, its waiter is dropped so that it swallows none of
the elements pushed afterwards. The waiters are replicated state: INFO's
`concord_blocked_waiters` shows how many every node has, and `blocked_clients` how many of
this node's own clients wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.support.cluster import LocalCluster


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def info_field(client: redis.Redis, name: str) -> int:
    return int(client.info("clients")[name])


class Blocked:
    """A blocking command run on its own thread: `result` once it returns."""

    def __init__(self, client: redis.Redis, *command: object) -> None:
        self.result: object = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(client, command), daemon=True)
        self.thread.start()

    def _run(self, client: redis.Redis, command: tuple[object, ...]) -> None:
        try:
            self.result = client.execute_command(*command)
        except BaseException as error:  # (reported by `join`)
            self.error = error

    def join(self, timeout: float = 20.0) -> object:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the blocked command never returned"
        if self.error is not None:
            raise self.error
        return self.result


def followers(cluster: LocalCluster) -> tuple[str, list[str]]:
    leader = cluster.leader()
    return leader, [name for name in cluster.names if name != leader]


def test_a_client_blocked_on_a_follower_is_served_by_a_push_through_the_leader(
    concord_cluster: LocalCluster,
) -> None:
    leader, (follower, other) = followers(concord_cluster)
    waiting = concord_cluster.client(follower, timeout=30)
    second = concord_cluster.client(other, timeout=30)
    pusher = concord_cluster.client(leader)
    watcher = concord_cluster.client(follower)
    try:
        first = Blocked(waiting, "BLPOP", "e2e:q", "0")
        wait_for("the waiter", lambda: info_field(watcher, "blocked_clients") == 1)
        then = Blocked(second, "BRPOP", "e2e:q", "0")
        wait_for("both waiters", lambda: info_field(pusher, "concord_blocked_waiters") == 2)
        assert pusher.rpush("e2e:q", "a", "b", "c") == 3
        assert first.join() == (b"e2e:q", b"a")  # the oldest waiter first
        assert then.join() == (b"e2e:q", b"c")
        assert info_field(watcher, "blocked_clients") == 0
        for name in concord_cluster.names:
            client = concord_cluster.client(name)
            try:
                assert client.lrange("e2e:q", 0, -1) == [b"b"]
                assert info_field(client, "concord_blocked_waiters") == 0
            finally:
                client.close()
    finally:
        for client in (waiting, second, pusher, watcher):
            client.close()


def test_timeouts_client_unblock_and_a_transaction(concord_cluster: LocalCluster) -> None:
    leader, (follower, _) = followers(concord_cluster)
    client = concord_cluster.client(follower, timeout=30)
    admin = concord_cluster.client(follower)
    pusher = concord_cluster.client(leader)
    try:
        started = time.monotonic()
        assert client.blpop(["e2e:none"], timeout=0.3) is None
        assert time.monotonic() - started >= 0.3  # not answered before its deadline
        # CLIENT UNBLOCK, as a timeout and as an error.
        target = client.client_id()
        waiter = Blocked(client, "BLPOP", "e2e:none", "0")
        wait_for("the waiter", lambda: info_field(admin, "blocked_clients") == 1)
        assert admin.client_unblock(target) == 1
        assert waiter.join() is None
        waiter = Blocked(client, "BRPOPLPUSH", "e2e:none", "e2e:dst", "0")
        wait_for("the waiter", lambda: info_field(admin, "blocked_clients") == 1)
        assert admin.client_unblock(target, error=True) == 1
        with pytest.raises(
            redis.ResponseError, match=r"^UNBLOCKED client unblocked via CLIENT UNBLOCK$"
        ):
            waiter.join()
        assert admin.client_unblock(target) == 0  # not blocked any more
        # The ended waits swallow nothing pushed later.
        wait_for("no waiter", lambda: info_field(pusher, "concord_blocked_waiters") == 0)
        pusher.rpush("e2e:none", "kept")
        assert client.lrange("e2e:none", 0, -1) == [b"kept"]
        # In a transaction a blocking pop does not block.
        with client.pipeline(transaction=True) as pipe:
            pipe.blpop(["e2e:empty"], timeout=0)
            pipe.rpush("e2e:empty", "x")
            assert pipe.execute() == [None, 1]
    finally:
        for each in (client, admin, pusher):
            each.close()


def test_a_disconnected_waiter_swallows_nothing(concord_cluster: LocalCluster) -> None:
    leader, (follower, _) = followers(concord_cluster)
    client = concord_cluster.client(follower, timeout=30)
    observer = concord_cluster.client(leader)
    try:
        Blocked(client, "BLPOP", "e2e:dropped", "0")
        wait_for("the waiter", lambda: info_field(observer, "concord_blocked_waiters") == 1)
        client.close()  # the blocked client goes away
        wait_for("its wait ended", lambda: info_field(observer, "concord_blocked_waiters") == 0)
        observer.rpush("e2e:dropped", "v")
        assert observer.lrange("e2e:dropped", 0, -1) == [b"v"]
    finally:
        observer.close()


def test_blocked_clients_survive_a_change_of_leader(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        leader, (follower, other) = followers(cluster)
        client = cluster.client(follower, timeout=60)
        observer = cluster.client(other)
        try:
            waiter = Blocked(client, "BLMOVE", "e2e:src", "e2e:dst", "LEFT", "RIGHT", "0")
            wait_for("the waiter", lambda: info_field(observer, "concord_blocked_waiters") == 1)
            cluster.kill(leader)
            new_leader = cluster.leader(exclude=[leader])
            pusher = cluster.client(new_leader)
            assert pusher.rpush("e2e:src", "one", "two") == 2
            assert waiter.join() == b"one"
            assert pusher.lrange("e2e:dst", 0, -1) == [b"one"]
            assert pusher.lrange("e2e:src", 0, -1) == [b"two"]
            pusher.close()
        finally:
            client.close()
            observer.close()


def test_the_waiter_of_a_killed_node_swallows_nothing_pushed_after_it_is_dropped(
    tmp_path: Path,
) -> None:
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        leader, (doomed, _) = followers(cluster)
        client = cluster.client(doomed, timeout=60)
        pusher = cluster.client(leader)
        try:
            Blocked(client, "BLPOP", "e2e:jobs", "0")
            wait_for("the waiter", lambda: info_field(pusher, "concord_blocked_waiters") == 1)
            cluster.kill(doomed)
            # The leader drops the waiters of a node it has not heard from for 3 election
            # timeouts (1.5 s with the tests' timing).
            wait_for(
                "the dropped waiter", lambda: info_field(pusher, "concord_blocked_waiters") == 0
            )
            for job in range(5):
                pusher.rpush("e2e:jobs", f"job{job}")
            assert pusher.llen("e2e:jobs") == 5
            # Restarted, the node serves blocking pops again, and finds every job.
            cluster.start(doomed)
            again = cluster.client(doomed, timeout=30)
            popped = [again.blpop(["e2e:jobs"], timeout=5) for _ in range(5)]
            assert popped == [(b"e2e:jobs", f"job{job}".encode()) for job in range(5)]
            again.close()
        finally:
            client.close()
            pusher.close()


def test_a_restarted_node_ends_the_waits_of_its_earlier_life(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        leader, (restarted, _) = followers(cluster)
        client = cluster.client(restarted, timeout=60)
        pusher = cluster.client(leader)
        try:
            Blocked(client, "BLPOP", "e2e:old", "0")
            wait_for("the waiter", lambda: info_field(pusher, "concord_blocked_waiters") == 1)
            cluster.kill(restarted)
            cluster.start(restarted)  # back before the leader thinks it gone
            wait_for(
                "the old wait ended", lambda: info_field(pusher, "concord_blocked_waiters") == 0
            )
            pusher.rpush("e2e:old", "kept")
            assert pusher.lrange("e2e:old", 0, -1) == [b"kept"]
        finally:
            client.close()
            pusher.close()
