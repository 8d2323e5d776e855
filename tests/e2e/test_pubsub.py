"""Pub/sub and keyspace notifications on a 3-node cluster of real processes (redis-py).

PUBLISH is a log entry and every node delivers the messages of its own apply to its own
subscribers, so: a message published through any node reaches every matching subscriber on
every node exactly once; all subscribers see one channel's messages in the same order (the
log's); PUBLISH answers the receivers on the publisher's node; keyspace notifications are the
same on every node for the same writes, expirations included; and a leader killed in the
middle loses no acknowledged message and duplicates none.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import redis

from tests.e2e.test_blocking import wait_for
from tests.support.cluster import LocalCluster
from tests.support.processes import ConcordProcess

MESSAGES_PER_PUBLISHER = 60


class Listener:
    """A subscriber connection collecting (kind, channel or pattern, channel, data)."""

    def __init__(self, client: redis.Redis, *, channels: list[str], patterns: list[str]) -> None:
        self.client = client  # (a Redis client closes its pool, the pubsub's too, when freed)
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        if channels:
            self.pubsub.subscribe(*channels)
        if patterns:
            self.pubsub.psubscribe(*patterns)
        self.received: list[tuple[str, bytes, bytes]] = []

    def collect(self, count: int, timeout: float = 30.0) -> list[tuple[str, bytes, bytes]]:
        """Read until `count` messages arrived (or the time is up); then a short while more,
        so that an extra (duplicated) message would be seen."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            self._read(0.2)
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            self._read(0.05)
        return self.received

    def _read(self, timeout: float) -> None:
        message = self.pubsub.get_message(timeout=timeout)
        if message is None:
            return
        channel = message["channel"]
        self.received.append((message["type"], channel, message["data"]))

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


def _setting_is(client: redis.Redis, flags: str) -> bool:
    return bool(client.config_get("notify-keyspace-events")["notify-keyspace-events"] == flags)


def _subscribed(client: redis.Redis, channel: str, count: int) -> bool:
    return dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) == count


def test_every_subscriber_on_every_node_gets_every_message_once_in_one_order(
    concord_cluster: LocalCluster,
) -> None:
    names = concord_cluster.names
    channels = ["e2e:ps:a", "e2e:ps:b"]
    listeners: dict[str, tuple[Listener, Listener]] = {}
    admins = {name: concord_cluster.client(name) for name in names}
    try:
        for name in names:
            listeners[name] = (
                Listener(concord_cluster.client(name), channels=channels, patterns=[]),
                Listener(concord_cluster.client(name), channels=[], patterns=["e2e:ps:*"]),
            )
        for name in names:
            admin = admins[name]
            wait_for("subscriptions", partial(_subscribed, admin, channels[0], 1))
            wait_for("subscriptions", lambda admin=admin: admin.pubsub_numpat() == 1)
            assert sorted(admins[name].pubsub_channels("e2e:ps:*")) == [b"e2e:ps:a", b"e2e:ps:b"]
        replies: dict[str, list[int]] = {name: [] for name in names}

        def publish(name: str) -> None:
            client = concord_cluster.client(name)
            try:
                for seq in range(MESSAGES_PER_PUBLISHER):
                    channel = channels[seq % 2]
                    replies[name].append(client.publish(channel, f"{name}-{seq}"))
            finally:
                client.close()

        publishers = [threading.Thread(target=publish, args=(name,)) for name in names]
        for thread in publishers:
            thread.start()
        for thread in publishers:
            thread.join(60)
            assert not thread.is_alive()
        # Each node's receivers: its channel subscriber and its pattern subscriber.
        assert all(counts == [2] * MESSAGES_PER_PUBLISHER for counts in replies.values())
        total = MESSAGES_PER_PUBLISHER * len(names)
        sent = {
            f"{name}-{seq}".encode(): channels[seq % 2].encode()
            for name in names
            for seq in range(MESSAGES_PER_PUBLISHER)
        }
        orders: list[dict[bytes, list[bytes]]] = []
        for name in names:
            by_channel, by_pattern = listeners[name]
            for listener, kind in ((by_channel, "message"), (by_pattern, "pmessage")):
                received = listener.collect(total)
                assert len(received) == total, f"{name} {kind}: {len(received)} of {total}"
                assert {kind} == {k for k, _, _ in received}
                assert {data: channel for _, channel, data in received} == sent  # once each
                order: dict[bytes, list[bytes]] = {}
                for _, channel, data in received:
                    order.setdefault(channel, []).append(data)
                orders.append(order)
        assert all(order == orders[0] for order in orders)  # one order per channel
        for name in names:  # and each publisher's messages in the order it sent them
            mine = [d for d in orders[0][b"e2e:ps:a"] if d.startswith(name.encode())]
            assert mine == [f"{name}-{s}".encode() for s in range(0, MESSAGES_PER_PUBLISHER, 2)]
    finally:
        for pair in listeners.values():
            for listener in pair:
                listener.close()
        for admin in admins.values():
            admin.close()


