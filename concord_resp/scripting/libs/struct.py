"""`struct`: Roberto Ierusalimschy's struct library as Redis 7.0 builds it
(deps/lua/src/lua_struct.c), with x86-64's C sizes: short 2, int 4, long and size_t 8.

A format is read like a C string (it ends at a NUL byte). Integers go through C's unsigned
long: packing converts the number as C does on x86-64 (out of range or NaN gives what the
cast gives), bytes past the 8th of a wide integer are zero, and unpacking keeps the last 8
bytes read and sign-extends with the shift count taken modulo 64, as the compiled code does.
Alignment (`!n`) pads to min(size, n) from the start of the data. Errors are the library's,
arguments numbered as it numbers them (a short string for `cn` is reported one argument too
far, as in Redis).
"""

from __future__ import annotations

import struct as _c
from typing import Any, Final

from ._bridge import MAX_C_STACK, ArgError, Bridge, Failure, to_integer

_MAX_INT_SIZE: Final = 32
_MAX_ALIGN: Final = 8
_INT_MAX: Final = 2**31 - 1
_U64: Final = 2**64 - 1
_SIZES: Final = {
    ord("b"): 1,
    ord("B"): 1,
    ord("h"): 2,
    ord("H"): 2,
    ord("l"): 8,
    ord("L"): 8,
    ord("T"): 8,
    ord("f"): 4,
    ord("d"): 8,
    ord("x"): 1,
}
_INTEGERS: Final = frozenset(b"bBhHlLTiI")
_DIGITS: Final = frozenset(b"0123456789")


class _Format:
    """A cursor over a format string and its header (endianness, alignment)."""

    def __init__(self, fmt: bytes) -> None:
        end = fmt.find(b"\0")
        self.fmt = fmt if end < 0 else fmt[:end]
        self.pos = 0
        self.little = True  # x86-64 is little-endian
        self.align = 1

    def next_option(self) -> int | None:
        if self.pos >= len(self.fmt):
            return None
        opt = self.fmt[self.pos]
        self.pos += 1
        return opt

    def number(self, default: int) -> int:
        """getnum: the digits that follow, or `default`."""
        if self.pos >= len(self.fmt) or self.fmt[self.pos] not in _DIGITS:
            return default
        value = 0
        while self.pos < len(self.fmt) and self.fmt[self.pos] in _DIGITS:
            digit = self.fmt[self.pos] - 48
            if value > _INT_MAX // 10 or value * 10 > _INT_MAX - digit:
                raise Failure(b"integral size overflow")
            value = value * 10 + digit
            self.pos += 1
        return value

    def size(self, opt: int) -> int:
        """optsize: how many bytes option `opt` takes (reads its digits)."""
        size = _SIZES.get(opt)
        if size is not None:
            return size
        if opt == ord("c"):
            return self.number(1)
        if opt in (ord("i"), ord("I")):
            size = self.number(4)
            if size > _MAX_INT_SIZE:
                raise Failure(
                    b"integral size %d is larger than limit of %d" % (size, _MAX_INT_SIZE)
                )
            return size
        return 0

    def padding(self, offset: int, opt: int, size: int) -> int:
        """gettoalign: the bytes that align an item of `size` at `offset`."""
        if size == 0 or opt == ord("c"):
            return 0
        size = min(size, self.align)
        return (size - (offset & (size - 1))) & (size - 1)

    def control(self, opt: int) -> None:
        """controloptions: endianness, alignment, spaces; anything else is an error."""
        if opt == ord(" "):
            return
        if opt == ord(">"):
            self.little = False
        elif opt == ord("<"):
            self.little = True
        elif opt == ord("!"):
            align = self.number(_MAX_ALIGN)
            if align <= 0 or align & (align - 1):
                raise Failure(b"alignment %d is not a power of 2" % align)
            self.align = align
        else:
            raise ArgError(1, b"invalid format option '%c'" % opt)


def _packed_integer(number: float, size: int, little: bool) -> bytes:
    """putinteger: the number as C's unsigned long, `size` bytes (zeros past the 8th)."""
    raw = _unsigned_long(number).to_bytes(8, "little") + bytes(max(0, size - 8))
    raw = raw[:size]
    return raw if little else raw[::-1]


def _unsigned_long(number: float) -> int:
    """(unsigned long) of a number as gcc compiles it for x86-64 (putinteger's two casts give
    the same): below 2^63 a signed conversion, whose "integer indefinite" 2^63 is what NaN
    and numbers below -2^63 give; from 2^63 on, that of n - 2^63 with the top bit flipped,
    which is 0 from 2^64 on."""
    if number < 2.0**63 or number != number:
        return to_integer(number) % 2**64
    if number < 2.0**64:
        return int(number)
    return 0


def _signed_long(value: int) -> int:
    """An unsigned long seen as a signed one."""
    return value - 2**64 if value >= 2**63 else value


def _unpacked_integer(data: bytes, little: bool, signed: bool) -> float:
    """getinteger: the last 8 bytes read, sign-extended from the size's top bit (the shift
    count wraps at 64, as x86's shift does)."""
    ordered = data[::-1] if little else data
    value = int.from_bytes(ordered[-8:], "big")
    if not signed:
        return float(value)
    mask = (_U64 << ((len(data) * 8 - 1) % 64)) & _U64
    if value & mask:
        value |= mask
    return float(_signed_long(value))


