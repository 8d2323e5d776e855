"""Keyspace notifications through the real dispatcher and log, with a hand-set clock.

A read's key misses (class m) are this node's own: every read path (a read run at once, a
read deferred behind the client's own writes, a read-only transaction, a read-only script)
delivers them itself and leaves none behind for the next entry to publish as its own. Expiry
here is exact: an active-expiry entry, and a write meeting an expired key, each publish
`expired` once.
"""

from __future__ import annotations

from concord_resp.store.events import Message
from tests.server.conftest import InProcess

OK = b"+OK\r\n"


class Published:
    """What the node delivered: messages of applied entries, and a read's (`local`)."""

    def __init__(self, node: InProcess) -> None:
        self.applied: list[tuple[bytes, bytes]] = []
        self.local: list[tuple[bytes, bytes]] = []
        raft_node, pubsub = node.server.node, node.state.pubsub
        deliver_applied = raft_node.deliver_messages
        deliver = pubsub.deliver
        assert deliver_applied is not None

        def on_apply(messages: list[Message]) -> None:
            self.applied.extend((channel, message) for channel, message, _, _ in messages)
            deliver_applied(messages)

        def on_read(messages: list[Message]) -> None:
            self.local.extend((channel, message) for channel, message, _, _ in messages)
            deliver(messages)

        raft_node.deliver_messages = on_apply
        pubsub.deliver = on_read  # type: ignore[method-assign]  # (what deliver_now calls)


def keymisses(*keys: str) -> list[tuple[bytes, bytes]]:
    return [(b"__keyevent@0__:keymiss", key.encode()) for key in keys]


async def notifications_on(node: InProcess, classes: str) -> Published:
    client = node.client()
    assert await node.one(client, f"CONFIG SET notify-keyspace-events {classes}") == OK
    return Published(node)


async def test_every_read_path_delivers_its_key_misses_itself(node: InProcess) -> None:
    published = await notifications_on(node, "Em")
    client = node.client()
    events = node.server.machine.keyspace.events
    for batch, key in (
        (["GET a"], "a"),  # a read run at once
        (["SET k v", "GET b"], "b"),  # deferred behind the client's own write
        (["MULTI", "GET c", "EXISTS k", "EXEC"], "c"),  # a read-only transaction
        (["EVAL_RO \"return redis.call('get', KEYS[1])\" 1 d"], "d"),  # a script
    ):
        await node.run(client, *batch)
        assert published.local[-1:] == keymisses(key), batch
        assert events.messages == [], batch  # none left for the next entry
    assert published.local == keymisses("a", "b", "c", "d")
    await node.one(client, "SET k w")
    assert published.applied == []


async def test_a_write_publishes_the_key_misses_of_its_read_lookups(node: InProcess) -> None:
    published = await notifications_on(node, "Em")
    client = node.client()
    await node.one(client, "GETDEL nosuch")
    await node.one(client, "EVAL \"return redis.call('get', KEYS[1])\" 1 other")
    assert published.applied == keymisses("nosuch", "other")  # every replica publishes them
    assert published.local == []


async def test_expiry_publishes_expired_once_by_entry_or_by_the_write_meeting_it(
    node: InProcess,
) -> None:
    published = await notifications_on(node, "Ex$")
    client = node.client()
    await node.one(client, "SET a 1 PX 100")
    await node.one(client, "SET b 1 PX 100")
    published.applied.clear()
    node.now_ms += 200
    await node.expire_now()  # the leader's active expiry: an entry
    assert published.applied == [
        (b"__keyevent@0__:expired", b"a"),
        (b"__keyevent@0__:expired", b"b"),
    ]
    await node.one(client, "SET c 1 PX 100")
    node.now_ms += 200
    published.applied.clear()
    await node.one(client, "GET c")  # a read deletes nothing: nothing is published
    await node.one(client, "APPEND c x")  # the write meeting it deletes it first
    assert published.applied == [
        (b"__keyevent@0__:expired", b"c"),
        (b"__keyevent@0__:append", b"c"),
    ]
    await node.expire_now()
    assert published.applied[2:] == []
