"""`bit` (LuaBitOp): values, the double-to-32-bit conversion at its edges, and its errors.

Every expected value is Redis 7.0.15's reply to `redis-cli eval "<script>" 0` for the script
on its left (run against the Debian redis-server; errors without the ` script: <sha>, on
@user_script:1.` Redis appends to an uncaught one).
"""

from __future__ import annotations

from typing import Any

from .conftest import Scripts, redis_case_tests

VALUES: list[tuple[str, Any]] = [
    ("return bit.tobit(0xffffffff)", -1),
    ("return bit.tobit(2^32 + 5)", 5),
    # the double trick rounds half to even
    ("return {bit.tobit(2.5), bit.tobit(3.5), bit.tobit(-2.5), bit.tobit(0.5), bit.tobit(1.5)}", [2, 4, -2, 0, 2]),
    # past 2^51 the low word of the double's bits, whatever it is
    ("return {bit.tobit(2^52 + 1), bit.tobit(2^53 + 2), bit.tobit(2^63), bit.tobit(1e300)}", [0, 1, 0, -2013235812]),
    ("return {bit.tobit(0/0), bit.tobit(math.huge), bit.tobit(-math.huge)}", [0, 0, 0]),
    ("return {bit.tobit('12'), bit.tobit(' 0x1F '), bit.tobit('1e3')}", [12, 31, 1000]),
    ("return {bit.bnot(0), bit.bnot(0x12345678)}", [-1, -305419897]),
    ("return {bit.band(0xff00ff, 0x0ff0f0), bit.bor(1, 2, 4, 8, 16), bit.bxor(0xff, 0x0f, 0xf0), bit.band(-1)}", [983280, 31, 0, -1]),
    ("return {bit.lshift(1, 31), bit.lshift(1, 32), bit.lshift(1, 33), bit.lshift(1, -1)}", [-2147483648, 1, 2, -2147483648]),
    ("return {bit.rshift(-1, 1), bit.rshift(-1, 32), bit.arshift(-256, 4), bit.arshift(0x80000000, 33)}", [2147483647, -1, -16, -1073741824]),
    ("return {bit.rol(0x12345678, 4), bit.rol(0x12345678, 36), bit.rol(0x12345678, 0), bit.ror(0x12345678, 4), bit.ror(1, 1)}", [591751041, 591751041, 305419896, -2128394905, -2147483648]),
    ("return {bit.bswap(0x12345678), bit.bswap(0xff)}", [2018915346, -16777216]),
    ("return {bit.tohex(255), bit.tohex(-1), bit.tohex(0x12345678, 4), bit.tohex(0x12345678, -4)}", [b"000000ff", b"ffffffff", b"5678", b"5678"]),
    # 2^31 is INT_MIN: its negation overflows, and Redis's build writes 8 upper-case digits
    ("return {bit.tohex(0x12345678, 0), bit.tohex(0x12345678, 20), bit.tohex(0xabcdef, 2^31), bit.tohex(0xabcdef, 2^32 + 3)}", [b"", b"12345678", b"00ABCDEF", b"def"]),
    ("local ok, e = pcall(bit.tobit) return e", b"bad argument #1 to '?' (number expected, got no value)"),
    ("local r = {}; for name in pairs(bit) do r[#r + 1] = name end; return r", [b"band", b"rshift", b"bor", b"bnot", b"bswap", b"bxor", b"tobit", b"ror", b"lshift", b"tohex", b"rol", b"arshift"]),
]  # fmt: skip

ERRORS: list[tuple[str, bytes]] = [
    ("return bit.tobit()", b"user_script:1: bad argument #1 to 'tobit' (number expected, got no value)"),
    ("return bit.tobit('x')", b"user_script:1: bad argument #1 to 'tobit' (number expected, got string)"),
    # band/bor/bxor check their arguments from the last one down
    ("return bit.band(1, 2, 'x', {})", b"user_script:1: bad argument #4 to 'band' (number expected, got table)"),
    ("return bit.tohex(1, nil)", b"user_script:1: bad argument #2 to 'tohex' (number expected, got nil)"),
    ("return bit:tobit()", b"user_script:1: calling 'tobit' on bad self (number expected, got table)"),
    ("return bit:band(1)", b"user_script:1: calling 'band' on bad self (number expected, got table)"),
    ("local t = bit.tobit; return t(true)", b"user_script:1: bad argument #1 to 't' (number expected, got boolean)"),
]  # fmt: skip

test_values_are_redis_values, test_errors_are_redis_errors = redis_case_tests(VALUES, ERRORS)


def test_an_error_names_the_line_even_in_a_tail_call(lua: Scripts) -> None:
    # redis-cli eval "local x = 1
    #   return bit.tobit()" 0  ->  user_script:2: bad argument #1 to 'tobit' (...)
    assert lua.error("local x = 1\nreturn bit.tobit()") == (
        b"user_script:2: bad argument #1 to 'tobit' (number expected, got no value)"
    )
