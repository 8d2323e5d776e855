"""Pub/sub on this node: who is subscribed to what, and delivering messages to them.

Messages are not sent from node to node. PUBLISH is a log entry; every node, applying it,
delivers the message to its own subscribers (`deliver`, called by the node with each applied
entry's `Applied.messages`, keyspace notifications included). So a message published through
any node reaches the matching subscribers of every node once (an entry is applied once per
node, and a retried PUBLISH once per cluster), and every subscriber sees the messages in the
log's order. PUBLISH's reply, like Redis Cluster's, counts the receivers on the node that
serves the publisher (`resp.Receivers`, filled in here before the reply is sent).

Subscriptions are node-local connection state, as in Redis: PUBSUB CHANNELS/NUMSUB/NUMPAT
answer for this node. Shard channels (SSUBSCRIBE, SPUBLISH) behave like channels: a Concord
cluster is one shard. A message goes to a client's outbox ahead of the replies not known yet
(`Outbox.push_message`), so a subscriber blocked on a write still gets its messages, and
counts in the client's output buffer (the `pubsub` class of client-output-buffer-limit).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ..commands import CommandError
from ..commands.glob import glob_match
from ..store.events import Message
from .client import ClientState

CHANNELS: Final = 0  # SUBSCRIBE
PATTERNS: Final = 1  # PSUBSCRIBE
SHARD: Final = 2  # SSUBSCRIBE

# What a RESP2 client in subscribed mode may run (Redis's processCommand).
SUBSCRIBED_MODE: Final = frozenset(
    {
        "ping",
        "subscribe",
        "ssubscribe",
        "unsubscribe",
        "sunsubscribe",
        "psubscribe",
        "punsubscribe",
        "quit",
        "reset",
    }
)

# The reply kinds Redis names for each kind of subscription.
_SUBSCRIBED: Final = (b"subscribe", b"psubscribe", b"ssubscribe")
_UNSUBSCRIBED: Final = (b"unsubscribe", b"punsubscribe", b"sunsubscribe")


def subscribed_only(command: str) -> CommandError:
    """What a RESP2 subscriber gets for any other command."""
    return CommandError(
        f"ERR Can't execute '{command}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING /"
        " QUIT / RESET are allowed in this context"
    )


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _header(proto: int, count: int) -> bytes:
    return (b">%d\r\n" if proto == 3 else b"*%d\r\n") % count


def message_bytes(proto: int, channel: bytes, message: bytes, *, shard: bool = False) -> bytes:
    """A `message` (or `smessage`) push: an array in RESP2, a push in RESP3."""
    kind = b"$8\r\nsmessage\r\n" if shard else b"$7\r\nmessage\r\n"
    return _header(proto, 3) + kind + _bulk(channel) + _bulk(message)


def pmessage_bytes(proto: int, pattern: bytes, channel: bytes, message: bytes) -> bytes:
    return (
        _header(proto, 4) + b"$8\r\npmessage\r\n" + _bulk(pattern) + _bulk(channel) + _bulk(message)
    )


def subscription_bytes(proto: int, kind: bytes, name: bytes | None, count: int) -> bytes:
    """(un)subscribe confirmation: [kind, channel or null, subscriptions left]."""
    target = _bulk(name) if name is not None else (b"_\r\n" if proto == 3 else b"$-1\r\n")
    return _header(proto, 3) + _bulk(kind) + target + b":%d\r\n" % count


class PubSub:
    """This node's subscriptions: channel (pattern, shard channel) -> its clients, in
    subscription order; each client keeps its own (`ClientState.subscriptions`)."""

    def __init__(self) -> None:
        self.by_kind: tuple[dict[bytes, dict[int, ClientState]], ...] = ({}, {}, {})

    # -- subscribing -------------------------------------------------------------------

    def subscribe(self, client: ClientState, kind: int, names: Iterable[bytes]) -> list[bytes]:
        """SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE: the confirmations, one per name."""
        mine = client.subscriptions[kind]
        table = self.by_kind[kind]
        replies: list[bytes] = []
        for name in names:
            if name not in mine:
                mine[name] = None
                table.setdefault(name, {})[client.id] = client
            replies.append(
                subscription_bytes(client.proto, _SUBSCRIBED[kind], name, _count(client, kind))
            )
        if not client.subscribed:
            client.subscribed = True
            client.note_modes()
        return replies

    def unsubscribe(
        self, client: ClientState, kind: int, names: list[bytes], *, notify: bool = True
    ) -> list[bytes]:
        """UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE (every one when `names` is empty)."""
        mine = client.subscriptions[kind]
        every = not names
        if every:
            names = list(mine)
        replies: list[bytes] = []
        for name in names:
            if name in mine:
                del mine[name]
                subscribers = self.by_kind[kind][name]
                del subscribers[client.id]
                if not subscribers:
                    del self.by_kind[kind][name]
            if notify:
                replies.append(
                    subscription_bytes(
                        client.proto, _UNSUBSCRIBED[kind], name, _count(client, kind)
                    )
                )
        if every and notify and not replies:
            replies.append(
                subscription_bytes(client.proto, _UNSUBSCRIBED[kind], None, _count(client, kind))
            )
        channels, patterns, shard = client.subscriptions
        subscribed = bool(channels or patterns or shard)
        if subscribed != client.subscribed:
            client.subscribed = subscribed
            client.note_modes()
        return replies

    def forget(self, client: ClientState) -> None:
        """A client closed or RESET: no subscriptions left, nothing sent."""
        for kind in (CHANNELS, PATTERNS, SHARD):
            if client.subscriptions[kind]:
                self.unsubscribe(client, kind, [], notify=False)

    # -- delivering --------------------------------------------------------------------

    def deliver(self, messages: list[Message]) -> None:
        """Messages an applied entry (or a read: key misses) published, in order."""
        channels, patterns, shard_channels = self.by_kind
        for channel, message, shard, receivers in messages:
            count = 0
            subscribers = (shard_channels if shard else channels).get(channel)
            if subscribers:
                for client in list(subscribers.values()):
                    _send(client, message_bytes(client.proto, channel, message, shard=shard))
                    count += 1
            if patterns and not shard:
                for pattern, clients in list(patterns.items()):
                    if not glob_match(pattern, channel):
                        continue
                    for client in list(clients.values()):
                        _send(client, pmessage_bytes(client.proto, pattern, channel, message))
                        count += 1
            if receivers is not None:
                receivers.count += count

    # -- introspection (PUBSUB, INFO, CLIENT LIST) ---------------------------------------

    def names(self, kind: int, pattern: bytes | None) -> list[bytes]:
        table = self.by_kind[kind]
        if pattern is None:
            return list(table)
        return [name for name in table if glob_match(pattern, name)]

    def subscribers(self, kind: int, name: bytes) -> int:
        return len(self.by_kind[kind].get(name, ()))

    def count(self, kind: int) -> int:
        return len(self.by_kind[kind])


def _send(client: ClientState, data: bytes) -> None:
    """To the client's outbox (`Outbox.push_message`: its output limits apply)."""
    if client.send_push is not None:
        client.send_push(data)


def _count(client: ClientState, kind: int) -> int:
    """What a confirmation reports: channels and patterns together, shard channels apart."""
    channels, patterns, shard = client.subscriptions
    return len(shard) if kind == SHARD else len(channels) + len(patterns)
