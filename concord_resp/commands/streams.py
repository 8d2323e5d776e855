"""Stream commands without consumer groups: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID
and XREAD, with Redis 7.0's replies and errors (t_stream.c); the ID syntax shared with the
group commands (`stream_groups.py`) is parsed here.

`*` IDs come from the entry's time (`ctx.now`, the leader's timestamp), so every replica
computes the same ID; the stream's last ID never goes backwards (a clock behind it gives the
last ID's sequence plus one, as Redis's streamNextID). XREAD is a read, except with BLOCK: then
the dispatcher proposes it (`blocking_read`), so that when it finds nothing it registers a
replicated waiter, with every `$` replaced by the ID it meant when the entry was applied.
"""

from __future__ import annotations

from typing import Final

from ..resp import NULL_ARRAY, OK, ErrorReply, NestedMap, Reply
from ..store.events import NOTIFY_STREAM
from ..store.types.stream import (
    MAX_ID,
    MIN_ID,
    STREAM,
    U64_MAX,
    StreamID,
    StreamValue,
    format_id,
)
from .context import Context
from .errors import NO_SUCH_KEY, SYNTAX, CommandError, wrong_arity
from .lookup import lookup_read_typed, lookup_write_typed
from .parse import option_name, parse_int
from .spec import command
from .waits import WAITS_FOR_STREAM, Block

INVALID_ID: Final = "ERR Invalid stream ID specified as stream command argument"
TIMEOUT_NOT_INTEGER: Final = "ERR timeout is not an integer or out of range"
TIMEOUT_NEGATIVE: Final = "ERR timeout is negative"
XREAD_BLOCKED_DEFAULT_COUNT: Final = 1000
MAXLEN_AND_MINID: Final = (
    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
)
UNBALANCED: Final = (
    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
)
NOGROUP_BLOCKED: Final = ErrorReply(
    b"NOGROUP the consumer group this client was blocked on no longer exists"
)
UNBLOCKED_DELETED: Final = ErrorReply(b"UNBLOCKED the stream key no longer exists")

Entry = list[object]  # [ID, [field, value, ...]] as a reply


# -- IDs ------------------------------------------------------------------------------------


def _string2ull(text: bytes) -> int | None:
    """Redis's string2ull: string2ll, else strtoull (spaces, a sign; `-` wraps around)."""
    if not text:
        return None
    if len(text) <= 20:
        try:
            if text == b"0" or (text[:1] in b"123456789-" and text == b"%d" % int(text)):
                number = int(text)
                return number if 0 <= number <= U64_MAX else None
        except ValueError:
            pass
    body = text.lstrip(b" \t\n\v\f\r")
    negative = body[:1] == b"-"
    if body[:1] in (b"-", b"+"):
        body = body[1:]
    if not body or not body.isdigit():
        return None
    number = int(body)
    if number > U64_MAX:
        return None
    return (-number) & U64_MAX if negative else number


def parse_id(
    arg: bytes, missing_seq: int = 0, *, strict: bool = False, error: bool = True
) -> StreamID:
    """streamGenericParseIDOrReply: `ms-seq`, `ms` (seq `missing_seq`), `-`, `+` (not when
    `strict`). Raises CommandError (or ValueError when not `error`)."""
    nul = arg.find(b"\0")
    text = arg if nul < 0 else arg[:nul]
    if len(arg) <= 127:
        if text == b"-" and not strict:
            return MIN_ID
        if text == b"+" and not strict:
            return MAX_ID
        ms_text, dash, seq_text = text.partition(b"-")
        ms = _string2ull(ms_text) if text not in (b"-", b"+") else None
        seq = _string2ull(seq_text) if dash else missing_seq
        if ms is not None and seq is not None:
            return (ms, seq)
    if error:
        raise CommandError(INVALID_ID)
    raise ValueError(arg)


