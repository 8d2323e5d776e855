"""String commands (GET, SET and friends), with Redis 7's options, replies and errors."""

from __future__ import annotations

from ..resp import OK, Reply
from ..store import Value
from .context import Context
from .errors import SYNTAX, WRONGTYPE, CommandError, invalid_expire
from .parse import parse_int
from .spec import command

LLONG_MAX = 2**63 - 1


def get_string(ctx: Context, key: bytes) -> Value | None:
    """The string at key (None if missing); WRONGTYPE for other types."""
    value = ctx.db.get(key, ctx.now)
    if value is not None and type(value) is not bytes and type(value) is not bytearray:
        raise CommandError(WRONGTYPE)
    return value


def expire_at_ms(ctx: Context, arg: bytes, unit_ms: int, relative: bool, name: str) -> int:
    """Redis's `getExpireMillisecondsOrReply`: an absolute expiry time in ms."""
    amount = parse_int(arg)
    if amount <= 0 or (unit_ms == 1000 and amount > LLONG_MAX // 1000):
        raise invalid_expire(name)
    when = amount * unit_ms
    if relative:
        when += ctx.now
        if when > LLONG_MAX:
            raise invalid_expire(name)
    return when


@command("get")
def get(ctx: Context, argv: list[bytes]) -> Reply:
    return get_string(ctx, argv[1])


@command("set")
def set_(ctx: Context, argv: list[bytes]) -> Reply:
    nx = xx = want_get = keep_ttl = False
    expiry: tuple[bytes, int, bool] | None = None  # (argument, unit in ms, relative?)
    i = 3
    argc = len(argv)
    while i < argc:
        opt = argv[i].lower()
        has_next = i + 1 < argc
        if opt == b"nx" and not xx:
            nx = True
        elif opt == b"xx" and not nx:
            xx = True
        elif opt == b"get":
            want_get = True
        elif opt == b"keepttl" and expiry is None:
            keep_ttl = True
        elif opt in _EXPIRY_UNITS and expiry is None and not keep_ttl and has_next:
            unit, relative = _EXPIRY_UNITS[opt]
            i += 1
            expiry = (argv[i], unit, relative)
        else:
            raise CommandError(SYNTAX)
        i += 1
    key = argv[1]
    when = expire_at_ms(ctx, expiry[0], expiry[1], expiry[2], "set") if expiry else None
    db = ctx.db
    old = get_string(ctx, key) if want_get else None
    found = db.get_for_write(key, ctx.now) is not None
    if (nx and found) or (xx and not found):
        return old if want_get else None
    db.set(key, argv[2], ctx.index, keep_ttl=keep_ttl or when is not None)
    if when is not None:
        db.set_expiry(key, when, ctx.index)
    return old if want_get else OK


_EXPIRY_UNITS: dict[bytes, tuple[int, bool]] = {
    b"ex": (1000, True),
    b"px": (1, True),
    b"exat": (1000, False),
    b"pxat": (1, False),
}
