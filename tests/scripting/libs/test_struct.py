"""`struct`: packing and unpacking with x86-64's sizes, C's casts at the edges, alignment,
and the library's errors.

Every expected value is Redis 7.0.15's reply to `redis-cli eval "<script>" 0` for the script
on its left (run against the Debian redis-server; errors without the ` script: <sha>, on
@user_script:1.` Redis appends to an uncaught one).
"""

from __future__ import annotations

from typing import Any

from .conftest import redis_case_tests

VALUES: list[tuple[str, Any]] = [
    ("return struct.pack('>bBhHlLTiI', -1, 255, -2, 65535, -3, 2^64 - 2^12, 12345, -4, 4000000000)", b"\xff\xff\xff\xfe\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfd\xff\xff\xff\xff\xff\xff\xf0\x00\x00\x00\x00\x00\x00\x0009\xff\xff\xff\xfc\xeek(\x00"),
    ("return struct.pack('<bBhHiI', -1, 255, -2, 65535, -4, 4000000000)", b"\xff\xff\xfe\xff\xff\xff\xfc\xff\xff\xff\x00(k\xee"),
    ("return struct.pack('>i1i3i5', 1, 3, -5)", b"\x01\x00\x00\x03\xff\xff\xff\xff\xfb"),
    # past the 8th byte of a wide integer, zeros, whatever the sign
    ("return struct.pack('<i16', -1)", b"\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00"),
    ("return struct.pack('>b', 128) .. struct.pack('>B', -1) .. struct.pack('>h', 70000)", b"\x80\xff\x11p"),
    # C's double -> unsigned long on x86-64: 0 from 2^64 on, 2^63 for NaN and below -2^63
    ("return {struct.pack('>L', 2^64), struct.pack('>L', 1e30), struct.pack('>L', 0/0), struct.pack('>l', -1e30), struct.pack('>l', 2^63), struct.pack('>l', 2.7), struct.pack('>l', -2.7)}", [b"\x00" * 8, b"\x00" * 8, b"\x80" + b"\x00" * 7, b"\x80" + b"\x00" * 7, b"\x80" + b"\x00" * 7, b"\x00" * 7 + b"\x02", b"\xff" * 7 + b"\xfe"]),
    ("return struct.pack('>fd', 1.5, 0.1)", b"?\xc0\x00\x00?\xb9\x99\x99\x99\x99\x99\x9a"),
    ("return {struct.pack('>f', 1e300), struct.pack('>f', -1e300), struct.pack('>f', 1e-50)}", [b"\x7f\x80\x00\x00", b"\xff\x80\x00\x00", b"\x00\x00\x00\x00"]),
    ("return {struct.pack('c', 'abc'), struct.pack('c3', 'abcdef'), struct.pack('c0', 'abcdef'), struct.pack('s', 'ab'), struct.pack('c2', 123)}", [b"a", b"abc", b"abcdef", b"ab\x00", b"12"]),
    ("return {struct.pack('!4 b i', 1, 2), struct.pack('!8 b d', 1, 2), struct.pack('!2 b i b h', 1, 2, 3, 4), struct.pack('!4 b i3 b c3', 1, 2, 3, 'abc'), struct.pack('!4 b s i', 1, 'xy', 2)}", [b"\x01\x00\x00\x00\x02\x00\x00\x00", b"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00@", b"\x01\x00\x02\x00\x00\x00\x03\x00\x04\x00", b"\x01\x00\x00\x02\x00\x00\x03abc", b"\x01xy\x00\x02\x00\x00\x00"]),
    ("return {struct.pack('i', '0x10'), struct.pack('x x b', 1), struct.pack(' > < ')}", [b"\x10\x00\x00\x00", b"\x00\x00\x01", b""]),
    ("return {struct.unpack('>bBhHlLTiI', struct.pack('>bBhHlLTiI', -1, 255, -2, 65535, -3, 2^50, 12345, -4, 4000000000))}", [-1, 255, -2, 65535, -3, 1125899906842624, 12345, -4, 4000000000, 39]),
    (r"return {struct.unpack('<i3I3i5', '\255\255\127\1\2\3\255\255\255\255\255')}", [8388607, 197121, -1, 12]),
    (r"return {struct.unpack('<i16', string.rep('\255', 16))}", [-1, 17]),
    # wider than 8 bytes: the last 8 read count (as a double), the sign from a shift mod 64
    (r"return {struct.unpack('<I9', '\1\2\3\4\5\6\7\8\9')}", [578437695752307200, 10]),
    (r"return {struct.unpack('>I9', '\1\2\3\4\5\6\7\8\9')}", [144964032628459520, 10]),
    (r"return {struct.unpack('>i9', '\128\0\0\0\0\0\0\0\1')}", [1, 10]),
    ("local f, d, n = struct.unpack('>fd', struct.pack('>fd', 0.1, 0.1)) return {string.format('%.17g', f), string.format('%.17g', d), n}", [b"0.10000000149011612", b"0.10000000000000001", 13]),
    ("return {struct.unpack('c2c1', 'abc')}", [b"ab", b"c", 4]),
    (r"return {struct.unpack('ss', 'ab\0cd\0')}", [b"ab", b"cd", 7]),
    (r"return {struct.unpack('bc0', '\3abcdef')}", [b"abc", 5]),
    ("return {struct.unpack('c1c0', '3abcdef')}", [b"abc", 5]),
    ("return {struct.unpack('i', 'abcdef', 2)}", [1701077858, 6]),
    (r"return {struct.unpack('!4 b i', '\1\0\0\0\2\0\0\0')}", [1, 2, 9]),
    # the next position is a size_t pushed as a lua_Integer: an offset past 2^63 wraps
    ("return {struct.unpack('', 'abc', -1), struct.unpack('', 'abc', 2^63), struct.unpack('', 'abc', 100)}", [-1, -9223372036854775808, 100]),
    # size: unknown letters and digits count nothing; the format ends at a NUL
    (r"return {struct.size('>bBhHlLTiIfdxc3'), struct.size('!8 b d'), struct.size('!4 b i3'), struct.size('zq5'), struct.size('i\0z')}", [54, 16, 6, 0, 4]),
    (r"local s = string.rep('\1', 8000) return select('#', struct.unpack(string.rep('b', 7997), s))", 7998),
]  # fmt: skip

