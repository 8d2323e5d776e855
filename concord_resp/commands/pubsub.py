"""PUBLISH and SPUBLISH: log entries whose effect is a message.

A message is published when its entry is applied: the handler adds it to the entry's
messages (`store.events`), and every node delivers it to its own subscribers from its own
apply, so every subscriber of a channel, on any node, sees its messages in the log's order.
The reply is `Receivers`, the count the publisher's node fills in as it delivers (Redis
Cluster's PUBLISH counts the receivers on the publisher's node too). A script's
`redis.call('PUBLISH', ...)` gets 0: its result must be the same on every replica.
"""

from __future__ import annotations

from ..resp import Reply
from .context import Context
from .registry import Route
from .spec import command


@command("publish", route=Route.LOG)
def publish(ctx: Context, argv: list[bytes]) -> Reply:
    return ctx.keyspace.events.publish(argv[1], argv[2])


@command("spublish", route=Route.LOG)
def spublish(ctx: Context, argv: list[bytes]) -> Reply:
    return ctx.keyspace.events.publish(argv[1], argv[2], shard=True)