def parse_add_id(arg: bytes) -> tuple[StreamID, bool]:
    """XADD's explicit ID: (ID, whether the sequence was given; `ms-*` leaves it out)."""
    nul = arg.find(b"\0")
    text = arg if nul < 0 else arg[:nul]
    if len(arg) <= 127 and text.endswith(b"-*") and text.count(b"-") == 1:
        ms = _string2ull(text[:-2])
        if ms is not None:
            return (ms, 0), False
    return parse_id(arg, strict=True), True


def parse_interval(arg: bytes, missing_seq: int) -> tuple[StreamID, bool]:
    """streamParseIntervalIDOrReply: (ID, exclusive) of a range bound; `(` excludes."""
    if len(arg) > 1 and arg[:1] == b"(":
        return parse_id(arg[1:], missing_seq, strict=True), True
    return parse_id(arg, missing_seq), False


def increment_id(stream_id: StreamID) -> StreamID | None:
    """streamIncrID (None on overflow)."""
    ms, seq = stream_id
    if seq < U64_MAX:
        return (ms, seq + 1)
    if ms < U64_MAX:
        return (ms + 1, 0)
    return None


def decrement_id(stream_id: StreamID) -> StreamID | None:
    ms, seq = stream_id
    if seq > 0:
        return (ms, seq - 1)
    if ms > 0:
        return (ms - 1, U64_MAX)
    return None


def start_bound(arg: bytes) -> StreamID:
    """The inclusive start of a range argument (`(` excludes: the next ID)."""
    start, exclusive = parse_interval(arg, 0)
    if exclusive:
        moved = increment_id(start)
        if moved is None:
            raise CommandError("ERR invalid start ID for the interval")
        start = moved
    return start


def range_bounds(start_arg: bytes, end_arg: bytes) -> tuple[StreamID, StreamID]:
    """The inclusive bounds of XRANGE-style arguments (`(` made inclusive)."""
    start = start_bound(start_arg)
    end, end_ex = parse_interval(end_arg, U64_MAX)
    if end_ex:
        moved = decrement_id(end)
        if moved is None:
            raise CommandError("ERR invalid end ID for the interval")
        end = moved
    return start, end


def entry_reply(stream_id: StreamID, pairs: list[bytes]) -> Entry:
    return [format_id(stream_id), list(pairs)]


def range_reply(
    stream: StreamValue, start: StreamID, end: StreamID, count: int, reverse: bool = False
) -> list[Entry]:
    """Up to `count` entries (0: all) between the bounds, as XRANGE replies them."""
    out: list[Entry] = []
    for stream_id, pairs in stream.range(start, end, reverse):
        out.append(entry_reply(stream_id, pairs))
        if count and len(out) >= count:
            break
    return out


# -- trimming arguments (XADD and XTRIM) ----------------------------------------------------


class TrimArgs:
    __slots__ = (
        "approx",
        "given",
        "id_arg",
        "limit",
        "maxlen",
        "minid",
        "no_mkstream",
        "position",
        "seq_given",
    )

    def __init__(self) -> None:
        self.maxlen: int | None = None
        self.minid: StreamID | None = None
        self.approx = False
        self.limit = 0
        self.no_mkstream = False
        self.id_arg: bytes | None = None  # XADD's ID argument, None for `*`
        self.given: StreamID | None = None  # the ID it gives
        self.seq_given = True  # False for `ms-*`
        self.position = 0  # where XADD's ID argument is