ERRORS: list[tuple[str, bytes]] = [
    ("return struct.pack('>i33')", b"user_script:1: integral size 33 is larger than limit of 32"),
    ("return struct.pack('>i99999999999')", b"user_script:1: integral size overflow"),
    # the argument number is one too far, as in the library
    ("return struct.pack('c5', 'ab')", b"user_script:1: bad argument #3 to 'pack' (string too short)"),
    # past the arguments, the nil pack pushes to mark their end
    ("return struct.pack('>ii', 1)", b"user_script:1: bad argument #3 to 'pack' (number expected, got nil)"),
    ("return struct.pack('i', 'x')", b"user_script:1: bad argument #2 to 'pack' (number expected, got string)"),
    ("return struct.pack('s', {})", b"user_script:1: bad argument #2 to 'pack' (string expected, got table)"),
    ("return struct.pack('z')", b"user_script:1: bad argument #1 to 'pack' (invalid format option 'z')"),
    ("return struct.pack('!3')", b"user_script:1: alignment 3 is not a power of 2"),
    ("return struct.pack()", b"user_script:1: bad argument #1 to 'pack' (string expected, got no value)"),
    ("return struct.unpack('s', 'abc')", b"user_script:1: unfinished string in data"),
    ("return struct.unpack('c0', 'abc')", b"user_script:1: format 'c0' needs a previous size"),
    (r"return struct.unpack('bc0', '\255abc')", b"user_script:1: bad argument #2 to 'unpack' (data string too short)"),
    ("return struct.unpack('i', 'abc')", b"user_script:1: bad argument #2 to 'unpack' (data string too short)"),
    ("return struct.unpack('i', 'abcd', 0)", b"user_script:1: bad argument #3 to 'unpack' (offset must be 1 or greater)"),
    ("return struct.unpack('i', 'abcd', -1)", b"user_script:1: bad argument #2 to 'unpack' (data string too short)"),
    ("return struct.unpack('b', 'abc', 'x')", b"user_script:1: bad argument #3 to 'unpack' (number expected, got string)"),
    ("return struct.unpack('b')", b"user_script:1: bad argument #2 to 'unpack' (string expected, got no value)"),
    ("return struct.size('s')", b"user_script:1: bad argument #1 to 'size' (option 's' has no fixed size)"),
    ("return struct.size('c0')", b"user_script:1: bad argument #1 to 'size' (option 'c0' has no fixed size)"),
    ("return struct.size('#')", b"user_script:1: bad argument #1 to 'size' (invalid format option '#')"),
    ("return struct:size()", b"user_script:1: calling 'size' on bad self (string expected, got table)"),
    (r"local s = string.rep('\1', 8000) return struct.unpack(string.rep('b', 7998), s)", b"user_script:1: stack overflow (too many results)"),
]  # fmt: skip

test_values_are_redis_values, test_errors_are_redis_errors = redis_case_tests(VALUES, ERRORS)
