"""`cmsgpack`: lua-cmsgpack 0.4.0 as Redis 7.0 builds it (deps/lua/src/lua_cmsgpack.c).

Packing: a table whose keys are exactly 1..n is an array (an empty table too), any other a
map in the table's own iteration order; tables nested 16 deep pack as nil (so cycles end).
A number with an exact int64 value packs as the smallest integer form, any other as a float
when the C float conversion gives it back exactly, else as a double. Functions, userdata and
nil pack as nil. Unpacking gives integers as Lua numbers (a uint64 past 2^63 wraps to a
negative one, as lua_pushinteger does), raw/str types as strings, and rejects bin and ext
types ("Bad data format"). Tables are filled in the order C fills them, so they iterate in
Redis's order. Stack use is counted as the C code uses Lua's stack, so the limits on how many
values one call returns and how deep data may nest fail where Redis's do, with its errors.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

from lupa import lua51  # type: ignore[import-untyped,unused-ignore]

from ._bridge import MAX_C_STACK, ArgError, Bridge, Failure, RawFailure, to_int32

MAX_NESTING: Final = 16
_TOO_MANY: Final = (
    b"stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"
)
_ARRAY_STACK: Final = b"stack overflow (in function mp_decode_to_lua_array)"
_INT_MAX: Final = 2**31 - 1


class _Eof(Exception):
    """MP_CUR_ERROR_EOF: the input ends inside a value."""


class _BadFormat(Exception):
    """MP_CUR_ERROR_BADFMT: a type byte lua-cmsgpack does not know."""


def _encode_bytes(out: bytearray, data: bytes) -> None:
    size = len(data)
    if size < 32:
        out.append(0xA0 | size)
    elif size <= 0xFF:
        out += b"\xd9" + size.to_bytes(1, "big")
    elif size <= 0xFFFF:
        out += b"\xda" + size.to_bytes(2, "big")
    else:
        out += b"\xdb" + size.to_bytes(4, "big")
    out += data


# (largest value, type byte, size) for non-negative integers, (smallest, ...) for negative ones
_UNSIGNED: Final = ((0xFF, 0xCC, 1), (0xFFFF, 0xCD, 2), (0xFFFFFFFF, 0xCE, 4), (2**64, 0xCF, 8))
_SIGNED: Final = ((-(2**7), 0xD0, 1), (-(2**15), 0xD1, 2), (-(2**31), 0xD2, 4), (-(2**63), 0xD3, 8))


def _encode_int(out: bytearray, n: int) -> None:
    """The smallest form: a fixnum from -32 to 127, else the narrowest int/uint."""
    if -32 <= n <= 127:
        out.append(n & 0xFF)
        return
    for bound, tag, size in _UNSIGNED if n >= 0 else _SIGNED:
        if (n <= bound) if n >= 0 else (n >= bound):
            out.append(tag)
            out += n.to_bytes(size, "big", signed=n < 0)
            return


def _encode_double(out: bytearray, d: float) -> None:
    try:
        single = struct.pack(">f", d)
    except OverflowError:  # beyond a float's range: (double)(float)d is infinite, not d
        single = b""
    if single and struct.unpack(">f", single)[0] == d:
        out += b"\xca" + single
    else:
        out += b"\xcb" + struct.pack(">d", d)


def _encode_header(out: bytearray, n: int, fix: int, wide: bytes) -> None:
    """An array (fix 0x90, 0xdc/0xdd) or map (fix 0x80, 0xde/0xdf) header."""
    if n <= 15:
        out.append(fix | n)
    elif n <= 0xFFFF:
        out += wide[:1] + n.to_bytes(2, "big")
    else:
        out += wide[1:] + n.to_bytes(4, "big")


def _is_array(items: list[tuple[Any, Any]]) -> bool:
    """table_is_an_array: every key a positive int-sized integer, and as many as the largest."""
    largest = 0
    for key, _ in items:
        if type(key) is not int or not 0 < key <= _INT_MAX:
            return False
        largest = max(largest, key)
    return largest == len(items)


def _encode(out: bytearray, value: Any, level: int) -> None:
    kind = type(value)
    if kind is bytes:
        _encode_bytes(out, value)
    elif kind is bool:
        out.append(0xC3 if value else 0xC2)
    elif kind is int:  # lupa gives int exactly for the numbers with an int64 value
        _encode_int(out, value)
    elif kind is float:
        _encode_double(out, value)
    elif level < MAX_NESTING and lua51.lua_type(value) == "table":
        items = list(value.items())
        if _is_array(items):
            values = dict(items)
            _encode_header(out, len(items), 0x90, b"\xdc\xdd")
            for index in range(1, len(items) + 1):
                _encode(out, values[index], level + 1)
        else:
            _encode_header(out, len(items), 0x80, b"\xde\xdf")
            for key, item in items:
                _encode(out, key, level + 1)
                _encode(out, item, level + 1)
    else:
        out.append(0xC0)


class _Decoder:
    """Decodes one top-level value at a time, without recursion (nesting is bounded only by
    the stack count, thousands deep)."""

    def __init__(self, bridge: Bridge, data: bytes, pos: int, used: int) -> None:
        self.bridge = bridge
        self.data = data
        self.pos = pos
        self.used = used  # slots the C function would have on Lua's stack

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise _Eof
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def length(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def value(self) -> Any:
        # frames: [container, items left, is_map, key or _NO_KEY]
        frames: list[list[Any]] = []
        while True:
            value = self.item(frames)
            if value is _OPENED:
                continue
            while frames:
                frame = frames[-1]
                if frame[2] and frame[3] is _NO_KEY:
                    frame[3] = value
                    break
                if frame[2]:
                    key = frame[3]
                    if key is None:
                        raise RawFailure(b"table index is nil")
                    if key != key:
                        raise RawFailure(b"table index is NaN")
                    frame[0].append(key)
                    frame[3] = _NO_KEY
                frame[0].append(value)
                self.used -= 2  # lua_settable pops the key (or index) and the value
                frame[1] -= 1
                if frame[1]:
                    if not frame[2]:
                        self.used += 1  # the next index
                    break
                frames.pop()
                value = self.finish(frame[0], frame[2], len(frames))
            else:
                return value

    def finish(self, items: list[Any], is_map: bool, depth: int) -> Any:
        """A complete container: a list or dict (a Lua table later), or already a table."""
        if is_map:
            try:
                table = dict(zip(items[::2], items[1::2], strict=True))
            except TypeError:  # a table as a key
                return self.bridge.table_from_pairs(items)
            if 2 * len(table) != len(items):
                # Keys Python merges and Lua keeps apart (True and 1), or a key given twice.
                return self.bridge.table_from_pairs(items)
            return self.bridge.nested_table(table, depth)
        return self.bridge.nested_table(items, depth)

    def item(self, frames: list[list[Any]]) -> Any:
        """One value's bytes: a scalar's value, or _OPENED after pushing a container's frame
        (an empty container is its value at once)."""
        if self.pos >= len(self.data):
            raise _Eof
        if self.used + 1 > MAX_C_STACK:
            raise Failure(_TOO_MANY)
        byte = self.data[self.pos]
        self.used += 1
        if byte <= 0x7F:
            self.pos += 1
            return byte
        if byte >= 0xE0:
            self.pos += 1
            return byte - 0x100
        if 0xA0 <= byte <= 0xBF:
            self.pos += 1
            return self.take(byte & 0x1F)
        if byte <= 0x9F:
            self.pos += 1
            return self.open(frames, byte & 0x0F, byte >= 0x90)
        scalar = _SCALARS.get(byte)
        if scalar is not None:
            size, convert = scalar
            raw = self.take(size + 1)[1:]
            return convert(raw)
        if byte in (0xD9, 0xDA, 0xDB):
            self.pos += 1
            return self.take(self.length(1 << (byte - 0xD9)))
        if byte in (0xDC, 0xDD, 0xDE, 0xDF):
            header = self.take(1 + (2 if byte in (0xDC, 0xDE) else 4))
            return self.open(frames, int.from_bytes(header[1:], "big"), byte <= 0xDD)
        raise _BadFormat

    def open(self, frames: list[list[Any]], count: int, is_array: bool) -> Any:
        if is_array and self.used + 1 > MAX_C_STACK:
            raise Failure(_ARRAY_STACK)
        if count == 0:
            return self.finish([], not is_array, len(frames))
        if is_array:
            self.used += 1  # the first index
        frames.append([[], count, not is_array, _NO_KEY])
        return _OPENED


_OPENED: Final = object()
_NO_KEY: Final = object()


def _uint(raw: bytes) -> int:
    """An unsigned integer as lua_pushinteger takes it: past 2^63 it wraps negative."""
    value = int.from_bytes(raw, "big")
    return value - 2**64 if value >= 2**63 else value


def _int(raw: bytes) -> int:
    return int.from_bytes(raw, "big", signed=True)


_SCALARS: Final[dict[int, tuple[int, Callable[[bytes], Any]]]] = {
    0xC0: (0, lambda raw: None),
    0xC2: (0, lambda raw: False),
    0xC3: (0, lambda raw: True),
    0xCA: (4, lambda raw: struct.unpack(">f", raw)[0]),
    0xCB: (8, lambda raw: struct.unpack(">d", raw)[0]),
    0xCC: (1, _uint),
    0xCD: (2, _uint),
    0xCE: (4, _uint),
    0xCF: (8, _uint),
    0xD0: (1, _int),
    0xD1: (2, _int),
    0xD2: (4, _int),
    0xD3: (8, _int),
}


class _MessagePack:
    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def pack(self, *args: Any) -> bytes:
        if not args:
            raise ArgError(0, b"MessagePack pack needs input.")
        if 2 * len(args) > MAX_C_STACK:  # lua_checkstack(L, nargs) over nargs arguments
            raise ArgError(0, b"Too many arguments for MessagePack pack.")
        out = bytearray()
        for value in args:
            _encode(out, value, 0)
        return bytes(out)

    def unpack(self, *args: Any) -> tuple[Any, ...]:
        data = self.bridge.check_string(args, 1)
        return self.unpack_full(data, 0, 0, len(args))

    def unpack_one(self, *args: Any) -> tuple[Any, ...]:
        offset = self.bridge.opt_integer(args, 2, 0)
        data = self.bridge.check_string(args[:1], 1)  # the other arguments are popped first
        return self.unpack_full(data, 1, offset, 1)

    def unpack_limit(self, *args: Any) -> tuple[Any, ...]:
        limit = self.bridge.check_integer(args, 2)
        offset = self.bridge.opt_integer(args, 3, 0)
        data = self.bridge.check_string(args[:1], 1)
        return self.unpack_full(data, limit, offset, 1)

    def unpack_full(self, data: bytes, limit: int, offset: int, used: int) -> tuple[Any, ...]:
        """mp_unpack_full: up to `limit` values from `offset` (0 and 0: all of them, and no
        offset returned); `used` is the stack slots the arguments take."""
        decode_all = limit == 0 and offset == 0
        if offset < 0 or limit < 0:  # (Redis prints the input length as the limit)
            raise Failure(
                b"Invalid request to unpack with offset of %d and limit of %d."
                % (to_int32(offset), to_int32(len(data)))
            )
        if offset > len(data):
            raise Failure(
                b"Start offset %d greater than input length %d."
                % (to_int32(offset), to_int32(len(data)))
            )
        if decode_all:
            limit = _INT_MAX
        decoder = _Decoder(self.bridge, data, offset, used)
        results: list[Any] = []
        while decoder.pos < len(data) and len(results) < limit:
            try:
                value = decoder.value()
            except _Eof:
                raise Failure(b"Missing bytes in input.") from None
            except _BadFormat:
                raise Failure(b"Bad data format in input.") from None
            if type(value) is list or type(value) is dict:
                value = self.bridge.table_from(value)
            results.append(value)
        if decode_all:
            return tuple(results)
        if decoder.used + 1 > MAX_C_STACK:
            raise Failure(b"stack overflow (in function mp_unpack_full)")
        return (-1 if decoder.pos == len(data) else decoder.pos, *results)


# The order lua-cmsgpack sets its fields in (into a table that grows as they come).
_MAKE_TABLE: Final = """
local f = ...
local t = {}
t.pack = f.pack
t.unpack = f.unpack
t.unpack_one = f.unpack_one
t.unpack_limit = f.unpack_limit
t._NAME = "cmsgpack"
t._VERSION = "lua-cmsgpack 0.4.0"
t._COPYRIGHT = "Copyright (C) 2012, Salvatore Sanfilippo"
t._DESCRIPTION = "MessagePack C implementation for Lua"
return t
"""


def create(bridge: Bridge) -> Any:
    """A new `cmsgpack` table for this runtime."""
    names = ("pack", "unpack", "unpack_one", "unpack_limit")
    return bridge.library(_MAKE_TABLE, _MessagePack(bridge), names)
