"""Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS and BITOP (bitops.c).

Bit 0 is the most significant bit of the first byte. A string that a command writes bits into
becomes a `bytearray` (Redis's raw encoding) changed in place inside `db.changing`, grown with
zero bytes as far as the highest bit written; a write that changes no byte leaves the version
alone (WATCH) and only records what Redis's `dbUnshareStringValue` leaves behind, the raw
encoding. Ranges are counted and searched with big-integer primitives (`int.from_bytes`,
`bit_count`, `bit_length`), in time linear in the range, never one Python step per bit.
The helpers shared with BITFIELD and the HyperLogLog commands live here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from ..limits import LLONG_MIN
from ..resp import Reply, string2ll
from ..store.events import NOTIFY_GENERIC, NOTIFY_STRING
from ..store.types import STRING, String
from .context import Context
from .errors import SYNTAX, CommandError
from .lookup import get_string, get_string_for_write, lookup_read_typed, lookup_write
from .parse import option_name, parse_int
from .spec import command
from .strings import PROTO_MAX_BULK_LEN

BIT_OFFSET: Final = "ERR bit offset is not an integer or out of range"
BIT_VALUE: Final = "ERR bit is not an integer or out of range"
BIT_ARGUMENT: Final = "ERR The bit argument must be 1 or 0."
BITOP_NOT_ONE_KEY: Final = "ERR BITOP NOT must be called with a single source key."


# -- shared by the bit commands -----------------------------------------------------------------


def parse_bit_offset(arg: bytes, width: int = 0) -> int:
    """Redis's `getBitOffsetFromArgument`: a bit offset below proto-max-bulk-len bytes.

    With a field `width` (BITFIELD), `#N` means N * width; the product wraps around 64 bits
    as Redis's C multiplication does, so `#2^58` of an i64 is offset 0.
    """
    by_field = width > 0 and arg[:1] == b"#"
    offset = string2ll(arg[1:] if by_field else arg)
    if offset is None:
        raise CommandError(BIT_OFFSET)
    if by_field:
        offset = (offset * width - LLONG_MIN) % (1 << 64) + LLONG_MIN
    if offset < 0 or offset >> 3 >= PROTO_MAX_BULK_LEN:
        raise CommandError(BIT_OFFSET)
    return offset


def keep_raw(ctx: Context, key: bytes, value: String) -> None:
    """What Redis's `dbUnshareStringValue` leaves behind a write that changed no byte: the
    string is raw from now on (OBJECT ENCODING/REFCOUNT), though it did not change (WATCH)."""
    if type(value) is bytearray:
        return
    db = ctx.db
    if (db.encoding_override(key) or STRING.encoding(value)) != (b"raw", 1):
        db.override_encoding(key, b"raw", 1)


@contextmanager
def changing_bits(ctx: Context, key: bytes, value: String | None, size: int) -> Iterator[bytearray]:
    """The string at key as a bytearray at least `size` bytes long (zero-padded), inside
    `db.changing`: a missing key is created raw, a `bytes` value made raw first, keeping its
    TTL (Redis's `lookupStringForBitCommand`)."""
    db = ctx.db
    if value is not None and type(value) is not bytearray:
        db.set(key, bytearray(value), ctx.index, keep_ttl=True)
    with db.changing(key, ctx.index, create=bytearray) as raw:
        if len(raw) < size:
            raw.extend(bytes(size - len(raw)))
        yield raw


def range_int(value: String, start: int, stop: int) -> int:
    """The bytes value[start:stop] as one little-endian integer (through a view: a large
    bytearray is not copied first)."""
    with memoryview(value) as view:
        return int.from_bytes(view[start:stop], "little")


def parse_bit_or_byte(arg: bytes) -> bool:
    """BIT (True) or BYTE (False), else a syntax error."""
    unit = option_name(arg)
    if unit == b"bit":
        return True
    if unit == b"byte":
        return False
    raise CommandError(SYNTAX)


# -- SETBIT / GETBIT ------------------------------------------------------------------------------


@command("setbit")
def setbit(ctx: Context, argv: list[bytes]) -> Reply:
    key = argv[1]
    offset = parse_bit_offset(argv[2])
    on = parse_int(argv[3], BIT_VALUE)
    if on & ~1:
        raise CommandError(BIT_VALUE)
    value = get_string_for_write(ctx, key)
    byte, shift = offset >> 3, 7 - (offset & 7)
    grows = value is None or byte >= len(value)
    old = 0 if grows or value is None else (value[byte] >> shift) & 1
    if not grows and old == on:
        assert value is not None
        keep_raw(ctx, key, value)
        return old
    with changing_bits(ctx, key, value, byte + 1) as raw:
        raw[byte] = (raw[byte] & ~(1 << shift)) | (on << shift)
    ctx.notify(NOTIFY_STRING, b"setbit", key)
    return old


@command("getbit")
def getbit(ctx: Context, argv: list[bytes]) -> Reply:
    offset = parse_bit_offset(argv[2])
    value = get_string(ctx, argv[1])
    byte = offset >> 3
    if value is None or byte >= len(value):
        return 0
    return (value[byte] >> (7 - (offset & 7))) & 1


# -- BITCOUNT / BITPOS ----------------------------------------------------------------------------


def _bit_range(size: int, start: int, end: int, in_bits: bool) -> tuple[int, int, int, int]:
    """Redis's normalisation of a BITCOUNT/BITPOS range: (first byte, last byte, mask of
    the first byte's bits before the range, mask of the last byte's bits after it)."""
    total = size * 8 if in_bits else size
    if start < 0:
        start += total
    if end < 0:
        end += total
    start = max(start, 0)
    end = max(end, 0)
    end = min(end, total - 1)
    if in_bits and start <= end:
        first_mask = ~((1 << (8 - (start & 7))) - 1) & 0xFF
        last_mask = (1 << (7 - (end & 7))) - 1
        return start >> 3, end >> 3, first_mask, last_mask
    return start, end, 0, 0


@command("bitcount")
def bitcount(ctx: Context, argv: list[bytes]) -> Reply:
    value = get_string(ctx, argv[1])
    if value is None:
        return 0
    argc = len(argv)
    first_mask = last_mask = 0
    if argc in (4, 5):
        start = parse_int(argv[2])
        end = parse_int(argv[3])
        if start < 0 and end < 0 and start > end:
            return 0
        in_bits = parse_bit_or_byte(argv[4]) if argc == 5 else False
        start, end, first_mask, last_mask = _bit_range(len(value), start, end, in_bits)
    elif argc == 2:
        start, end = 0, len(value) - 1
    else:
        raise CommandError(SYNTAX)
    if start > end:
        return 0
    count = range_int(value, start, end + 1).bit_count()
    # Bits of the edge bytes outside a BIT range were counted: take them back out.
    return count - (value[start] & first_mask).bit_count() - (value[end] & last_mask).bit_count()


def first_bit(data: bytes | bytearray | memoryview, bit: int) -> int:
    """Redis's `redisBitpos`: the position of the first `bit` in data; for a 1 that is not
    there -1, for a 0 that is not there the first bit after the data (zero-padded)."""
    size = len(data) * 8
    number = int.from_bytes(data, "big")
    if not bit:
        number ^= (1 << size) - 1
    if number == 0:
        return -1 if bit else size
    return size - number.bit_length()


@command("bitpos")
def bitpos(ctx: Context, argv: list[bytes]) -> Reply:
    bit = parse_int(argv[2])
    if bit not in (0, 1):
        raise CommandError(BIT_ARGUMENT)
    value = get_string(ctx, argv[1])
    if value is None:
        return -1 if bit else 0
    argc = len(argv)
    end_given = False
    first_mask = last_mask = 0
    if argc in (4, 5, 6):
        start = parse_int(argv[3])
        in_bits = parse_bit_or_byte(argv[5]) if argc == 6 else False
        if argc >= 5:
            end = parse_int(argv[4])
            end_given = True
        else:
            end = len(value) - 1
        start, end, first_mask, last_mask = _bit_range(len(value), start, end, in_bits)
    elif argc == 3:
        start, end = 0, len(value) - 1
    else:
        raise CommandError(SYNTAX)
    if start > end:
        return -1  # an empty range holds neither a 0 nor a 1
    position, start, size = _search(value, bit, start, end, first_mask, last_mask)
    if end_given and bit == 0 and position == size * 8:
        return -1  # no clear bit inside an explicit range: the padding does not count
    return position + start * 8 if position != -1 else -1


def _search(
    value: String, bit: int, start: int, end: int, first_mask: int, last_mask: int
) -> tuple[int, int, int]:
    """BITPOS's search as Redis runs it, byte range [start, end] with the edge masks of a BIT
    range: the first byte alone, the middle, the last byte alone. Returns (position relative
    to the byte it stopped at, that byte, the bytes left from there), which is what Redis's
    result step reads."""
    size = end - start + 1
    if first_mask:
        edge = value[start] & ~first_mask if bit else value[start] | first_mask
        if last_mask and size == 1:
            edge = edge & ~last_mask if bit else edge | last_mask
        position = first_bit(bytes([edge & 0xFF]), bit)
        if size == 1 or position not in (-1, 8):
            return position, start, size
        start += 1
        size -= 1
    middle = size - (1 if last_mask else 0)
    if middle > 0:
        with memoryview(value) as view:
            position = first_bit(view[start : start + middle], bit)
        if size == middle or position not in (-1, middle * 8):
            return position, start, size
        start += middle
        size -= middle
    edge = value[end] & ~last_mask if bit else value[end] | last_mask
    return first_bit(bytes([edge & 0xFF]), bit), start, size


# -- BITOP --------------------------------------------------------------------------------------------

_OPERATIONS: Final = (b"and", b"or", b"xor", b"not")


@command("bitop")
def bitop(ctx: Context, argv: list[bytes]) -> Reply:
    operation = option_name(argv[1])
    if operation not in _OPERATIONS:
        raise CommandError(SYNTAX)
    if operation == b"not" and len(argv) != 4:
        raise CommandError(BITOP_NOT_ONE_KEY)
    sources = [lookup_read_typed(ctx, key, STRING, purge=True) for key in argv[3:]]
    size = max(len(source) if source is not None else 0 for source in sources)
    target = argv[2]
    if not size:
        if ctx.db.delete(target, ctx.index):  # (no lookup first, as in Redis)
            ctx.notify(NOTIFY_GENERIC, b"del", target)
        return 0
    # Little-endian integers: a shorter string is zero-padded on the right for free.
    numbers = (0 if source is None else range_int(source, 0, len(source)) for source in sources)
    result = next(numbers)
    if operation == b"not":
        result ^= (1 << (size * 8)) - 1
    elif operation == b"and":
        for number in numbers:
            result &= number
    elif operation == b"or":
        for number in numbers:
            result |= number
    else:
        for number in numbers:
            result ^= number
    lookup_write(ctx, target)
    ctx.db.set(target, bytearray(result.to_bytes(size, "little")), ctx.index)
    ctx.notify(NOTIFY_STRING, b"set", target)
    return size