def parse_trim_args(ctx: Context, argv: list[bytes], xadd: bool) -> TrimArgs:
    """streamParseAddOrTrimArgsOrReply."""
    args = TrimArgs()
    if xadd and argv[2] == b"*":  # the common XADD key * ...: no option to parse
        args.position = 2
        return args
    limit_given = False
    i = 2
    while i < len(argv):
        more = len(argv) - 1 - i
        opt = option_name(argv[i])
        if xadd and argv[i].split(b"\0")[0] == b"*":
            break
        if opt in (b"maxlen", b"minid") and more:
            if args.maxlen is not None or args.minid is not None:
                raise CommandError(MAXLEN_AND_MINID)
            args.approx = False
            nxt = argv[i + 1].split(b"\0")[0]
            if more >= 2 and nxt == b"~":
                args.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            if opt == b"maxlen":
                maxlen = parse_int(argv[i + 1])
                if maxlen < 0:
                    raise CommandError("ERR The MAXLEN argument must be >= 0.")
                args.maxlen = maxlen
            else:
                args.minid = parse_id(argv[i + 1], strict=True)
            i += 2
            continue
        if opt == b"limit" and more:
            args.limit = parse_int(argv[i + 1])
            if args.limit < 0:
                raise CommandError("ERR The LIMIT argument must be >= 0.")
            limit_given = True
            i += 2
            continue
        if xadd and opt == b"nomkstream":
            args.no_mkstream = True
            i += 1
            continue
        if xadd:
            args.id_arg = argv[i]
            args.given, args.seq_given = parse_add_id(argv[i])  # (before the arity check)
            break
        raise CommandError(SYNTAX)
    args.position = i
    strategy = args.maxlen is not None or args.minid is not None
    if args.limit and not strategy:
        raise CommandError(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
        )
    if not xadd and not strategy:
        raise CommandError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if limit_given:
        if not args.approx:
            raise CommandError(
                "ERR syntax error, LIMIT cannot be used without the special ~ option"
            )
    elif args.approx:
        limit = 100 * ctx.keyspace.config.stream_node_max_entries
        args.limit = 10000 if limit <= 0 else min(limit, 1000000)
    else:
        args.limit = 0
    return args


def _trim(stream: StreamValue, args: TrimArgs) -> int:
    if args.maxlen is None and args.minid is None:
        return 0
    return stream.trim(args.maxlen, args.minid, args.approx, args.limit)


# -- the commands ----------------------------------------------------------------------------


@command("xadd")
def xadd(ctx: Context, argv: list[bytes]) -> Reply:
    args = parse_trim_args(ctx, argv, xadd=True)
    fields = argv[args.position + 1 :]
    if len(fields) < 2 or len(fields) % 2:
        raise wrong_arity("xadd")
    given, seq_given = args.given, args.seq_given
    if given == MIN_ID and seq_given:
        raise CommandError("ERR The ID specified in XADD must be greater than 0-0")
    key = argv[1]
    stream = lookup_write_typed(ctx, key, STREAM)
    if stream is None and args.no_mkstream:
        return None
    if stream is not None and stream.last_id == MAX_ID:
        raise CommandError(
            "ERR The stream has exhausted the last possible ID, unable to add more items"
        )
    config = ctx.keyspace.config
    with ctx.db.changing(key, ctx.index, StreamValue) as stream:
        last = stream.last_id
        new_id: StreamID | None
        if given is None:
            new_id = stream.next_id(ctx.now)
        elif not seq_given and given[0] == last[0]:
            if last[1] == U64_MAX:  # (Redis fails here without errno EDOM)
                raise CommandError("ERR Elements are too large to be stored")
            new_id = (last[0], last[1] + 1)
        else:
            new_id = given
        if new_id is None or new_id <= last:
            raise CommandError(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item"
            )
        if sum(len(item) for item in fields) > 1 << 30:
            raise CommandError("ERR Elements are too large to be stored")
        stream.append(
            new_id, list(fields), config.stream_node_max_bytes, config.stream_node_max_entries
        )
        ctx.notify(NOTIFY_STREAM, b"xadd", key)
        if _trim(stream, args):
            ctx.notify(NOTIFY_STREAM, b"xtrim", key)
    return format_id(new_id)


def _range(ctx: Context, argv: list[bytes], reverse: bool) -> Reply:
    start_arg, end_arg = (argv[3], argv[2]) if reverse else (argv[2], argv[3])
    start, end = range_bounds(start_arg, end_arg)
    count = -1
    j = 4
    while j < len(argv):
        if option_name(argv[j]) == b"count" and j + 1 < len(argv):
            count = max(parse_int(argv[j + 1]), 0)
            j += 2
        else:
            raise CommandError(SYNTAX)
    stream = lookup_read_typed(ctx, argv[1], STREAM)
    if stream is None:
        return []
    if count == 0:
        return NULL_ARRAY
    return range_reply(stream, start, end, max(count, 0), reverse)


