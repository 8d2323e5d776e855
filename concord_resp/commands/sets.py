"""Set commands (SADD, SPOP, SINTER, SDIFFSTORE, SSCAN and friends), as Redis 7.0's t_set.c
answers them.

A set is a `SetValue` (store/types/set.py): an intset (ascending) or a hashtable, converted
where `setTypeAdd` converts. Writes look keys up for write first and change a set only inside
`db.changing` (a version bump for WATCH; an emptied set is deleted); a write that changes
nothing bumps nothing. Results of SUNION, SDIFF and the *STORE commands are built the way
Redis builds them (an intset to which every member is added, so small integer results are
intsets and reply in ascending order), and SDIFF picks Redis's algorithm, which decides
whether a stored difference stays an intset. SPOP draws from `ctx.rng` (the entry's seed),
with Redis's cases (t_set.c): they decide the reply's shape and the encoding left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from ..resp import Reply, RespSet
from ..store.encoding import EncodingConfig
from ..store.events import NOTIFY_GENERIC, NOTIFY_SET
from ..store.types.set import SET, SetValue
from .context import Context
from .errors import SYNTAX, CommandError
from .glob import glob_match
from .keys import parse_cursor, parse_scan_options
from .lists import NUMKEYS, parse_positive
from .lookup import check_type, lookup_read, lookup_read_typed, lookup_write, lookup_write_typed
from .members import draw, draw_distinct, parse_random_count
from .parse import option_name, parse_int
from .spec import command

TOO_MANY_KEYS: Final = "ERR Number of keys can't be greater than number of args"
LIMIT_NEGATIVE: Final = "ERR LIMIT can't be negative"
SPOP_MOVE_STRATEGY_MUL: Final = 5
"""SPOP with a count keeps the rest in a new set when what remains is at most a fifth of
what is popped (t_set.c's CASE 3): the new set's encoding is then decided afresh."""

# -- adding and removing ------------------------------------------------------------------


@command("sadd")
def sadd(ctx: Context, argv: list[bytes]) -> Reply:
    key, members, config = argv[1], argv[2:], ctx.keyspace.config
    set_ = lookup_write_typed(ctx, key, SET)
    if set_ is None:
        first = members[0]
        with ctx.db.changing(key, ctx.index, lambda: SetValue.for_member(first)) as created:
            added = sum(created.add(member, config) for member in members)
    elif all(member in set_ for member in members):
        return 0
    else:
        with ctx.db.changing(key, ctx.index, SetValue) as changed:
            added = sum(changed.add(member, config) for member in members)
    if ctx.notifying:
        ctx.notify(NOTIFY_SET, b"sadd", key)
    return added


@command("srem")
def srem(ctx: Context, argv: list[bytes]) -> Reply:
    key, members = argv[1], argv[2:]
    set_ = lookup_write_typed(ctx, key, SET)
    if set_ is None or not any(member in set_ for member in members):
        return 0
    with ctx.db.changing(key, ctx.index, SetValue) as changed:
        removed = sum(changed.remove(member) for member in members)
    if ctx.notifying:
        ctx.notify(NOTIFY_SET, b"srem", key)
        ctx.notify_if_deleted(key)
    return removed


@command("smove")
def smove(ctx: Context, argv: list[bytes]) -> Reply:
    """Redis's `smoveCommand`: both keys are looked up before either is type-checked, and a
    missing source answers 0 whatever the destination holds."""
    source, destination, member = argv[1], argv[2], argv[3]
    found, target = lookup_write(ctx, source), lookup_write(ctx, destination)
    if found is None:
        return 0
    source_set, target_set = check_type(found, SET), check_type(target, SET)
    assert source_set is not None
    if source == destination:
        return int(member in source_set)
    if member not in source_set:
        return 0
    with ctx.db.changing(source, ctx.index, SetValue) as changed:
        changed.remove(member)
    ctx.notify(NOTIFY_SET, b"srem", source)
    ctx.notify_if_deleted(source)
    if target_set is None or member not in target_set:
        with ctx.db.changing(
            destination, ctx.index, lambda: SetValue.for_member(member)
        ) as created:
            created.add(member, ctx.keyspace.config)
        ctx.notify(NOTIFY_SET, b"sadd", destination)
    return 1


# -- popping and sampling -----------------------------------------------------------------


@command("spop")
def spop(ctx: Context, argv: list[bytes]) -> Reply:
    if len(argv) == 3:
        return _spop_count(ctx, argv[1], parse_positive(argv[2]))
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    key = argv[1]
    if lookup_write_typed(ctx, key, SET) is None:
        return None
    with ctx.db.changing(key, ctx.index, SetValue) as changed:
        member = changed.picker()(ctx.rng.randrange(len(changed)))
        changed.remove(member)
    ctx.notify(NOTIFY_SET, b"spop", key)
    ctx.notify_if_deleted(key)
    return member


def _spop_count(ctx: Context, key: bytes, count: int) -> Reply:
    """Redis's `spopWithCountCommand`: a set reply (RESP3), never with repeats."""
    set_ = lookup_write_typed(ctx, key, SET)
    if set_ is None or count == 0:
        return RespSet()
    size, config, rng = len(set_), ctx.keyspace.config, ctx.rng
    ctx.notify(NOTIFY_SET, b"spop", key)
    if count >= size:
        # CASE 1: the whole set, answered as SUNION of it answers, and the key deleted.
        lookup_read(ctx, key)
        whole = _combine([set_], config, diff=False)
        ctx.db.delete(key, ctx.index)
        ctx.notify_if_deleted(key)
        return RespSet(whole)
    remaining = size - count
    with ctx.db.changing(key, ctx.index, SetValue) as changed:
        pick = changed.picker()
        if remaining * SPOP_MOVE_STRATEGY_MUL > count:
            # CASE 2: pop `count` random members one by one.
            popped: list[bytes] = []
            for _ in range(count):
                member = pick(rng.randrange(len(changed)))
                changed.remove(member)
                popped.append(member)
            return RespSet(popped)
        # CASE 3: move the members that stay to a new set, answer with what is left.
        kept: SetValue | None = None
        for _ in range(remaining):
            member = pick(rng.randrange(len(changed)))
            if kept is None:
                kept = SetValue.for_member(member)
            kept.add(member, config)
            changed.remove(member)
        assert kept is not None
        popped = list(changed)
        changed.take(kept)
    return RespSet(popped)


@command("srandmember")
def srandmember(ctx: Context, argv: list[bytes]) -> Reply:
    """Redis's `srandmemberCommand`: one member, or `count` of them (distinct for a positive
    count, possibly repeated for a negative one), as an array."""
    if len(argv) == 3:
        count = parse_random_count(argv[2])
        set_ = lookup_read_typed(ctx, argv[1], SET)
        if set_ is None or count == 0:
            return []
        size = len(set_)
        if count < 0 or count == 1:
            return draw(ctx.rng, set_.picker(), size, abs(count))
        if count >= size:
            return list(set_)
        found = set_
        return draw_distinct(ctx.rng, set_.picker(), lambda: found, size, count)
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    set_ = lookup_read_typed(ctx, argv[1], SET)
    if set_ is None:
        return None
    return set_.picker()(ctx.rng.randrange(len(set_)))


# -- reading one set ----------------------------------------------------------------------


@command("sismember")
def sismember(ctx: Context, argv: list[bytes]) -> Reply:
    set_ = lookup_read_typed(ctx, argv[1], SET)
    return int(set_ is not None and argv[2] in set_)


@command("smismember")
def smismember(ctx: Context, argv: list[bytes]) -> Reply:
    set_ = lookup_read_typed(ctx, argv[1], SET)
    if set_ is None:
        return [0] * (len(argv) - 2)
    return [int(member in set_) for member in argv[2:]]


@command("scard")
def scard(ctx: Context, argv: list[bytes]) -> Reply:
    set_ = lookup_read_typed(ctx, argv[1], SET)
    return 0 if set_ is None else len(set_)


@command("smembers")
def smembers(ctx: Context, argv: list[bytes]) -> Reply:
    # Redis 7.0 runs SMEMBERS as SINTER of one key.
    set_ = lookup_read_typed(ctx, argv[1], SET)
    return RespSet() if set_ is None else RespSet(set_)


@command("sscan")
def sscan(ctx: Context, argv: list[bytes]) -> Reply:
    """Redis's `sscanCommand`: the cursor is checked first, then the key, then the options
    (a missing key answers an empty scan whatever they are)."""
    cursor = parse_cursor(argv[2])
    set_ = lookup_read_typed(ctx, argv[1], SET)
    if set_ is None:
        return [b"0", []]
    count, pattern, _ = parse_scan_options(argv, 3)
    next_cursor, members = set_.scan(cursor, count)
    if pattern is not None:
        members = [member for member in members if glob_match(pattern, member)]
    return [b"%d" % next_cursor, members]


# -- algebra ------------------------------------------------------------------------------


def _lookup_sets(ctx: Context, keys: list[bytes], purge: bool) -> list[SetValue | None]:
    """Each key's set (None if missing), looked up in order as Redis's `lookupKeyRead`
    (WRONGTYPE at the first key of another type); `purge` for a write command."""
    return [lookup_read_typed(ctx, key, SET, purge=purge) for key in keys]


def _intersection(sets: list[SetValue], limit: int = 0) -> Iterator[bytes]:
    """Redis's `sinterGenericCommand` over existing sets: the smallest set's members, in its
    order, that every other set has (sets sorted by size, stably, as glibc's qsort does);
    at most `limit` of them (0: all)."""
    ordered = sorted(sets, key=len)
    first, others = ordered[0], ordered[1:]
    found = 0
    for member in first:
        if all(other is first or member in other for other in others):
            yield member
            found += 1
            if found == limit:
                return


def _combine(sets: list[SetValue | None], config: EncodingConfig, diff: bool) -> SetValue:
    """Redis's `sunionDiffGenericCommand` result: a new intset to which members are added
    (becoming a hashtable where `setTypeAdd` converts), by union or by difference, with the
    difference algorithm Redis chooses (it decides whether the result converts)."""
    result = SetValue()
    if not diff:
        for set_ in sets:
            if set_ is not None:
                for member in set_:
                    result.add(member, config)
        return result
    first = sets[0]
    if first is None or any(set_ is first for set_ in sets[1:]):
        return result  # nothing to subtract from, or subtracting the set itself
    present = [set_ for set_ in sets if set_ is not None]
    one_work = len(first) * len(present) // 2
    two_work = sum(len(set_) for set_ in present)
    others = present[1:]
    if one_work <= two_work:
        # Algorithm 1: the first set's members that no other set has.
        others.sort(key=len, reverse=True)
        for member in first:
            if not any(member in other for other in others):
                result.add(member, config)
        return result
    # Algorithm 2: all of the first set, then every other set's members removed.
    for member in first:
        result.add(member, config)
    for other in others:
        for member in other:
            result.remove(member)
        if not result:
            break
    return result


def _store(ctx: Context, destination: bytes, result: SetValue, event: bytes) -> int:
    """Redis's *STORE ending: a non-empty result replaces the destination (whatever it
    held; its TTL goes; notified as `event`), an empty one deletes it (`del`)."""
    if result:
        ctx.db.get_for_write(destination, ctx.now)
        ctx.db.set(destination, result, ctx.index)
        ctx.notify(NOTIFY_SET, event, destination)
        return len(result)
    if ctx.db.delete(destination, ctx.index):
        ctx.notify(NOTIFY_GENERIC, b"del", destination)
    return 0


@command("sinter")
def sinter(ctx: Context, argv: list[bytes]) -> Reply:
    sets = _lookup_sets(ctx, argv[1:], purge=False)
    if None in sets:
        return RespSet()
    return RespSet(_intersection(_present(sets)))


@command("sintercard")
def sintercard(ctx: Context, argv: list[bytes]) -> Reply:
    numkeys = parse_int(argv[1], NUMKEYS)
    if numkeys < 1:
        raise CommandError(NUMKEYS)
    if numkeys > len(argv) - 2:
        raise CommandError(TOO_MANY_KEYS)
    limit = 0
    i = 2 + numkeys
    while i < len(argv):
        if option_name(argv[i]) == b"limit" and i + 1 < len(argv):
            limit = parse_positive(argv[i + 1], LIMIT_NEGATIVE)
            i += 2
        else:
            raise CommandError(SYNTAX)
    sets = _lookup_sets(ctx, argv[2 : 2 + numkeys], purge=False)
    if None in sets:
        return 0
    return sum(1 for _ in _intersection(_present(sets), limit))


@command("sinterstore")
def sinterstore(ctx: Context, argv: list[bytes]) -> Reply:
    sets = _lookup_sets(ctx, argv[2:], purge=True)
    result = SetValue()
    if None not in sets:
        config = ctx.keyspace.config
        for member in _intersection(_present(sets)):
            result.add(member, config)
    return _store(ctx, argv[1], result, b"sinterstore")


@command("sunion")
def sunion(ctx: Context, argv: list[bytes]) -> Reply:
    sets = _lookup_sets(ctx, argv[1:], purge=False)
    return RespSet(_combine(sets, ctx.keyspace.config, diff=False))


@command("sunionstore")
def sunionstore(ctx: Context, argv: list[bytes]) -> Reply:
    sets = _lookup_sets(ctx, argv[2:], purge=True)
    return _store(ctx, argv[1], _combine(sets, ctx.keyspace.config, diff=False), b"sunionstore")


@command("sdiff")
def sdiff(ctx: Context, argv: list[bytes]) -> Reply:
    sets = _lookup_sets(ctx, argv[1:], purge=False)
    return RespSet(_combine(sets, ctx.keyspace.config, diff=True))


@command("sdiffstore")
def sdiffstore(ctx: Context, argv: list[bytes]) -> Reply:
    sets = _lookup_sets(ctx, argv[2:], purge=True)
    return _store(ctx, argv[1], _combine(sets, ctx.keyspace.config, diff=True), b"sdiffstore")


def _present(sets: list[SetValue | None]) -> list[SetValue]:
    """The sets, once none is missing (for the type checker)."""
    return [set_ for set_ in sets if set_ is not None]
