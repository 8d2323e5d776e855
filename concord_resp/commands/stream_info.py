"""XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS and XINFO HELP, with Redis
7.0's fields (t_stream.c xinfoCommand): maps in RESP3, flat arrays in RESP2. Reads: idle times
are the serving node's time minus the replicated seen/delivery times.
"""

from __future__ import annotations

from itertools import islice

from ..resp import Map, Reply
from ..store.types.stream import STREAM, Group, StreamValue, format_id
from .context import Context
from .errors import NO_SUCH_KEY, CommandError, subcommand_syntax
from .help import help_reply
from .lookup import lookup_read_typed
from .parse import option_name, parse_int
from .registry import Route
from .spec import command
from .streams import entry_reply


def _stream(ctx: Context, key: bytes) -> StreamValue:
    stream = lookup_read_typed(ctx, key, STREAM)
    if stream is None:
        raise CommandError(NO_SUCH_KEY)
    return stream


def _entries_read(group: Group) -> int | None:
    return None if group.entries_read < 0 else group.entries_read


@command("xinfo|stream")
def xinfo_stream(ctx: Context, argv: list[bytes]) -> Reply:
    stream = _stream(ctx, argv[2])  # (the key before the options, as Redis looks it up)
    options = argv[3:]
    full = bool(options)
    count = 10
    if options:
        if len(options) not in (1, 3) or option_name(options[0]) != b"full":
            raise subcommand_syntax(argv[1], "xinfo")
        if len(options) == 3:
            if option_name(options[1]) != b"count":
                raise subcommand_syntax(argv[1], "xinfo")
            count = parse_int(options[2])
            if count < 0:
                count = 10
    info = Map()
    info[b"length"] = len(stream)
    info[b"radix-tree-keys"] = len(stream.nodes)
    info[b"radix-tree-nodes"] = stream.radix_tree_nodes()
    info[b"last-generated-id"] = format_id(stream.last_id)
    info[b"max-deleted-entry-id"] = format_id(stream.max_deleted_id)
    info[b"entries-added"] = stream.entries_added
    info[b"recorded-first-entry-id"] = format_id(stream.first_id)
    entries = stream.entries
    if not full:
        info[b"groups"] = len(stream.groups)
        info[b"first-entry"] = entry_reply(*entries.peekitem(0)) if entries else None
        info[b"last-entry"] = entry_reply(*entries.peekitem(-1)) if entries else None
        return info
    limit = count or None
    info[b"entries"] = [entry_reply(i, entries[i]) for i in islice(entries, limit)]
    groups: list[Reply] = []
    for group in stream.groups.values():
        consumers: list[Reply] = []
        for consumer in group.consumers.values():
            consumers.append(
                Map(
                    {
                        b"name": consumer.name,
                        b"seen-time": consumer.seen_time,
                        b"pel-count": len(consumer.pel),
                        b"pending": [
                            [format_id(i), n.delivery_time, n.delivery_count]
                            for i, n in islice(consumer.pel.items(), limit)
                        ],
                    }
                )
            )
        groups.append(
            Map(
                {
                    b"name": group.name,
                    b"last-delivered-id": format_id(group.last_id),
                    b"entries-read": _entries_read(group),
                    b"lag": stream.lag(group),
                    b"pel-count": len(group.pel),
                    b"pending": [
                        [format_id(i), n.consumer.name, n.delivery_time, n.delivery_count]
                        for i, n in islice(group.pel.items(), limit)
                    ],
                    b"consumers": consumers,
                }
            )
        )
    info[b"groups"] = groups
    return info


@command("xinfo|groups")
def xinfo_groups(ctx: Context, argv: list[bytes]) -> Reply:
    stream = _stream(ctx, argv[2])
    return [
        Map(
            {
                b"name": group.name,
                b"consumers": len(group.consumers),
                b"pending": len(group.pel),
                b"last-delivered-id": format_id(group.last_id),
                b"entries-read": _entries_read(group),
                b"lag": stream.lag(group),
            }
        )
        for group in stream.groups.values()
    ]


@command("xinfo|consumers")
def xinfo_consumers(ctx: Context, argv: list[bytes]) -> Reply:
    stream = _stream(ctx, argv[2])
    group: Group | None = stream.groups.get(argv[3])
    if group is None:
        raise CommandError(
            b"NOGROUP No such consumer group '%s' for key name '%s'"
            % (argv[3].split(b"\0")[0], argv[2].split(b"\0")[0])
        )
    now = ctx.now
    return [
        Map(
            {
                b"name": consumer.name,
                b"pending": len(consumer.pel),
                b"idle": max(now - consumer.seen_time, 0),
            }
        )
        for consumer in group.consumers.values()
    ]


@command("xinfo|help", route=Route.LOCAL)
def xinfo_help(ctx: Context, argv: list[bytes]) -> Reply:
    return help_reply(
        "xinfo",
        [
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    )
