"""Consumer groups: XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, and serving the
clients blocked in XREAD or XREADGROUP (Redis 7.0's t_stream.c and blocked.c).

A group's state (last delivered ID, entries read, the PEL and each consumer's) lives in the
stream value (`store.types.stream`). Delivery and idle times are the entry's time (`ctx.now`):
every replica records the same ones. As in Redis, the group commands change the group without
signalling the key (WATCH does not see them), except a stream XGROUP CREATE MKSTREAM makes;
XGROUP DESTROY wakes the XREADGROUP waiters of its key, which then get NOGROUP.
"""

from __future__ import annotations

from itertools import islice
from typing import Final

from ..resp import NULL_ARRAY, OK, ErrorReply, NestedMap, Reply
from ..store import Value
from ..store.events import NOTIFY_STREAM
from ..store.types.stream import (
    INVALID_ENTRIES_READ,
    MAX_ID,
    MIN_ID,
    STREAM,
    Consumer,
    Group,
    Nack,
    StreamID,
    StreamValue,
    format_id,
)
from .context import Context
from .errors import SYNTAX, CommandError, subcommand_syntax
from .help import help_reply
from .lookup import lookup_read_typed, lookup_write_typed
from .parse import option_name, parse_int
from .registry import Route
from .spec import command
from .streams import (
    XREAD_BLOCKED_DEFAULT_COUNT,
    Entry,
    entry_reply,
    increment_id,
    parse_id,
    parse_read_args,
    range_bounds,
    range_reply,
    start_bound,
)
from .waits import WAITS_FOR_STREAM, Block

NOGROUP_BLOCKED: Final = ErrorReply(
    b"NOGROUP the consumer group this client was blocked on no longer exists"
)
UNBLOCKED_DELETED: Final = ErrorReply(b"UNBLOCKED the stream key no longer exists")
LONG_MAX: Final = (1 << 63) - 1


def _c(text: bytes) -> bytes:
    """A name as Redis's %s prints it (up to the first NUL byte)."""
    return text.split(b"\0", 1)[0]


def _nogroup(key: bytes, group: bytes, suffix: bytes = b"") -> CommandError:
    return CommandError(
        b"NOGROUP No such key '%s' or consumer group '%s'%s" % (_c(key), _c(group), suffix)
    )


def consumer_for(ctx: Context, key: bytes, group: Group, name: bytes) -> Consumer:
    """streamLookupConsumer (its seen time refreshed), else streamCreateConsumer."""
    consumer = group.consumer(name)
    if consumer is None:
        consumer = group.create_consumer(name, ctx.now)
        ctx.notify(NOTIFY_STREAM, b"xgroup-createconsumer", key)
    else:
        consumer.seen_time = ctx.now
    return consumer


# -- XGROUP -----------------------------------------------------------------------------------


def _group_args(ctx: Context, argv: list[bytes]) -> tuple[StreamValue | None, bool, int]:
    """The options of CREATE and SETID, then the key's stream (xgroupCommand's order)."""
    sub = option_name(argv[1])
    mkstream = False
    entries_read = INVALID_ENTRIES_READ
    i = 5
    while i < len(argv):
        opt = option_name(argv[i])
        if sub == b"create" and opt == b"mkstream":
            mkstream = True
            i += 1
        elif sub in (b"create", b"setid") and opt == b"entriesread" and i + 1 < len(argv):
            entries_read = parse_int(argv[i + 1])
            if entries_read < 0 and entries_read != INVALID_ENTRIES_READ:
                raise CommandError("ERR value for ENTRIESREAD must be positive or -1")
            i += 2
        else:
            raise subcommand_syntax(argv[1], "xgroup")
    stream = lookup_write_typed(ctx, argv[2], STREAM)
    if stream is None and not mkstream:
        raise CommandError(
            "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you "
            "may want to use the MKSTREAM option to create an empty stream automatically."
        )
    return stream, mkstream, entries_read


def _existing_group(stream: StreamValue, argv: list[bytes]) -> Group:
    group: Group | None = stream.groups.get(argv[3])
    if group is None:
        raise CommandError(
            b"NOGROUP No such consumer group '%s' for key name '%s'" % (_c(argv[3]), _c(argv[2]))
        )
    return group