def test_keyspace_notifications_are_the_same_on_every_node_expiry_included(
    concord_cluster: LocalCluster,
) -> None:
    names = concord_cluster.names
    admin = concord_cluster.client(names[0])
    listeners = {
        name: Listener(
            concord_cluster.client(name),
            channels=[],
            patterns=["__keyspace@0__:e2e:kn:*", "__keyevent@0__:*"],
        )
        for name in names
    }
    try:
        # The setting is replicated: set through one node, it holds on every node.
        assert admin.config_set("notify-keyspace-events", "KEA")
        for name in names:
            client = concord_cluster.client(name)
            try:
                wait_for("the setting", partial(_setting_is, client, "AKE"))
            finally:
                client.close()
        writer = concord_cluster.client(names[1])
        try:
            writer.set("e2e:kn:short", "v", px=150)
            writer.set("e2e:kn:kept", "v")
            writer.delete("e2e:kn:kept")
            wait_for("the expiry", lambda: writer.exists("e2e:kn:short") == 0)
        finally:
            writer.close()
        expected = [
            (b"__keyspace@0__:e2e:kn:short", b"set"),
            (b"__keyevent@0__:set", b"e2e:kn:short"),
            (b"__keyspace@0__:e2e:kn:short", b"expire"),
            (b"__keyevent@0__:expire", b"e2e:kn:short"),
            (b"__keyspace@0__:e2e:kn:kept", b"set"),
            (b"__keyevent@0__:set", b"e2e:kn:kept"),
            (b"__keyspace@0__:e2e:kn:kept", b"del"),
            (b"__keyevent@0__:del", b"e2e:kn:kept"),
            (b"__keyspace@0__:e2e:kn:short", b"expired"),  # the leader's expiry entry
            (b"__keyevent@0__:expired", b"e2e:kn:short"),
        ]
        for name in names:
            events = [(channel, data) for _, channel, data in listeners[name].collect(10)]
            assert events == expected, name
    finally:
        admin.config_set("notify-keyspace-events", "")
        for listener in listeners.values():
            listener.close()
        admin.close()


def test_a_leader_killed_while_publishing_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        leader = cluster.leader()
        survivors = [name for name in cluster.names if name != leader]
        listeners = {
            name: Listener(cluster.client(name), channels=["e2e:lc"], patterns=[])
            for name in survivors
        }
        acknowledged: list[bytes] = []
        refusals: list[str] = []
        try:
            for name in survivors:
                admin = cluster.client(name)
                try:
                    wait_for("subscription", partial(_subscribed, admin, "e2e:lc", 1))
                finally:
                    admin.close()
            publisher = cluster.client(survivors[0], timeout=30)
            try:
                for seq in range(120):
                    if seq == 40:
                        cluster.kill(leader)
                    payload = f"m{seq}".encode()
                    try:
                        publisher.publish("e2e:lc", payload)
                    except redis.ResponseError as error:  # TIMEOUT/CLUSTERDOWN: maybe, never
                        refusals.append(str(error).split()[0])
                        continue
                    acknowledged.append(payload)
            finally:
                publisher.close()
            assert set(refusals) <= {"TIMEOUT", "CLUSTERDOWN"}
            assert len(acknowledged) >= 100
            orders = []
            for name in survivors:
                data = [d for _, _, d in listeners[name].collect(len(acknowledged))]
                assert len(data) == len(set(data)), f"{name} got a message twice"
                assert set(acknowledged) <= set(data), f"{name} lost an acknowledged message"
                orders.append(data)
            assert orders[0] == orders[1]
        finally:
            for listener in listeners.values():
                listener.close()


def test_a_subscriber_that_does_not_read_is_closed_at_the_pubsub_limit(
    concord_factory: Callable[..., ConcordProcess],
) -> None:
    server = concord_factory("--client-output-buffer-limit", "pubsub 1mb 0 0")
    publisher = redis.Redis(port=server.port, socket_timeout=10)
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nslow\r\n")
            wait_for("the subscription", lambda: _subscribed(publisher, "slow", 1))
            payload = b"x" * (64 * 1024)
            for _ in range(200):  # 12.5 MB, never read
                if publisher.publish("slow", payload) == 0:
                    break  # closed: no receiver any more
            else:
                raise AssertionError("the subscriber was never closed")
            assert publisher.client_list(_type="pubsub") == []
            assert "for overcoming of output buffer limits." in server.output()
            assert publisher.ping()
    finally:
        publisher.close()


def test_acl_setuser_through_one_node_closes_subscribers_it_no_longer_allows(
    concord_cluster: LocalCluster,
) -> None:
    first, second = concord_cluster.names[:2]
    admin = concord_cluster.client(first)
    try:
        assert admin.acl_setuser(
            "e2e-sub",
            enabled=True,
            nopass=True,
            commands=["+@all"],
            keys=["*"],
            channels=["e2e:acl:*"],
        )
        subscriber = concord_cluster.client(second)
        subscriber.auth("whatever", username="e2e-sub")
        listener = Listener(subscriber, channels=["e2e:acl:news"], patterns=[])
        kept = Listener(concord_cluster.client(second), channels=["e2e:acl:news"], patterns=[])
        watcher = concord_cluster.client(second)
        try:
            wait_for("subscriptions", partial(_subscribed, watcher, "e2e:acl:news", 2))
            # Widening its channels keeps it; narrowing them past its subscription closes it,
            # on the node it is connected to (the change is an entry every node applies).
            assert admin.acl_setuser("e2e-sub", channels=["e2e:acl:*", "more"])
            assert admin.publish("e2e:acl:news", "still") == 0  # (no subscriber on `first`)
            assert listener.collect(1, timeout=10) == [("message", b"e2e:acl:news", b"still")]
            assert admin.acl_setuser("e2e-sub", reset_channels=True, channels=["other"])
            wait_for("the close", partial(_subscribed, watcher, "e2e:acl:news", 1))
            assert kept.collect(1, timeout=10)  # the default user's subscriber stays
        finally:
            listener.close()
            kept.close()
            watcher.close()
    finally:
        admin.acl_deluser("e2e-sub")
        admin.close()
