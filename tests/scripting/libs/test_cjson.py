"""`cjson`: what encode writes (array or object, number text, escapes, table order), what
decode gives back (strtod's numbers, C-string input, table order), the settings and their
limits, and every error text with its position.

Every expected value is Redis 7.0.15's reply to `redis-cli eval "<script>" 0` for the script
on its left (run against the Debian redis-server; errors without the ` script: <sha>, on
@user_script:1.` Redis appends to an uncaught one). Settings are changed on `cjson.new()`
tables, so each script saw Redis's defaults.
"""

from __future__ import annotations

from typing import Any

import pytest

from concord_resp.scripting.libs import LibraryError

from .conftest import Scripts, new_runtime, redis_case_tests

VALUES: list[tuple[str, Any]] = [
    (r"return cjson.encode({1, 2, 3, {a = 1}})", b'[1,2,3,{"a":1}]'),
    (r"return cjson.encode({})", b'{}'),
    (r"return cjson.encode({a = 1, b = 2, c = 3, d = {1, 2}, e = 'x'})", b'{"a":1,"c":3,"b":2,"e":"x","d":[1,2]}'),
    (r"return cjson.encode('a\"b\\c/d\0e\1\31\127\128\255\b\t\n\f\r')", b'"a\\"b\\\\c\\/d\\u0000e\\u0001\\u001f\\u007f\x80\xff\\b\\t\\n\\f\\r"'),
    # numbers as C writes them with %.14g
    (r"return cjson.encode({1.5, -2.25, 1e300, 1e-300, 123456789012345678, 0.1, 1/3, 2^53, -2^63, 1e15, 1e14, 123456789012345})", b'[1.5,-2.25,1e+300,1e-300,1.2345678901235e+17,0.1,0.33333333333333,9.007199254741e+15,-9.2233720368548e+18,1e+15,1e+14,1.2345678901234e+14]'),
    # -0 inside a table keeps its sign (a top-level -0 argument does not: lupa makes it 0)
    (r"return cjson.encode({-0.0, 'x'})", b'[-0,"x"]'),
    (r"return {cjson.encode(true), cjson.encode(false), cjson.encode(nil), cjson.encode(cjson.null), cjson.encode('x')}", [b'true', b'false', b'null', b'null', b'"x"']),
    # arrays: keys all integers >= 1, not more sparse than ratio 2 past index 10
    (r"return {cjson.encode({[1] = 1, [2] = 2, [4] = 4}), cjson.encode({[1] = 1, [10] = 10}), cjson.encode({[0] = 1}), cjson.encode({[-1] = 1, [1] = 2}), cjson.encode({[1.5] = 1})}", [b'[1,2,null,4]', b'[1,null,null,null,null,null,null,null,null,10]', b'{"0":1}', b'{"-1":1,"1":2}', b'{"1.5":1}']),
    # past INT_MAX a key is INT_MIN to the C code (x86), so the order of the keys counts
    (r"return {cjson.encode({[1e10] = 1, [5] = 2}), cjson.encode({[5] = 2, [1e10] = 1}), cjson.encode({[2^31] = 1})}", [b'[null,null,null,null,2]', b'{"5":2,"10000000000":1}', b'{"2147483648":1}']),
    # objects in the table's own order
    (r"local t = {} for i = 1, 30 do t['key' .. i] = i end return cjson.encode(t)", b'{"key16":16,"key9":9,"key5":5,"key1":1,"key30":30,"key29":29,"key27":27,"key14":14,"key26":26,"key22":22,"key7":7,"key3":3,"key25":25,"key8":8,"key12":12,"key24":24,"key11":11,"key23":23,"key15":15,"key10":10,"key19":19,"key17":17,"key20":20,"key2":2,"key13":13,"key6":6,"key18":18,"key21":21,"key4":4,"key28":28}'),
    (r"local t = {} local c = t for i = 1, 999 do c[1] = {} c = c[1] end return #cjson.encode(t)", 2000),
    (r"return {cjson.encode({'\226\130\172'}), cjson.encode({[1] = 'a', [2] = 'b', x = 1})}", [b'["\xe2\x82\xac"]', b'{"1":"a","2":"b","x":1}']),
    (r"return {cjson.encode_max_depth(), cjson.decode_max_depth(), cjson.encode_number_precision()}", [1000, 1000, 14]),
    (r"return {tostring(cjson.encode_keep_buffer()), tostring(cjson.encode_invalid_numbers()), tostring(cjson.decode_invalid_numbers())}", [b'true', b'false', b'true']),
    (r"local a, b, c = cjson.encode_sparse_array() return {tostring(a), b, c}", [b'false', 2, 10]),
    (r"local c = cjson.new() return {c.encode_number_precision(3), c.encode({1/3, 12345.678}), cjson.encode({1/3})}", [3, b'[0.333,1.23e+04]', b'[0.33333333333333]']),
    (r"local c = cjson.new() return {c.encode_invalid_numbers('null'), c.encode({0/0, math.huge, -math.huge})}", [b'null', b'[null,null,null]']),
    (r"local c = cjson.new() c.encode_invalid_numbers(true) return {c.encode({0/0, math.huge, -math.huge}), c.encode({[math.huge] = 1})}", [b'[nan,inf,-inf]', b'{"inf":1}']),
    (r"local c = cjson.new() return {tostring(c.encode_invalid_numbers('on')), tostring(c.encode_invalid_numbers('off')), c.encode_invalid_numbers('null'), tostring(c.encode_invalid_numbers(false))}", [b'true', b'false', b'null', b'false']),
    (r"local c = cjson.new() c.encode_number_precision('7') return c.encode({1/3})", b'[0.3333333]'),
    # an option is a C int: 2^32 + 5 is 5
    (r"local c = cjson.new() return {c.encode_number_precision(2^32 + 5), c.encode({1/3})}", [5, b'[0.33333]']),
    (r"local c = cjson.new() c.encode_max_depth(2) local ok, e = pcall(c.encode, {{{1}}}) return e", b'Cannot serialise, excessive nesting (3)'),
    (r"local c = cjson.new() c.encode_sparse_array(true) return c.encode({[1] = 1, [20] = 2})", b'{"1":1,"20":2}'),
    (r"local c = cjson.new() c.encode_sparse_array(false, 0) return #c.encode({[1] = 1, [2000] = 2})", 9995),
    (r"local c = cjson.new() c.encode_sparse_array('on', 2147483647, 0) return c.encode({[1] = 1, [3] = 3, [5] = 5})", b'[1,null,3,null,5]'),
    # options are set one by one: those before a bad one stay set
    (r"local c = cjson.new() pcall(c.encode_sparse_array, true, 1, -1) local a, b, d = c.encode_sparse_array() return {tostring(a), b, d}", [b'true', 1, 10]),
    # past the depth setting, the C stack limit (lua_checkstack: 8000 slots) stops nesting
    (r"local c = cjson.new() c.encode_max_depth(5000) local t = {} local x = t for i = 1, 4000 do x.a = {} x = x.a end local ok, e = pcall(c.encode, t) return e", b'Cannot serialise, excessive nesting (4000)'),
    (r"local c = cjson.new() c.decode_max_depth(2) local ok, e = pcall(c.decode, '[[[1]]]') return e", b'Found too many nested data structures (3) at character 3'),
    (r"local c = cjson.new() c.decode_max_depth(2) local ok, e = pcall(c.decode, '{\"a\":{\"b\":{\"c\":1}}}') return e", b'Found too many nested data structures (3) at character 11'),
    (r"local c = cjson.new() c.decode_invalid_numbers(false) return {select(2, pcall(c.decode, '0x10')), select(2, pcall(c.decode, 'NaN')), select(2, pcall(c.decode, '01')), select(2, pcall(c.decode, '+1')), select(2, pcall(c.decode, '-inf')), tostring(c.decode('-0.5'))}", [b'Expected value but found invalid number at character 1', b'Expected value but found invalid token at character 1', b'Expected value but found invalid number at character 1', b'Expected value but found invalid token at character 1', b'Expected value but found invalid number at character 1', b'-0.5']),
    (r"local c = cjson.new() c.decode_max_depth(100000) local ok, e = pcall(c.decode, string.rep('{\"a\":', 4100) .. '1' .. string.rep('}', 4100)) return e", b'Found too many nested data structures (4000) at character 19996'),
    (r"local c = cjson.new() c.decode_max_depth(100000) local t = c.decode(string.rep('{\"a\":', 3990) .. '1' .. string.rep('}', 3990)) local n = 0 while type(t) == 'table' do t = t.a n = n + 1 end return {n, t}", [3990, 1]),
    (r"local c = cjson.new() c.decode_max_depth(100000) local t = c.decode(string.rep('[', 7990) .. string.rep(']', 7990)) local n = 0 while type(t) == 'table' do t = t[1] n = n + 1 end return n", 7990),
    (r"local c = cjson.new() c.decode_max_depth(100000) local ok, e = pcall(c.decode, string.rep('[', 8000) .. string.rep(']', 8000)) return e", b'Found too many nested data structures (7999) at character 7999'),
    (r"return cjson.decode('[1,2,3]')", [1, 2, 3]),
    (r"local t = cjson.decode('{\"a\":1,\"b\":[1,2,{\"c\":null}],\"d\":\"x\\u00e9\\ud83d\\ude00\"}') return {t.a, t.b[2], tostring(t.b[3].c == cjson.null), t.d}", [1, 2, b'true', b'x\xc3\xa9\xf0\x9f\x98\x80']),
    (r"return cjson.decode('  \"abc\"  ')", b'abc'),
    # strtod's numbers: hex, leading zeros, a sign on anything, inf, nan, nan(chars)
    (r"local r = {} for _, s in ipairs({'123', '-1.5e3', '0x10', '1E2', '-0', '+5', '01', '0x1p4', '0x.8', '1e400', '-1e400', '1e-400', 'Infinity', '-inf', 'NaN', '-nan', 'nan(123)'}) do r[#r + 1] = tostring(cjson.decode(s)) end return r", [b'123', b'-1500', b'16', b'100', b'-0', b'5', b'1', b'16', b'0.5', b'inf', b'-inf', b'0', b'inf', b'-inf', b'nan', b'-nan', b'nan']),
    (r"return {tostring(cjson.decode('true')), tostring(cjson.decode('false')), tostring(cjson.decode('null'))}", [b'true', b'false', b'userdata: (nil)']),
    (r"return {cjson.decode('\"\\u0000x\"'), cjson.decode('{\"a\":1,\"a\":2}').a, cjson.decode(123), tostring(cjson.decode(1.5))}", [b'\x00x', 2, 123, b'1.5']),
    # the input is read as a C string
    (r"return cjson.decode('[1]\0garbage')", [1]),
    # decoded tables iterate in Redis's order
    (r"local t = cjson.decode('{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"k10\":10,\"k11\":11}') local r = {} for k in pairs(t) do r[#r + 1] = k end return r", [b'k9', b'k8', b'k1', b'k3', b'k2', b'k10', b'k11', b'k6', b'k7', b'k4', b'k5']),
    (r"return cjson.encode(cjson.decode('{\"b\":1,\"a\":2,\"c\":{\"z\":1,\"y\":2},\"1\":3,\"x\":[1,2]}'))", b'{"1":3,"x":[1,2],"c":{"y":2,"z":1},"b":1,"a":2}'),
    (r"return #cjson.encode(cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000)))", 2000),
    (r"return {type(cjson.null), tostring(cjson.null), tostring(cjson.null == cjson.decode('null')), cjson._NAME, cjson._VERSION, tostring(cjson.new().null == cjson.null)}", [b'userdata', b'userdata: (nil)', b'true', b'cjson', b'2.1.0', b'true']),
    (r"local r = {} for k in pairs(cjson) do r[#r + 1] = k end return r", [b'_NAME', b'encode', b'decode_max_depth', b'_VERSION', b'decode_invalid_numbers', b'encode_keep_buffer', b'null', b'encode_number_precision', b'new', b'encode_max_depth', b'encode_invalid_numbers', b'decode', b'encode_sparse_array']),
]  # fmt: skip

