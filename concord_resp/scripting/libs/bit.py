"""`bit`: LuaBitOp 1.0 as Redis 7.0 builds it (deps/lua/src/lua_bit.c), on 32-bit values.

An argument becomes 32 bits the way LuaBitOp does it on doubles: add 2^52 + 2^51 and keep
the low word of the result's IEEE bits (so 2.5 rounds to 2 and 3.5 to 4, and huge or
non-finite numbers give what their bits give). Results are signed 32-bit numbers; `tohex`
gives a string. A missing or non-numeric argument is `number expected, got <type>`, checked
in LuaBitOp's order (band/bor/bxor look at their arguments from the last one down).
"""

from __future__ import annotations

import struct
from typing import Any, Final

from ._bridge import Bridge, type_error

_MAGIC: Final = 6755399441055744.0  # 2^52 + 2^51
_MASK: Final = 0xFFFFFFFF


def _signed(bits: int) -> int:
    return bits - 0x100000000 if bits & 0x80000000 else bits


class _Bit:
    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def arg(self, args: tuple[Any, ...], narg: int) -> int:
        """LuaBitOp's barg: argument `narg` as 32 unsigned bits."""
        number = self.bridge.to_number(args, narg)
        if number is None:
            raise type_error(args, narg, b"number")
        if type(number) is int and -(2**51) < number < 2**51:
            return number & _MASK  # what the double trick gives for these, exactly
        bits: int = struct.unpack("<Q", struct.pack("<d", number + _MAGIC))[0]
        return bits & _MASK

    def tobit(self, *args: Any) -> int:
        return _signed(self.arg(args, 1))

    def bnot(self, *args: Any) -> int:
        return _signed(~self.arg(args, 1) & _MASK)

    def band(self, *args: Any) -> int:
        value = self.arg(args, 1)
        for narg in range(len(args), 1, -1):
            value &= self.arg(args, narg)
        return _signed(value)

    def bor(self, *args: Any) -> int:
        value = self.arg(args, 1)
        for narg in range(len(args), 1, -1):
            value |= self.arg(args, narg)
        return _signed(value)

    def bxor(self, *args: Any) -> int:
        value = self.arg(args, 1)
        for narg in range(len(args), 1, -1):
            value ^= self.arg(args, narg)
        return _signed(value)

    def shift_args(self, args: tuple[Any, ...]) -> tuple[int, int]:
        value = self.arg(args, 1)
        return value, self.arg(args, 2) & 31

    def lshift(self, *args: Any) -> int:
        value, count = self.shift_args(args)
        return _signed((value << count) & _MASK)

    def rshift(self, *args: Any) -> int:
        value, count = self.shift_args(args)
        return _signed(value >> count)

    def arshift(self, *args: Any) -> int:
        value, count = self.shift_args(args)
        return _signed(value) >> count

    def rol(self, *args: Any) -> int:
        value, count = self.shift_args(args)
        return _signed(((value << count) | (value >> (32 - count))) & _MASK)

    def ror(self, *args: Any) -> int:
        value, count = self.shift_args(args)
        return _signed(((value << (32 - count)) | (value >> count)) & _MASK)

    def bswap(self, *args: Any) -> int:
        value = self.arg(args, 1)
        return _signed(int.from_bytes(value.to_bytes(4, "little"), "big"))

    def tohex(self, *args: Any) -> bytes:
        value = self.arg(args, 1)
        digits = 8 if len(args) < 2 else _signed(self.arg(args, 2))
        upper = digits < 0
        # -INT_MIN overflows in C; Redis's build then writes 8 digits (checked on 7.0.15).
        digits = 8 if digits == -(2**31) else min(abs(digits), 8)
        if digits == 0:
            return b""
        text = b"%0*x" % (digits, value & ((1 << (4 * digits)) - 1))
        return text.upper() if upper else text


# luaL_register's order (the table is presized for 12, as luaL_register does).
_NAMES: Final = (
    "tobit",
    "bnot",
    "band",
    "bor",
    "bxor",
    "lshift",
    "rshift",
    "arshift",
    "rol",
    "ror",
    "bswap",
    "tohex",
)

_MAKE_TABLE: Final = (
    "local f = ...\nreturn {" + ", ".join(f"{name} = f.{name}" for name in _NAMES) + "}\n"
)


def create(bridge: Bridge) -> Any:
    """A new `bit` table for this runtime."""
    return bridge.library(_MAKE_TABLE, _Bit(bridge), _NAMES)