@command("xgroup|create")
def xgroup_create(ctx: Context, argv: list[bytes]) -> Reply:
    stream, _, entries_read = _group_args(ctx, argv)
    if len(argv) > 8:
        raise subcommand_syntax(argv[1], "xgroup")
    if argv[4] == b"$":
        last_id = stream.last_id if stream is not None else MIN_ID
    else:
        last_id = parse_id(argv[4], strict=True)
    key = argv[2]
    if stream is None:
        with ctx.db.changing(key, ctx.index, StreamValue) as stream:
            pass
    if argv[3] in stream.groups:
        raise CommandError("BUSYGROUP Consumer Group name already exists")
    stream.groups[argv[3]] = Group(argv[3], last_id, entries_read)
    ctx.notify(NOTIFY_STREAM, b"xgroup-create", key)
    return OK


@command("xgroup|setid")
def xgroup_setid(ctx: Context, argv: list[bytes]) -> Reply:
    stream, _, entries_read = _group_args(ctx, argv)
    assert stream is not None
    group = _existing_group(stream, argv)
    if len(argv) not in (5, 7):
        raise subcommand_syntax(argv[1], "xgroup")
    group.last_id = stream.last_id if argv[4] == b"$" else parse_id(argv[4])
    group.entries_read = entries_read
    ctx.notify(NOTIFY_STREAM, b"xgroup-setid", argv[2])
    return OK


@command("xgroup|destroy")
def xgroup_destroy(ctx: Context, argv: list[bytes]) -> Reply:
    stream, _, _ = _group_args(ctx, argv)
    assert stream is not None
    if stream.groups.pop(argv[3], None) is None:
        return 0
    ctx.notify(NOTIFY_STREAM, b"xgroup-destroy", argv[2])
    ctx.db.journal.append((ctx.db.number, argv[2]))  # its XREADGROUP waiters get NOGROUP
    return 1


@command("xgroup|createconsumer")
def xgroup_createconsumer(ctx: Context, argv: list[bytes]) -> Reply:
    stream, _, _ = _group_args(ctx, argv)
    assert stream is not None
    group = _existing_group(stream, argv)
    if group.consumer(argv[4]) is not None:
        return 0
    group.create_consumer(argv[4], ctx.now)
    ctx.notify(NOTIFY_STREAM, b"xgroup-createconsumer", argv[2])
    return 1


@command("xgroup|delconsumer")
def xgroup_delconsumer(ctx: Context, argv: list[bytes]) -> Reply:
    stream, _, _ = _group_args(ctx, argv)
    assert stream is not None
    group = _existing_group(stream, argv)
    consumer = group.consumer(argv[4])
    if consumer is None:
        return 0
    pending = group.delete_consumer(consumer)
    ctx.notify(NOTIFY_STREAM, b"xgroup-delconsumer", argv[2])
    return pending