ERRORS: list[tuple[str, bytes]] = [
    (r"return cjson.encode({[1] = 1, [11] = 11})", b'user_script:1: Cannot serialise table: excessively sparse array'),
    (r"return cjson.encode({[1.5] = 1, [true] = 2})", b'user_script:1: Cannot serialise boolean: table key must be a number or string'),
    (r"return cjson.encode({function() end})", b'user_script:1: Cannot serialise function: type not supported'),
    (r"return cjson.encode({a = coroutine.create(function() end)})", b'user_script:1: Cannot serialise thread: type not supported'),
    (r"return cjson.encode()", b"user_script:1: bad argument #1 to 'encode' (expected 1 argument)"),
    (r"return cjson.encode(1, 2)", b"user_script:1: bad argument #1 to 'encode' (expected 1 argument)"),
    (r"return cjson.encode(0/0)", b'user_script:1: Cannot serialise number: must not be NaN or Inf'),
    (r"return cjson.encode({[math.huge] = 1})", b'user_script:1: Cannot serialise number: must not be NaN or Inf'),
    (r"local t = {} t[1] = t return cjson.encode(t)", b'user_script:1: Cannot serialise, excessive nesting (1001)'),
    (r"local t = {} local c = t for i = 1, 1000 do c.a = {} c = c.a end return cjson.encode(t)", b'user_script:1: Cannot serialise, excessive nesting (1001)'),
    (r"return cjson.new().encode_number_precision(0)", b"user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)"),
    (r"return cjson.new().encode_number_precision(15)", b"user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)"),
    (r"return cjson.new().encode_number_precision('x')", b"user_script:1: bad argument #1 to 'encode_number_precision' (number expected, got string)"),
    (r"return cjson.new().encode_number_precision(1, 2)", b"user_script:1: bad argument #2 to 'encode_number_precision' (found too many arguments)"),
    (r"return cjson.new().encode_max_depth(0)", b"user_script:1: bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)"),
    (r"return cjson.new().encode_sparse_array(nil, -1)", b"user_script:1: bad argument #1 to 'encode_sparse_array' (expected integer between 0 and 2147483647)"),
    (r"return cjson.new().encode_sparse_array(nil, 1, -1)", b"user_script:1: bad argument #1 to 'encode_sparse_array' (expected integer between 0 and 2147483647)"),
    (r"return cjson.new().encode_sparse_array(1)", b"user_script:1: bad argument #1 to 'encode_sparse_array' (invalid option '1')"),
    (r"return cjson.new().encode_invalid_numbers('bogus')", b"user_script:1: bad argument #1 to 'encode_invalid_numbers' (invalid option 'bogus')"),
    (r"return cjson.new().encode_invalid_numbers({})", b"user_script:1: bad argument #1 to 'encode_invalid_numbers' (string expected, got table)"),
    (r"return cjson.new().encode_keep_buffer('yes')", b"user_script:1: bad argument #1 to 'encode_keep_buffer' (invalid option 'yes')"),
    (r"return cjson.decode('x')", b'user_script:1: Expected value but found invalid token at character 1'),
    (r"return cjson.decode('')", b'user_script:1: Expected value but found T_END at character 1'),
    (r"return cjson.decode('[1,2,]')", b'user_script:1: Expected value but found T_ARR_END at character 6'),
    (r"return cjson.decode('[1 2]')", b'user_script:1: Expected comma or array end but found T_NUMBER at character 4'),
    (r"return cjson.decode('{\"a\" 1}')", b'user_script:1: Expected colon but found T_NUMBER at character 6'),
    (r"return cjson.decode('{\"a\":1,}')", b'user_script:1: Expected object key string but found T_OBJ_END at character 8'),
    (r"return cjson.decode('{1:2}')", b'user_script:1: Expected object key string but found T_NUMBER at character 2'),
    (r"return cjson.decode('{\"a\":1 \"b\":2}')", b'user_script:1: Expected comma or object end but found T_STRING at character 8'),
    (r"return cjson.decode('[1] [2]')", b'user_script:1: Expected the end but found T_ARR_BEGIN at character 5'),
    (r"return cjson.decode('\"abc')", b'user_script:1: Expected value but found unexpected end of string at character 5'),
    (r"return cjson.decode('\"a\\qb\"')", b'user_script:1: Expected value but found invalid escape code at character 3'),
    (r"return cjson.decode('\"a\\u12\"')", b'user_script:1: Expected value but found invalid unicode escape code at character 3'),
    (r"return cjson.decode('\"a\\ud800\"')", b'user_script:1: Expected value but found invalid unicode escape code at character 3'),
    (r"return cjson.decode('\"a\\udc00\"')", b'user_script:1: Expected value but found invalid unicode escape code at character 3'),
    (r"return cjson.decode('tru')", b'user_script:1: Expected value but found invalid token at character 1'),
    (r"return cjson.decode('-')", b'user_script:1: Expected value but found invalid number at character 1'),
    (r"return cjson.decode('.5')", b'user_script:1: Expected value but found invalid token at character 1'),
    (r"return cjson.decode('1e')", b'user_script:1: Expected the end but found invalid token at character 2'),
    (r"return cjson.decode('\0a')", b'user_script:1: JSON parser does not support UTF-16 or UTF-32'),
    (r"return cjson.decode('\"a\0b\"')", b'user_script:1: Expected value but found unexpected end of string at character 3'),
    (r"return cjson.decode({})", b"user_script:1: bad argument #1 to 'decode' (string expected, got table)"),
    (r"return cjson.decode()", b"user_script:1: bad argument #1 to 'decode' (expected 1 argument)"),
    (r"return cjson.decode(string.rep('[', 1001) .. string.rep(']', 1001))", b'user_script:1: Found too many nested data structures (1001) at character 1001'),
    (r"return cjson:decode('1')", b"user_script:1: calling 'decode' on bad self (expected 1 argument)"),
    (r"local d = cjson.decode return d()", b"user_script:1: bad argument #1 to 'd' (expected 1 argument)"),
]  # fmt: skip

test_values_are_redis_values, test_errors_are_redis_errors = redis_case_tests(VALUES, ERRORS)


def test_settings_last_as_long_as_the_runtime(lua: Scripts) -> None:
    # redis-cli eval "return cjson.encode_max_depth(3)" 0  ->  3, then
    # redis-cli eval "return cjson.encode_max_depth()" 0  ->  3
    assert lua.run("return cjson.encode_max_depth(3)") == 3
    assert lua.run("return cjson.encode_max_depth()") == 3
    assert lua.run("return cjson.new().encode_max_depth()") == 1000


def test_an_error_no_script_catches_reaches_python_as_a_library_error() -> None:
    decode = new_runtime().eval("function(s) return cjson.decode(s) end")
    with pytest.raises(LibraryError) as caught:
        decode(b"[")
    assert (
        caught.value.value
        == b'[string "<python>"]:1: Expected value but found T_END at character 2'
    )