@command("xrange")
def xrange(ctx: Context, argv: list[bytes]) -> Reply:
    return _range(ctx, argv, reverse=False)


@command("xrevrange")
def xrevrange(ctx: Context, argv: list[bytes]) -> Reply:
    return _range(ctx, argv, reverse=True)


@command("xlen")
def xlen(ctx: Context, argv: list[bytes]) -> Reply:
    stream = lookup_read_typed(ctx, argv[1], STREAM)
    return 0 if stream is None else len(stream)


@command("xdel")
def xdel(ctx: Context, argv: list[bytes]) -> Reply:
    key = argv[1]
    stream = lookup_write_typed(ctx, key, STREAM)
    if stream is None:
        return 0
    ids = [parse_id(arg, strict=True) for arg in argv[2:]]
    if not any(stream_id in stream.entries for stream_id in ids):
        return 0
    deleted = 0
    with ctx.db.changing(key, ctx.index, StreamValue) as changed:
        first_deleted = False
        for stream_id in ids:
            if changed.delete(stream_id):
                deleted += 1
                first_deleted = first_deleted or stream_id == changed.first_id
        if not changed.entries:
            changed.first_id = MIN_ID
        elif first_deleted:
            changed.first_id = changed.first_entry_id()
    ctx.notify(NOTIFY_STREAM, b"xdel", key)
    return deleted


@command("xtrim")
def xtrim(ctx: Context, argv: list[bytes]) -> Reply:
    args = parse_trim_args(ctx, argv, xadd=False)
    key = argv[1]
    stream = lookup_write_typed(ctx, key, STREAM)
    if stream is None:
        return 0
    deleted = _trim(stream, args)
    if deleted:  # (Redis signals the key only if it trimmed something)
        with ctx.db.changing(key, ctx.index):
            pass
        ctx.notify(NOTIFY_STREAM, b"xtrim", key)
    return deleted


@command("xsetid")
def xsetid(ctx: Context, argv: list[bytes]) -> Reply:
    new_last = parse_id(argv[2], strict=True)
    entries_added = -1
    max_deleted = MIN_ID
    i = 3
    while i < len(argv):
        more = len(argv) - 1 - i
        opt = option_name(argv[i])
        if opt == b"entriesadded" and more:
            entries_added = parse_int(argv[i + 1])
            if entries_added < 0:
                raise CommandError("ERR entries_added must be positive")
        elif opt == b"maxdeletedid" and more:
            max_deleted = parse_id(argv[i + 1], strict=True)
            if new_last < max_deleted:
                raise CommandError(
                    "ERR The ID specified in XSETID is smaller than the provided "
                    "max_deleted_entry_id"
                )
        else:
            raise CommandError(SYNTAX)
        i += 2
    key = argv[1]
    stream = lookup_write_typed(ctx, key, STREAM)
    if stream is None:
        raise CommandError(NO_SUCH_KEY)
    if stream.entries:
        if new_last < stream.entries.peekitem(-1)[0]:
            raise CommandError(
                "ERR The ID specified in XSETID is smaller than the target stream top item"
            )
        if entries_added != -1 and len(stream) > entries_added:
            raise CommandError(
                "ERR The entries_added specified in XSETID is smaller than the target stream length"
            )
    stream.last_id = new_last
    if entries_added != -1:
        stream.entries_added = entries_added
    if max_deleted != MIN_ID:
        stream.max_deleted_id = max_deleted
    ctx.notify(NOTIFY_STREAM, b"xsetid", key)
    return OK


# -- XREAD ------------------------------------------------------------------------------------


class ReadArgs:
    __slots__ = ("consumer", "count", "group", "noack", "streams_at", "timeout")

    def __init__(self) -> None:
        self.timeout = -1  # ms; -1: no BLOCK
        self.count = 0
        self.group: bytes | None = None
        self.consumer: bytes | None = None
        self.noack = False
        self.streams_at = 0  # index of the first key


