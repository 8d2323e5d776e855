"""SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UN- forms, PUBSUB: this node's subscriptions.

Subscriptions are connection state (`server.pubsub`); PUBLISH and SPUBLISH are log entries
(`commands.pubsub`). PUBSUB answers for this node, as Redis Cluster's nodes do. Confirmations
are Redis 7.0's: one reply per channel, arrays in RESP2, pushes in RESP3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...commands import CommandError, Route
from ...commands.errors import subcommand_syntax
from ...resp import Raw, Reply
from ..client import ClientState
from ..pubsub import CHANNELS, PATTERNS, SHARD
from .base import HelpText, handler, help_reply

if TYPE_CHECKING:
    from ..dispatch import Dispatcher


def _subscribe(d: Dispatcher, client: ClientState, argv: list[bytes], kind: int) -> Reply:
    # In MULTI a client may (P)SUBSCRIBE, for compatibility; SSUBSCRIBE it may not (Redis's
    # CLIENT_DENY_BLOCKING, which EXEC sets).
    if kind == SHARD and client.in_exec:
        raise CommandError("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client")
    return Raw(b"".join(d.state.pubsub.subscribe(client, kind, argv[1:])))


def _unsubscribe(d: Dispatcher, client: ClientState, argv: list[bytes], kind: int) -> Reply:
    return Raw(b"".join(d.state.pubsub.unsubscribe(client, kind, argv[1:])))


@handler("subscribe", route=Route.LOCAL)
def subscribe(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return _subscribe(d, client, argv, CHANNELS)


@handler("psubscribe", route=Route.LOCAL)
def psubscribe(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return _subscribe(d, client, argv, PATTERNS)


@handler("ssubscribe", route=Route.LOCAL)
def ssubscribe(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return _subscribe(d, client, argv, SHARD)


@handler("unsubscribe", route=Route.LOCAL)
def unsubscribe(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return _unsubscribe(d, client, argv, CHANNELS)


@handler("punsubscribe", route=Route.LOCAL)
def punsubscribe(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return _unsubscribe(d, client, argv, PATTERNS)


@handler("sunsubscribe", route=Route.LOCAL)
def sunsubscribe(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return _unsubscribe(d, client, argv, SHARD)


# -- PUBSUB ----------------------------------------------------------------------------------


@handler("pubsub|channels", route=Route.LOCAL)
def pubsub_channels(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return _names(d, argv, CHANNELS)


@handler("pubsub|shardchannels", route=Route.LOCAL)
def pubsub_shardchannels(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return _names(d, argv, SHARD)


def _names(d: Dispatcher, argv: list[bytes], kind: int) -> Reply:
    if len(argv) > 3:  # (the table allows any number: Redis's handler takes one pattern)
        raise subcommand_syntax(argv[1], "pubsub")
    return d.state.pubsub.names(kind, argv[2] if len(argv) == 3 else None)


@handler("pubsub|numsub", route=Route.LOCAL)
def pubsub_numsub(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return _numsub(d, argv, CHANNELS)


@handler("pubsub|shardnumsub", route=Route.LOCAL)
def pubsub_shardnumsub(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return _numsub(d, argv, SHARD)


def _numsub(d: Dispatcher, argv: list[bytes], kind: int) -> Reply:
    reply: list[object] = []
    for channel in argv[2:]:
        reply.append(channel)
        reply.append(d.state.pubsub.subscribers(kind, channel))
    return reply


@handler("pubsub|numpat", route=Route.LOCAL)
def pubsub_numpat(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return d.state.pubsub.count(PATTERNS)


PUBSUB_HELP: HelpText = [
    (
        None,
        [
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern>"
            " (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    )
]


@handler("pubsub|help", route=Route.LOCAL)
def pubsub_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return help_reply(d, "pubsub", PUBSUB_HELP)