@command("xgroup|help", route=Route.LOCAL)
def xgroup_help(ctx: Context, argv: list[bytes]) -> Reply:
    return help_reply(
        "xgroup",
        [
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    )


# -- XREADGROUP -------------------------------------------------------------------------------


def deliver_new(
    ctx: Context,
    stream: StreamValue,
    group: Group,
    consumer: Consumer,
    count: int,
    noack: bool,
) -> list[Entry]:
    """streamReplyWithRange for `>`: the entries after the group's last delivered ID, each
    moving it on and (unless NOACK) entering the PEL as this consumer's."""
    out: list[Entry] = []
    start = increment_id(group.last_id)
    if start is None:
        return out
    now = ctx.now
    for stream_id, pairs in stream.range(start, MAX_ID):
        stream.deliver(group, stream_id)
        out.append(entry_reply(stream_id, pairs))
        if not noack:
            nack: Nack | None = group.pel.get(stream_id)
            if nack is None:
                nack = Nack(consumer, now)
                group.pel[stream_id] = nack
            else:  # (after XGROUP SETID moved the group back)
                del nack.consumer.pel[stream_id]
                nack.consumer = consumer
                nack.delivery_time = now
                nack.delivery_count = 1
            consumer.pel[stream_id] = nack
        if count and len(out) >= count:
            break
    return out


def deliver_history(
    ctx: Context, stream: StreamValue, consumer: Consumer, start: StreamID, count: int
) -> list[Entry]:
    """streamReplyWithRangeFromConsumerPEL: this consumer's pending entries from `start`,
    each delivered once more (a deleted entry is its ID and a null)."""
    out: list[Entry] = []
    for stream_id in islice(consumer.pel.irange(start), count or None):
        pairs = stream.entries.get(stream_id)
        if pairs is None:
            out.append([format_id(stream_id), NULL_ARRAY])
            continue
        out.append(entry_reply(stream_id, pairs))
        nack: Nack = consumer.pel[stream_id]
        nack.delivery_time = ctx.now
        nack.delivery_count += 1
    return out


@command("xreadgroup")
def xreadgroup(ctx: Context, argv: list[bytes]) -> Reply:
    args = parse_read_args(argv, group_form=True, in_script=ctx.in_script)
    assert args.group is not None
    assert args.consumer is not None
    half = (len(argv) - args.streams_at) // 2
    keys = argv[args.streams_at : args.streams_at + half]
    targets: list[tuple[bytes, StreamValue, Group, StreamID | None]] = []
    for key, arg in zip(keys, argv[args.streams_at + half :], strict=True):
        stream = lookup_read_typed(ctx, key, STREAM, purge=True)
        group: Group | None = stream.groups.get(args.group) if stream is not None else None
        if stream is None or group is None:
            raise _nogroup(key, args.group, b" in XREADGROUP with GROUP option")
        if arg == b"$":
            raise CommandError(
                "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read "
                "the history of this consumer by specifying a proper ID, or use the > ID to "
                "get new messages. The $ ID would just return an empty result set."
            )
        targets.append((key, stream, group, None if arg == b">" else parse_id(arg, strict=True)))
    served = NestedMap()
    for key, stream, group, after in targets:
        if after is None:
            if not stream.entries or not stream.entries.peekitem(-1)[0] > group.last_id:
                continue
            consumer = consumer_for(ctx, key, group, args.consumer)
            served.append((key, deliver_new(ctx, stream, group, consumer, args.count, args.noack)))
        else:
            consumer = consumer_for(ctx, key, group, args.consumer)
            start = increment_id(after) or MAX_ID
            served.append((key, deliver_history(ctx, stream, consumer, start, args.count)))
    if served:
        return served
    if args.timeout == -1 or ctx.deny_blocking or not ctx.logged:
        return NULL_ARRAY
    return Block(list(dict.fromkeys(keys)), args.timeout, WAITS_FOR_STREAM)


def serve_stream(ctx: Context, argv: list[bytes], key: bytes) -> Reply | None:
    """Serve a client blocked in XREAD or XREADGROUP from `key`, which an entry changed
    (serveClientsBlockedOnStreamKey): the entries past the ID it waits after (a group's
    last delivered ID for XREADGROUP), or None if there are none yet. An XREADGROUP waiter
    whose key is gone or holds another type, or whose group is gone, gets Redis's error."""
    value: Value | None = ctx.db.get_for_write(key, ctx.now)
    group_form = argv[0].lower() == b"xreadgroup"
    if type(value) is not StreamValue:
        return UNBLOCKED_DELETED if group_form else None
    stream: StreamValue = value
    args = parse_read_args(argv, group_form)
    half = (len(argv) - args.streams_at) // 2
    keys = argv[args.streams_at : args.streams_at + half]
    count = args.count or XREAD_BLOCKED_DEFAULT_COUNT
    if group_form:
        assert args.group is not None
        assert args.consumer is not None
        group: Group | None = stream.groups.get(args.group)
        if group is None:
            return NOGROUP_BLOCKED
        if not stream.last_id > group.last_id:
            return None
        consumer = consumer_for(ctx, key, group, args.consumer)
        entries = deliver_new(ctx, stream, group, consumer, count, args.noack)
        return NestedMap([(key, entries)])
    after = parse_id(argv[args.streams_at + half + keys.index(key)], strict=True)
    if not stream.last_id > after:
        return None
    start = increment_id(after) or MAX_ID
    return NestedMap([(key, range_reply(stream, start, MAX_ID, count))])


# -- XACK, XPENDING ---------------------------------------------------------------------------


@command("xack")
def xack(ctx: Context, argv: list[bytes]) -> Reply:
    stream = lookup_read_typed(ctx, argv[1], STREAM, purge=True)
    group: Group | None = stream.groups.get(argv[2]) if stream is not None else None
    if group is None:
        return 0
    ids = [parse_id(arg, strict=True) for arg in argv[3:]]
    acknowledged = 0
    for stream_id in ids:
        nack: Nack | None = group.pel.pop(stream_id, None)
        if nack is not None:
            del nack.consumer.pel[stream_id]
            acknowledged += 1
    return acknowledged


@command("xpending")
def xpending(ctx: Context, argv: list[bytes]) -> Reply:
    argc = len(argv)
    if argc != 3 and not 6 <= argc <= 9:
        raise CommandError(SYNTAX)
    min_idle = 0
    consumer_name: bytes | None = None
    count = 0
    start, end = MIN_ID, MAX_ID
    if argc >= 6:
        at = 3
        if option_name(argv[3]) == b"idle":
            min_idle = parse_int(argv[4])
            if argc < 8:
                raise CommandError(SYNTAX)
            at = 5
        count = max(parse_int(argv[at + 2]), 0)
        start, end = range_bounds(argv[at], argv[at + 1])
        if at + 3 < argc:
            consumer_name = argv[at + 3]
    stream = lookup_read_typed(ctx, argv[1], STREAM)
    group: Group | None = stream.groups.get(argv[2]) if stream is not None else None
    if group is None:
        raise _nogroup(argv[1], argv[2])
    if argc == 3:
        if not group.pel:
            return [0, None, None, NULL_ARRAY]
        owners = [
            [name, b"%d" % len(consumer.pel)]
            for name, consumer in group.consumers.items()
            if consumer.pel
        ]
        return [
            len(group.pel),
            format_id(group.pel.peekitem(0)[0]),
            format_id(group.pel.peekitem(-1)[0]),
            owners,
        ]
    pel = group.pel
    if consumer_name is not None:
        consumer = group.consumer(consumer_name)
        if consumer is None:
            return []
        pel = consumer.pel
    now = ctx.now
    out: list[Reply] = []
    if start > end:
        return out
    for stream_id in pel.irange(start, end):
        if not count:
            break
        nack: Nack = pel[stream_id]
        if min_idle and now - nack.delivery_time < min_idle:
            continue
        count -= 1
        idle = max(now - nack.delivery_time, 0)
        out.append([format_id(stream_id), nack.consumer.name, idle, nack.delivery_count])
    return out


# -- XCLAIM, XAUTOCLAIM -----------------------------------------------------------------------


def _claim(
    group: Group, consumer: Consumer, stream_id: StreamID, nack: Nack, when: int, bump: bool
) -> None:
    if nack.consumer is not consumer:
        nack.consumer.pel.pop(stream_id, None)
    nack.delivery_time = when
    if bump:
        nack.delivery_count += 1
    if nack.consumer is not consumer:
        consumer.pel[stream_id] = nack
        nack.consumer = consumer


def _drop_nack(group: Group, stream_id: StreamID) -> None:
    nack: Nack = group.pel.pop(stream_id)
    nack.consumer.pel.pop(stream_id, None)


@command("xclaim")
def xclaim(ctx: Context, argv: list[bytes]) -> Reply:
    key = argv[1]
    stream = lookup_read_typed(ctx, key, STREAM, purge=True)
    group: Group | None = stream.groups.get(argv[2]) if stream is not None else None
    if stream is None or group is None:
        raise _nogroup(key, argv[2])
    min_idle = max(parse_int(argv[4], "ERR Invalid min-idle-time argument for XCLAIM"), 0)
    ids: list[StreamID] = []
    j = 5
    while j < len(argv):
        try:
            ids.append(parse_id(argv[j], strict=True, error=False))
        except ValueError:
            break
        j += 1
    now = ctx.now
    force = justid = False
    retrycount = -1
    delivery = -1
    last_id = MIN_ID
    while j < len(argv):
        more = len(argv) - 1 - j
        opt = option_name(argv[j])
        if opt == b"force":
            force = True
        elif opt == b"justid":
            justid = True
        elif opt == b"idle" and more:
            j += 1
            delivery = now - parse_int(argv[j], "ERR Invalid IDLE option argument for XCLAIM")
        elif opt == b"time" and more:
            j += 1
            delivery = parse_int(argv[j], "ERR Invalid TIME option argument for XCLAIM")
        elif opt == b"retrycount" and more:
            j += 1
            retrycount = parse_int(argv[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")
        elif opt == b"lastid" and more:
            j += 1
            last_id = parse_id(argv[j], strict=True)
        else:
            raise CommandError(b"ERR Unrecognized XCLAIM option '%s'" % _c(argv[j]))
        j += 1
    if last_id > group.last_id:
        group.last_id = last_id
    if delivery == -1 or delivery < 0 or delivery > now:
        delivery = now
    consumer: Consumer | None = None
    out: list[Reply] = []
    for stream_id in ids:
        nack: Nack | None = group.pel.get(stream_id)
        pairs = stream.entries.get(stream_id)
        if pairs is None:
            if nack is not None:
                _drop_nack(group, stream_id)
            continue
        fresh = False
        if force and nack is None:
            fresh = True
        elif nack is None or (min_idle and now - nack.delivery_time < min_idle):
            continue
        if consumer is None:
            consumer = consumer_for(ctx, key, group, argv[3])
        if fresh:
            nack = Nack(consumer, delivery)  # (streamCreateNACK: one delivery so far)
            group.pel[stream_id] = nack
            consumer.pel[stream_id] = nack
        assert nack is not None
        _claim(group, consumer, stream_id, nack, delivery, bump=retrycount < 0 and not justid)
        if retrycount >= 0:
            nack.delivery_count = retrycount
        out.append(format_id(stream_id) if justid else entry_reply(stream_id, pairs))
    return out


@command("xautoclaim")
def xautoclaim(ctx: Context, argv: list[bytes]) -> Reply:
    key = argv[1]
    min_idle = max(parse_int(argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM"), 0)
    start = start_bound(argv[5])
    count = 100
    justid = False
    j = 6
    while j < len(argv):
        more = len(argv) - 1 - j
        opt = option_name(argv[j])
        if opt == b"count" and more:
            count = parse_int(argv[j + 1], "ERR COUNT must be > 0")
            if not 1 <= count <= LONG_MAX // 16:
                raise CommandError("ERR COUNT must be > 0")
            j += 1
        elif opt == b"justid":
            justid = True
        else:
            raise CommandError(SYNTAX)
        j += 1
    stream = lookup_read_typed(ctx, key, STREAM, purge=True)
    group: Group | None = stream.groups.get(argv[2]) if stream is not None else None
    if stream is None or group is None:
        raise _nogroup(key, argv[2])
    attempts = count * 10
    candidates = list(islice(group.pel.irange(start), attempts + 1))
    position = 0
    now = ctx.now
    consumer: Consumer | None = None
    claimed: list[Reply] = []
    deleted: list[Reply] = []
    while attempts and count and position < len(candidates):
        attempts -= 1
        stream_id = candidates[position]
        position += 1
        nack: Nack = group.pel[stream_id]
        pairs = stream.entries.get(stream_id)
        if pairs is None:
            _drop_nack(group, stream_id)
            deleted.append(format_id(stream_id))
            count -= 1
            continue
        if min_idle and now - nack.delivery_time < min_idle:
            continue
        if consumer is None:
            consumer = consumer_for(ctx, key, group, argv[3])
        _claim(group, consumer, stream_id, nack, now, bump=not justid)
        claimed.append(format_id(stream_id) if justid else entry_reply(stream_id, pairs))
        count -= 1
    # The cursor: the PEL entry after the last one looked at (deleted ones are gone).
    cursor = format_id(candidates[position]) if position < len(candidates) else b"0-0"
    return [cursor, claimed, deleted]