def parse_read_args(argv: list[bytes], group_form: bool, in_script: bool = False) -> ReadArgs:
    """The options of XREAD and XREADGROUP (xreadCommand's parsing, in its order)."""
    args = ReadArgs()
    i = 1
    while i < len(argv):
        more = len(argv) - i - 1
        opt = option_name(argv[i])
        if opt == b"block" and more:
            if in_script:
                raise CommandError(
                    b"ERR %s command is not allowed with BLOCK option from scripts"
                    % argv[0].split(b"\0")[0]
                )
            timeout = parse_int(argv[i + 1], TIMEOUT_NOT_INTEGER)
            if timeout < 0:
                raise CommandError(TIMEOUT_NEGATIVE)
            args.timeout = timeout
            i += 2
        elif opt == b"count" and more:
            args.count = max(parse_int(argv[i + 1]), 0)
            i += 2
        elif opt == b"streams" and more:
            args.streams_at = i + 1
            if (len(argv) - args.streams_at) % 2:
                raise CommandError(UNBALANCED)
            break
        elif opt == b"group" and more >= 2:
            if not group_form:
                raise CommandError(
                    "ERR The GROUP option is only supported by XREADGROUP. "
                    "You called XREAD instead."
                )
            args.group, args.consumer = argv[i + 1], argv[i + 2]
            i += 3
        elif opt == b"noack":
            if not group_form:
                raise CommandError(
                    "ERR The NOACK option is only supported by XREADGROUP. "
                    "You called XREAD instead."
                )
            args.noack = True
            i += 1
        else:
            raise CommandError(SYNTAX)
    if not args.streams_at:
        raise CommandError(SYNTAX)
    if group_form and args.group is None:
        raise CommandError("ERR Missing GROUP option for XREADGROUP")
    return args


def blocking_read(argv: list[bytes]) -> bool:
    """Whether an XREAD has a BLOCK option before STREAMS (the dispatcher then proposes it)."""
    for arg in argv[1:]:
        name = option_name(arg)
        if name == b"block":
            return True
        if name == b"streams":
            return False
    return False


def read_timeout_ms(argv: list[bytes]) -> int:
    """The BLOCK timeout of an XREAD/XREADGROUP, for INFO (0 if none or forever)."""
    try:
        timeout = parse_read_args(argv, argv[0].lower() == b"xreadgroup").timeout
    except CommandError:
        return 0
    return max(timeout, 0)


@command("xread")
def xread(ctx: Context, argv: list[bytes]) -> Reply:
    args = parse_read_args(argv, group_form=False, in_script=ctx.in_script)
    half = (len(argv) - args.streams_at) // 2
    keys = argv[args.streams_at : args.streams_at + half]
    ids: list[StreamID] = []
    streams: list[StreamValue | None] = []
    for key, arg in zip(keys, argv[args.streams_at + half :], strict=True):
        stream = lookup_read_typed(ctx, key, STREAM)
        streams.append(stream)
        if arg == b"$":
            ids.append(stream.last_id if stream is not None else MIN_ID)
        elif arg == b">":
            raise CommandError(
                "ERR The > ID can be specified only when calling XREADGROUP using the "
                "GROUP <group> <consumer> option."
            )
        else:
            ids.append(parse_id(arg, strict=True))
    served = NestedMap()
    for key, stream, after in zip(keys, streams, ids, strict=True):
        if stream is None or not stream.entries:
            continue
        if stream.entries.peekitem(-1)[0] > after:
            start = increment_id(after) or MAX_ID
            served.append((key, range_reply(stream, start, MAX_ID, args.count)))
    if served:
        return served
    if args.timeout == -1 or ctx.deny_blocking or not ctx.logged:
        return NULL_ARRAY
    # Block: the waiter remembers what `$` meant now.
    resolved = list(argv[: args.streams_at + half]) + [format_id(i) for i in ids]
    return Block(list(dict.fromkeys(keys)), args.timeout, WAITS_FOR_STREAM, resolved)
