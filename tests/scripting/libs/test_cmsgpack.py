"""`cmsgpack`: the encodings pack chooses, what unpack gives back (and in which table order),
the stack limits on how many values and how deep, and the library's errors.

Every expected value is Redis 7.0.15's reply to `redis-cli eval "<script>" 0` for the script
on its left (run against the Debian redis-server; errors without the ` script: <sha>, on
@user_script:1.` Redis appends to an uncaught one).
"""

from __future__ import annotations

from typing import Any

from .conftest import redis_case_tests

VALUES: list[tuple[str, Any]] = [
    ("return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, 2^32-1, 2^32, 2^53, -32, -33, -128, -129, -32768, -32769, -2^31, -2^31-1, -2^63)", b"\x01\xff\x7f\xcc\x80\xcc\xff\xcd\x01\x00\xcd\xff\xff\xce\x00\x01\x00\x00\xce\xff\xff\xff\xff\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xcf\x00 \x00\x00\x00\x00\x00\x00\xe0\xd0\xdf\xd0\x80\xd1\xff\x7f\xd1\x80\x00\xd2\xff\xff\x7f\xff\xd2\x80\x00\x00\x00\xd3\xff\xff\xff\xff\x7f\xff\xff\xff\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
    # a float when the C float holds the value exactly; 2^63 and up are no int64
    ("return cmsgpack.pack(1.5, 0.1, 1e300, 0/0, math.huge, -math.huge, 2^63, 2^64, 3.5e38, -0.0)", b"\xca?\xc0\x00\x00\xcb?\xb9\x99\x99\x99\x99\x99\x9a\xcb~7\xe4<\x88\x00u\x9c\xcb\xff\xf8\x00\x00\x00\x00\x00\x00\xca\x7f\x80\x00\x00\xca\xff\x80\x00\x00\xca_\x00\x00\x00\xca_\x80\x00\x00\xcbG\xf0t\xf8\xc4\xd3\xcd{\x00"),
    ("return cmsgpack.pack('', 'a', string.rep('x', 31), string.rep('x', 32), string.rep('x', 255)):sub(1, 40)", b"\xa0\xa1a\xbf" + b"x" * 31 + b"\xd9 xxx"),
    ("return {cmsgpack.pack(string.rep('x', 256)):sub(1, 4), cmsgpack.pack(string.rep('x', 65536)):sub(1, 6)}", [b"\xda\x01\x00x", b"\xdb\x00\x01\x00\x00x"]),
    ("return cmsgpack.pack(true, false, nil, coroutine.create(function() end), function() end, cmsgpack.pack)", b"\xc3\xc2\xc0\xc0\xc0\xc0"),
    # arrays only for keys exactly 1..n (an empty table too)
    ("return cmsgpack.pack({}, {1}, {1, 2, 3}, {a = 1}, {[1] = 1, [3] = 3}, {[0] = 1}, {[1.5] = 1}, {[2^31] = 1})", b"\x90\x91\x01\x93\x01\x02\x03\x81\xa1a\x01\x82\x01\x01\x03\x03\x81\x00\x01\x81\xca?\xc0\x00\x00\x01\x81\xce\x80\x00\x00\x00\x01"),
    ("local t = {} for i = 1, 16 do t[i] = i end local u = {} for i = 1, 65536 do u[i] = i end return {cmsgpack.pack(t):sub(1, 3), cmsgpack.pack(u):sub(1, 6)}", [b"\xdc\x00\x10", b"\xdd\x00\x01\x00\x00\x01"]),
    # a map in the table's own order
    ("local t = {} for i = 1, 16 do t['k' .. i] = i end return cmsgpack.pack(t)", b"\xde\x00\x10\xa3k12\x0c\xa3k16\x10\xa2k9\t\xa2k8\x08\xa2k1\x01\xa3k15\x0f\xa2k3\x03\xa2k2\x02\xa3k14\x0e\xa3k13\r\xa3k10\n\xa3k11\x0b\xa2k6\x06\xa2k7\x07\xa2k4\x04\xa2k5\x05"),
    ("local t = {} for i = 1, 30 do t['key' .. i] = i end t[1] = 1 t[2] = 2 return cmsgpack.pack(t)", b"\xde\x00 \xa5key16\x10\x02\x02\xa4key9\t\xa4key5\x05\xa4key1\x01\x01\x01\xa5key30\x1e\xa5key29\x1d\xa5key27\x1b\xa5key14\x0e\xa5key26\x1a\xa5key22\x16\xa4key7\x07\xa4key3\x03\xa5key25\x19\xa4key8\x08\xa5key12\x0c\xa5key24\x18\xa5key11\x0b\xa5key23\x17\xa5key15\x0f\xa5key10\n\xa5key19\x13\xa5key17\x11\xa5key20\x14\xa4key2\x02\xa5key13\r\xa4key6\x06\xa5key18\x12\xa5key21\x15\xa4key4\x04\xa5key28\x1c"),
    # nested 16 deep, a table packs as nil (a cycle ends)
    ("local t = {} t[1] = t return cmsgpack.pack(t)", b"\x91" * 16 + b"\xc0"),
    ("local t = {} for i = 1, 4000 do t[i] = i end return #cmsgpack.pack(unpack(t))", 11618),
    ("return cmsgpack.unpack(cmsgpack.pack(1, 'a', {1, 2, {3}}, {a = {b = 7}}, 2^40))", 1),
    ("local a, b, c, d = cmsgpack.unpack(cmsgpack.pack(-0.0, 0.1, 2^64, math.huge)) return {tostring(a), tostring(b), tostring(c), tostring(d)}", [b"0", b"0.1", b"1.844674407371e+19", b"inf"]),
    # uint64 past 2^63 wraps (lua_pushinteger), int64 as a double
    (r"return {cmsgpack.unpack('\207\255\255\255\255\255\255\255\255\207\128\0\0\0\0\0\0\1\211\128\0\0\0\0\0\0\0\206\255\255\255\255\210\128\0\0\0\209\128\0\208\128\204\255\205\255\255')}", [-1, -9223372036854775808, -9223372036854775808, 4294967295, -2147483648, -32768, -128, 255, 65535]),
    (r"return {cmsgpack.unpack('\217\3abc\218\0\2ab\219\0\0\0\1a')}", [b"abc", b"ab", b"a"]),
    ("return select('#', cmsgpack.unpack(''))", 0),
    (r"return {cmsgpack.unpack('\146\1\192\145\192')}", [[1], []]),
    # a key given twice: the last value; true and 1 are two keys
    (r"local t = cmsgpack.unpack('\130\1\2\1\3') local n = 0 for k in pairs(t) do n = n + 1 end return {n, t[1]}", [1, 3]),
    (r"local t = cmsgpack.unpack('\130\195\1\1\2') return {t[true], t[1]}", [1, 2]),
    (r"local t = cmsgpack.unpack('\129\145\1\2') local k = next(t) return {k[1], t[k]}", [1, 2]),
    ("local t = {} for i = 1, 50 do t['k' .. i] = i end local u = cmsgpack.unpack(cmsgpack.pack(t)) local r = {} for k in pairs(u) do r[#r+1] = k end return table.concat(r, ',')", b"k12,k32,k19,k39,k31,k15,k30,k38,k14,k47,k1,k43,k3,k27,k34,k18,k7,k5,k10,k45,k4,k22,k17,k50,k26,k41,k21,k29,k46,k49,k42,k24,k36,k37,k28,k20,k48,k8,k23,k9,k16,k2,k44,k13,k35,k33,k6,k25,k40,k11"),
    (r"return {pcall(cmsgpack.unpack, '\1', '\2')}", [True, 1]),
    ("return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}", [1, 1]),
    ("return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}", [-1, 3]),
    ("return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)}", [-1]),
    ("return {cmsgpack.unpack_one('')}", [-1]),
    ("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}", [2, 1, 2]),
    ("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)}", [-1, 2, 3]),
    # limit 0 and offset 0 mean "all, and no offset", as unpack
    ("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)}", [1, 2, 3]),
    ("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 1)}", [1]),
    (r"return select('#', cmsgpack.unpack(string.rep('\1', 7999)))", 7999),
    (r"local ok, t = pcall(cmsgpack.unpack, string.rep('\145', 3999) .. '\1') local n = 0 while type(t) == 'table' do t = t[1] n = n + 1 end return {n, t}", [3999, 1]),
    (r"local ok, t = pcall(cmsgpack.unpack, string.rep('\145', 3999) .. '\144') local n = 0 while type(t) == 'table' do t = t[1] n = n + 1 end return {n, t}", [0, b"stack overflow (in function mp_decode_to_lua_array)"]),
    (r"local t = cmsgpack.unpack(string.rep('\129\1', 3999) .. '\1') local n = 0 while type(t) == 'table' do t = t[1] n = n + 1 end return {n, t}", [3999, 1]),
    ("return {cmsgpack._NAME, cmsgpack._VERSION, cmsgpack._COPYRIGHT, cmsgpack._DESCRIPTION}", [b"cmsgpack", b"lua-cmsgpack 0.4.0", b"Copyright (C) 2012, Salvatore Sanfilippo", b"MessagePack C implementation for Lua"]),
    ("local r = {} for k in pairs(cmsgpack) do r[#r + 1] = k end return r", [b"_DESCRIPTION", b"pack", b"_NAME", b"unpack", b"_COPYRIGHT", b"_VERSION", b"unpack_one", b"unpack_limit"]),
]  # fmt: skip

ERRORS: list[tuple[str, bytes]] = [
    ("return cmsgpack.pack()", b"user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)"),
    ("local t = {} for i = 1, 4001 do t[i] = i end return cmsgpack.pack(unpack(t))", b"user_script:1: bad argument #0 to 'pack' (Too many arguments for MessagePack pack.)"),
    (r"return cmsgpack.unpack('\205\1')", b"user_script:1: Missing bytes in input."),
    (r"return cmsgpack.unpack('\219\0\0\0\5ab')", b"user_script:1: Missing bytes in input."),
    (r"return cmsgpack.unpack('\146\1')", b"user_script:1: Missing bytes in input."),
    (r"return cmsgpack.unpack('\193')", b"user_script:1: Bad data format in input."),
    (r"return cmsgpack.unpack('\196\1a')", b"user_script:1: Bad data format in input."),
    # raised by lua_settable inside the C function: no line
    (r"return cmsgpack.unpack('\130\1\2\192\3')", b"table index is nil"),
    (r"return cmsgpack.unpack('\129\203\127\248\0\0\0\0\0\0\1')", b"table index is NaN"),
    ("return cmsgpack.unpack()", b"user_script:1: bad argument #1 to 'unpack' (string expected, got no value)"),
    ("return cmsgpack.unpack({})", b"user_script:1: bad argument #1 to 'unpack' (string expected, got table)"),
    ("return cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 4)", b"user_script:1: Start offset 4 greater than input length 3."),
    # (the "limit" Redis prints is the input's length)
    ("return cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), -1)", b"user_script:1: Invalid request to unpack with offset of -1 and limit of 3."),
    ("return cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), -1)", b"user_script:1: Invalid request to unpack with offset of 0 and limit of 3."),
    ("return cmsgpack.unpack_one(nil, 'x')", b"user_script:1: bad argument #2 to 'unpack_one' (number expected, got string)"),
    ("return cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3))", b"user_script:1: bad argument #2 to 'unpack_limit' (number expected, got no value)"),
    (r"return cmsgpack.unpack(string.rep('\1', 8000))", b"user_script:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"),
    (r"return cmsgpack.unpack(string.rep('\1', 7999), 1)", b"user_script:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"),
    (r"return cmsgpack.unpack_limit(string.rep('\1', 7999), 8000)", b"user_script:1: stack overflow (in function mp_unpack_full)"),
    (r"return cmsgpack.unpack(string.rep('\129\1', 4000) .. '\1')", b"user_script:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"),
]  # fmt: skip

test_values_are_redis_values, test_errors_are_redis_errors = redis_case_tests(VALUES, ERRORS)