def _packed_float(number: float, little: bool) -> bytes:
    """A C float from a double: overflow becomes infinity, as the C conversion gives."""
    try:
        return _c.pack("<f" if little else ">f", number)
    except OverflowError:
        return _c.pack("<f" if little else ">f", float("inf") if number > 0 else float("-inf"))


class _Struct:
    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def pack(self, *args: Any) -> bytes:
        bridge = self.bridge
        fmt = _Format(bridge.check_string(args, 1))
        # Past the last argument sits the nil b_pack pushes to mark the end of them.
        args = (*args, None)
        out = bytearray()
        narg = 2
        total = 0
        while (opt := fmt.next_option()) is not None:
            size = fmt.size(opt)
            pad = fmt.padding(total, opt, size)
            total += pad
            out += bytes(pad)
            if opt in _INTEGERS:
                out += _packed_integer(bridge.check_number(args, narg), size, fmt.little)
                narg += 1
            elif opt == ord("x"):
                out += b"\0"
            elif opt == ord("f"):
                out += _packed_float(bridge.check_number(args, narg), fmt.little)
                narg += 1
            elif opt == ord("d"):
                out += _c.pack("<d" if fmt.little else ">d", bridge.check_number(args, narg))
                narg += 1
            elif opt in (ord("c"), ord("s")):
                text = bridge.check_string(args, narg)
                narg += 1
                if size == 0:
                    size = len(text)
                if len(text) < size:
                    raise ArgError(narg, b"string too short")
                out += text[:size]
                if opt == ord("s"):
                    out += b"\0"
                    size += 1
            else:
                fmt.control(opt)
            total += size
        return bytes(out)

    def unpack(self, *args: Any) -> tuple[Any, ...]:
        bridge = self.bridge
        fmt = _Format(bridge.check_string(args, 1))
        data = bridge.check_string(args, 2)
        # size_t: a negative offset wraps to a huge one, and then the data is too short.
        pos = bridge.opt_integer(args, 3, 1) % 2**64
        if pos == 0:
            raise ArgError(3, b"offset must be 1 or greater")
        pos -= 1
        results: list[Any] = []
        used = len(args)  # slots on the C function's stack: its arguments, then results
        while (opt := fmt.next_option()) is not None:
            size = fmt.size(opt)
            pos += fmt.padding(pos, opt, size)
            if not (size <= len(data) and pos <= len(data) - size):
                raise ArgError(2, b"data string too short")
            if used + 2 > MAX_C_STACK:
                raise Failure(b"stack overflow (too many results)")
            if opt in _INTEGERS:
                chunk = data[pos : pos + size]
                signed = 97 <= opt <= 122  # islower: b, h, l, i
                results.append(_unpacked_integer(chunk, fmt.little, signed))
            elif opt == ord("x"):
                pass
            elif opt == ord("f"):
                results.append(_c.unpack("<f" if fmt.little else ">f", data[pos : pos + 4])[0])
            elif opt == ord("d"):
                results.append(_c.unpack("<d" if fmt.little else ">d", data[pos : pos + 8])[0])
            elif opt == ord("c"):
                if size == 0:
                    size = self.previous_size(results)
                    results.pop()
                    if not (size <= len(data) and pos <= len(data) - size):
                        raise ArgError(2, b"data string too short")
                results.append(data[pos : pos + size])
            elif opt == ord("s"):
                end = data.find(b"\0", pos)
                if end < 0:
                    raise Failure(b"unfinished string in data")
                results.append(data[pos:end])
                size = end - pos + 1
            else:
                fmt.control(opt)
            used = len(args) + len(results)
            pos += size
        results.append(_signed_long((pos + 1) % 2**64))  # lua_pushinteger of a size_t
        return tuple(results)

    def previous_size(self, results: list[Any]) -> int:
        """`c0` reads as many bytes as the number unpacked just before says (size_t)."""
        number = self.bridge.to_number((results[-1],), 1) if results else None
        if number is None:
            raise Failure(b"format 'c0' needs a previous size")
        return _unsigned_long(number)

    def size(self, *args: Any) -> int:
        fmt = _Format(self.bridge.check_string(args, 1))
        pos = 0
        while (opt := fmt.next_option()) is not None:
            size = fmt.size(opt)
            pos += fmt.padding(pos, opt, size)
            if opt == ord("s"):
                raise ArgError(1, b"option 's' has no fixed size")
            if opt == ord("c") and size == 0:
                raise ArgError(1, b"option 'c0' has no fixed size")
            if not (48 <= opt <= 57 or 65 <= opt <= 90 or 97 <= opt <= 122):
                fmt.control(opt)
            pos += size
        return pos


_MAKE_TABLE: Final = "local f = ...\nreturn {pack = f.pack, unpack = f.unpack, size = f.size}\n"


def create(bridge: Bridge) -> Any:
    """A new `struct` table for this runtime (presized for 3, as luaL_register does)."""
    return bridge.library(_MAKE_TABLE, _Struct(bridge), ("pack", "unpack", "size"))
