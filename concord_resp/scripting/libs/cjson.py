"""`cjson`: Lua CJSON 2.1.0 as Redis 7.0 builds it (deps/lua/src/lua_cjson.c).

Encoding runs in Lua (`_ENCODER`), so it walks tables exactly as the C code does (raw
access, `next` order) and formats numbers with the C library's `%.14g`, -0 included. A table
is an array when its keys are all integers >= 1 and it is not "excessively sparse" (largest
key > ratio * count and > safe), else an object; an empty table is `{}`. Strings escape `"`,
`\\`, `/`, control characters and DEL; other bytes pass through untouched. Decoding runs in
Python: the C parser's tokens, its number syntax (strtod's: hex, inf, nan, leading zeros),
its reading of the input as a C string (a NUL byte ends it) and its errors, positions
included; a JSON null is `cjson.null`, one userdata per runtime. Each cjson table (the
global one, and those `cjson.new()` makes) has its own settings, which persist in the
runtime as they do in Redis.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ._bridge import MAX_C_STACK, ArgError, Bridge, Failure, to_int32

_INT_MAX: Final = 2**31 - 1

# The encoder's Lua. encode(value, sparse_convert, ratio, safe, max_depth, invalid_numbers,
# number_format) -> true, json | false, message. `used` counts the slots the C encoder would
# have on Lua's stack, for its lua_checkstack limit on nesting.
_ENCODER: Final = r"""
local null, MAX_C_STACK = ...
local type, next, rawget, rawequal, pcall, error = type, next, rawget, rawequal, pcall, error
local format, gsub, concat, floor, huge = string.format, string.gsub, table.concat, math.floor, math.huge

local ESCAPES = {}
for byte = 0, 31 do ESCAPES[string.char(byte)] = format("\\u%04x", byte) end
ESCAPES["\b"], ESCAPES["\t"], ESCAPES["\n"], ESCAPES["\f"], ESCAPES["\r"] =
  "\\b", "\\t", "\\n", "\\f", "\\r"
ESCAPES['"'], ESCAPES["\\"], ESCAPES["/"], ESCAPES["\127"] = '\\"', "\\\\", "\\/", "\\u007f"
local SPECIAL = '[%c"\\/]'

local convert, ratio, safe, max_depth, invalid, number_format
local buf, n

local function fail(message)
  error({message}, 0)
end

local function number_text(x)
  if x ~= x then
    if invalid == 0 then fail("Cannot serialise number: must not be NaN or Inf") end
    if invalid == 1 then return "nan" end
    return "null"
  end
  if (x == huge or x == -huge) and invalid ~= 1 then
    if invalid == 0 then fail("Cannot serialise number: must not be NaN or Inf") end
    return "null"
  end
  return format(number_format, x)
end

-- a * b as a C int multiplication wraps (a, b >= 0 and below 2^31)
local function int_product(a, b)
  local p = a * b
  if p < 2147483648 then return p end
  local low = b % 65536
  p = (a * low + (a * ((b - low) / 65536) % 65536) * 65536) % 4294967296
  if p >= 2147483648 then p = p - 4294967296 end
  return p
end

-- The array size of a table: -1 for an object (0 for an empty table).
local function array_length(t)
  local max, items = 0, 0
  for k in next, t do
    if type(k) ~= "number" or floor(k) ~= k or k < 1 then return -1 end
    if k > max then
      if k > 2147483647 then max = -2147483648 else max = k end  -- (int) of a double: x86
    end
    items = items + 1
  end
  if ratio > 0 and max > int_product(items, ratio) and max > safe then
    if not convert then fail("Cannot serialise table: excessively sparse array") end
    return -1
  end
  return max
end

local encode_value

local function encode_table(t, depth, used)
  depth = depth + 1
  if depth > max_depth or used + 3 > MAX_C_STACK then
    fail("Cannot serialise, excessive nesting (" .. depth .. ")")
  end
  local len = array_length(t)
  if len > 0 then
    n = n + 1; buf[n] = "["
    for i = 1, len do
      if i > 1 then n = n + 1; buf[n] = "," end
      encode_value(rawget(t, i), depth, used + 1)
    end
    n = n + 1; buf[n] = "]"
    return
  end
  n = n + 1; buf[n] = "{"
  local comma = false
  for k, v in next, t do
    if comma then n = n + 1; buf[n] = "," else comma = true end
    local kind = type(k)
    if kind == "number" then
      n = n + 1; buf[n] = '"' .. number_text(k) .. '":'
    elseif kind == "string" then
      n = n + 1; buf[n] = '"' .. gsub(k, SPECIAL, ESCAPES) .. '":'
    else
      fail("Cannot serialise " .. kind .. ": table key must be a number or string")
    end
    encode_value(v, depth, used + 2)
  end
  n = n + 1; buf[n] = "}"
end

encode_value = function(v, depth, used)
  local kind = type(v)
  if kind == "string" then
    n = n + 1; buf[n] = '"' .. gsub(v, SPECIAL, ESCAPES) .. '"'
  elseif kind == "number" then
    n = n + 1; buf[n] = number_text(v)
  elseif kind == "boolean" then
    n = n + 1; buf[n] = v and "true" or "false"
  elseif kind == "table" then
    encode_table(v, depth, used)
  elseif kind == "nil" or rawequal(v, null) then
    n = n + 1; buf[n] = "null"
  else
    fail("Cannot serialise " .. kind .. ": type not supported")
  end
end

return function(value, sparse_convert, sparse_ratio, sparse_safe, depth, invalid_numbers, fmt)
  convert, ratio, safe, max_depth = sparse_convert, sparse_ratio, sparse_safe, depth
  invalid, number_format = invalid_numbers, fmt
  buf, n = {}, 0
  local ok, err = pcall(encode_value, value, 0, 1)
  local out = buf
  buf = nil
  if ok then return true, concat(out, "", 1, n) end
  if type(err) == "table" then return false, err[1] end
  error(err, 0)  -- not the encoder's (the script's budget, memory): it goes on up
end
"""

_NULL: Final = """
local null = newproxy(true)
local meta = getmetatable(null)
meta.__tostring = function() return "userdata: (nil)" end  -- a NULL lightuserdata's text
meta.__metatable = false
return null
"""

# The order lua_cjson_new sets the fields in (into a table that grows as they come).
_MAKE_TABLE: Final = """
local f, null = ...
local t = {}
t.encode = f.encode
t.decode = f.decode
t.encode_sparse_array = f.encode_sparse_array
t.encode_max_depth = f.encode_max_depth
t.decode_max_depth = f.decode_max_depth
t.encode_number_precision = f.encode_number_precision
t.encode_keep_buffer = f.encode_keep_buffer
t.encode_invalid_numbers = f.encode_invalid_numbers
t.decode_invalid_numbers = f.decode_invalid_numbers
t.new = f.new
t.null = null
t._NAME = "cjson"
t._VERSION = "2.1.0"
return t
"""

_BOOL_OPTIONS: Final = (b"off", b"on")
_INVALID_NUMBER_OPTIONS: Final = (b"off", b"on", b"null")


@dataclass
class _Settings:
    """One cjson table's settings (json_config_t), with Lua CJSON's defaults."""

    sparse_convert: bool = False
    sparse_ratio: int = 2
    sparse_safe: int = 10
    encode_max_depth: int = 1000
    decode_max_depth: int = 1000
    encode_invalid_numbers: int = 0  # 0 off, 1 on, 2 "null"
    decode_invalid_numbers: bool = True
    encode_keep_buffer: bool = True  # (no effect here but its value)
    encode_number_precision: int = 14


def _arg_init(args: tuple[Any, ...], count: int) -> tuple[Any, ...]:
    """json_arg_init: at most `count` arguments, padded with nils."""
    if len(args) > count:
        raise ArgError(count + 1, b"found too many arguments")
    return args + (None,) * (count - len(args))


# -- decoding ------------------------------------------------------------------------------

(
    _T_OBJ_BEGIN,
    _T_OBJ_END,
    _T_ARR_BEGIN,
    _T_ARR_END,
    _T_STRING,
    _T_NUMBER,
    _T_BOOLEAN,
    _T_NULL,
    _T_COLON,
    _T_COMMA,
    _T_END,
    _T_ERROR,
) = range(12)
_TOKEN_NAMES: Final = (
    b"T_OBJ_BEGIN",
    b"T_OBJ_END",
    b"T_ARR_BEGIN",
    b"T_ARR_END",
    b"T_STRING",
    b"T_NUMBER",
    b"T_BOOLEAN",
    b"T_NULL",
    b"T_COLON",
    b"T_COMMA",
    b"T_END",
)
_SINGLE: Final = {
    ord("{"): _T_OBJ_BEGIN,
    ord("}"): _T_OBJ_END,
    ord("["): _T_ARR_BEGIN,
    ord("]"): _T_ARR_END,
    ord(","): _T_COMMA,
    ord(":"): _T_COLON,
    0: _T_END,
}
_WHITESPACE: Final = frozenset(b" \t\n\r")
_NUMBER_START: Final = frozenset(b"-0123456789")
_UNKNOWN: Final = frozenset(b"fiInNt+")  # may start true/false/null or an "invalid" number
_ESCAPES: Final = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\b",
    ord("t"): b"\t",
    ord("n"): b"\n",
    ord("f"): b"\f",
    ord("r"): b"\r",
}
_STRING_RUN: Final = re.compile(rb'[^"\\\x00]*')
_SIMPLE_STRING: Final = re.compile(rb'"([^"\\\x00]*)"')
_HEX4: Final = re.compile(rb"[0-9a-fA-F]{4}")
# strtod's syntax (glibc): inf/infinity/nan(chars) in any case, hex floats, decimals.
_DECIMAL_START: Final = frozenset(b"0123456789.")
_SPECIAL: Final = re.compile(rb"[+-]?(?:(inf(?:inity)?)|nan(?:\(([0-9A-Za-z_]*)\))?)", re.I)
_HEX: Final = re.compile(
    rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
)
_DECIMAL: Final = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX_DIGITS: Final = re.compile(rb"0[xX][0-9a-fA-F]+")
_OCTAL_DIGITS: Final = re.compile(rb"0[0-7]*")
_DECIMAL_DIGITS: Final = re.compile(rb"[1-9][0-9]*")


def strtod(data: bytes, pos: int) -> tuple[float, int] | None:
    """C's strtod at `pos` (no leading space here): the value and where it stopped, or None
    when nothing converts."""
    start = pos + 1 if data[pos] in b"+-" else pos
    if data[start] in _DECIMAL_START:
        if data[start] == ord("0") and data[start + 1] in b"xX":
            match = _HEX.match(data, pos)
            if match is not None:
                try:
                    return float.fromhex(match.group().decode()), match.end()
                except OverflowError:
                    return (-math.inf if data[pos] == ord("-") else math.inf), match.end()
        match = _DECIMAL.match(data, pos)
        if match is not None:
            return float(match.group()), match.end()
        return None
    special = _SPECIAL.match(data, pos)
    if special is None:
        return None
    negative = data[pos] == ord("-")
    if special.group(1) is not None:
        return (-math.inf if negative else math.inf), special.end()
    value = _nan(special.group(2))
    return (-value if negative else value), special.end()


def _nan(payload: bytes | None) -> float:
    """glibc's NaN for `nan(chars)`: when strtoull (base 0) reads all of the chars, their
    value fills the low 51 bits of the quiet NaN."""
    mantissa = 0
    if payload is not None:
        if _HEX_DIGITS.fullmatch(payload):
            mantissa = int(payload[2:], 16)
        elif _OCTAL_DIGITS.fullmatch(payload):
            mantissa = int(payload, 8)
        elif _DECIMAL_DIGITS.fullmatch(payload):
            mantissa = int(payload)
    bits = 0x7FF8000000000000 | (min(mantissa, 2**64 - 1) & 0x7FFFFFFFFFFFF)
    value: float = struct.unpack("<d", bits.to_bytes(8, "little"))[0]
    return value


def _is_invalid_number(data: bytes, pos: int) -> bool:
    """json_is_invalid_number: what strtod takes but JSON does not (+, hex, leading zeros,
    inf, nan)."""
    if data[pos] == ord("+"):
        return True
    if data[pos] == ord("-"):
        pos += 1
    first = data[pos]
    if first == ord("0"):
        second = data[pos + 1]
        return (second | 0x20) == ord("x") or ord("0") <= second <= ord("9")
    if first <= ord("9"):
        return False
    return data[pos : pos + 3].lower() in (b"inf", b"nan")


class _Parser:
    """The C parser's tokens and grammar over one input (NUL-terminated, as C reads it)."""

    def __init__(self, text: bytes, settings: _Settings, library: _Library) -> None:
        self.data = text + b"\0"
        self.pos = 0
        self.invalid_numbers = settings.decode_invalid_numbers
        self.max_depth = settings.decode_max_depth
        self.null = library.null
        self.nested_table = library.bridge.nested_table
        self.kind = _T_END
        self.value: Any = None
        self.index = 0  # where the token starts (or where its error is)

    def fail(self, expected: bytes) -> Failure:
        found = self.value if self.kind == _T_ERROR else _TOKEN_NAMES[self.kind]
        return Failure(
            b"Expected %s but found %s at character %d" % (expected, found, self.index + 1)
        )

    def error_token(self, message: bytes, index: int) -> None:
        self.kind, self.value, self.index = _T_ERROR, message, index

    def next(self) -> None:
        data = self.data
        pos = self.pos
        while data[pos] in _WHITESPACE:
            pos += 1
        self.pos = self.index = pos
        ch = data[pos]
        single = _SINGLE.get(ch)
        if single is not None:
            self.kind = single
            if single != _T_END:
                self.pos = pos + 1
            return
        if ch == ord('"'):
            self.string()
        elif ch in _NUMBER_START:
            if not self.invalid_numbers and _is_invalid_number(data, pos):
                self.error_token(b"invalid number", pos)
            else:
                self.number()
        elif ch not in _UNKNOWN:
            self.error_token(b"invalid token", pos)
        elif data.startswith(b"true", pos):
            self.kind, self.value, self.pos = _T_BOOLEAN, True, pos + 4
        elif data.startswith(b"false", pos):
            self.kind, self.value, self.pos = _T_BOOLEAN, False, pos + 5
        elif data.startswith(b"null", pos):
            self.kind, self.value, self.pos = _T_NULL, self.null, pos + 4
        elif self.invalid_numbers and _is_invalid_number(data, pos):
            self.number()
        else:
            self.error_token(b"invalid token", pos)

    def number(self) -> None:
        converted = strtod(self.data, self.pos)
        if converted is None:
            self.error_token(b"invalid number", self.pos)
        else:
            self.kind, (self.value, self.pos) = _T_NUMBER, converted

    def string(self) -> None:
        data = self.data
        simple = _SIMPLE_STRING.match(data, self.pos)
        if simple is not None:  # no escapes: the common case
            self.kind, self.value, self.pos = _T_STRING, simple.group(1), simple.end()
            return
        pos = self.pos + 1
        parts: list[bytes] = []
        while True:
            end = _STRING_RUN.match(data, pos).end()  # type: ignore[union-attr]
            if end > pos:
                parts.append(data[pos:end])
                pos = end
            ch = data[pos]
            if ch == ord('"'):
                break
            if ch == 0:
                self.error_token(b"unexpected end of string", pos)
                return
            escape = data[pos + 1]
            if escape == ord("u"):
                decoded = self.unicode_escape(pos)
                if decoded is None:
                    self.error_token(b"invalid unicode escape code", pos)
                    return
                parts.append(decoded[0])
                pos += decoded[1]
                continue
            replacement = _ESCAPES.get(escape)
            if replacement is None:
                self.error_token(b"invalid escape code", pos)
                return
            parts.append(replacement)
            pos += 2
        self.kind, self.value, self.pos = _T_STRING, b"".join(parts), pos + 1

    def unicode_escape(self, pos: int) -> tuple[bytes, int] | None:
        """`\\uXXXX` (or a surrogate pair of them) at `pos`, as UTF-8, and its length."""
        data = self.data
        if _HEX4.match(data, pos + 2) is None:
            return None
        codepoint = int(data[pos + 2 : pos + 6], 16)
        if codepoint & 0xF800 != 0xD800:
            return chr(codepoint).encode(), 6
        if codepoint & 0x400 or data[pos + 6 : pos + 8] != b"\\u":
            return None  # a low surrogate first, or a high one alone
        if _HEX4.match(data, pos + 8) is None:
            return None
        low = int(data[pos + 8 : pos + 12], 16)
        if low & 0xFC00 != 0xDC00:
            return None
        codepoint = (((codepoint & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000
        return chr(codepoint).encode(), 12

    def key(self) -> bytes:
        """An object's key and its colon; leaves the value's first token read."""
        if self.kind != _T_STRING:
            raise self.fail(b"object key string")
        key: bytes = self.value
        self.next()
        if self.kind != _T_COLON:
            raise self.fail(b"colon")
        self.next()
        return key

    def document(self) -> Any:
        """The whole input: one value, then the end. Iterative: nesting is bounded by
        decode_max_depth and the C parser's stack use, not by Python's recursion."""
        self.next()
        containers: list[Any] = []
        keys: list[bytes | None] = []  # per container: the key its next value goes to
        used = 1  # Lua stack slots: the string, then a table (and key) per open container
        while True:
            kind = self.kind
            if kind in (_T_OBJ_BEGIN, _T_ARR_BEGIN):
                is_object = kind == _T_OBJ_BEGIN
                depth = len(containers) + 1
                if depth > self.max_depth or used + (3 if is_object else 2) > MAX_C_STACK:
                    raise Failure(
                        b"Found too many nested data structures (%d) at character %d"
                        % (depth, self.pos)
                    )
                self.next()
                if self.kind == (_T_OBJ_END if is_object else _T_ARR_END):
                    value: Any = {} if is_object else []
                elif is_object:
                    keys.append(self.key())
                    containers.append({})
                    used += 2
                    continue
                else:
                    keys.append(None)
                    containers.append([])
                    used += 1
                    continue
            elif _T_STRING <= kind <= _T_NULL:
                value = self.value
            else:
                raise self.fail(b"value")
            while containers:  # the value is complete: into its container, and on
                key = keys[-1]
                container = containers[-1]
                self.next()
                if key is None:
                    container.append(value)
                    if self.kind == _T_ARR_END:
                        keys.pop()
                        value = self.nested_table(containers.pop(), len(containers))
                        used -= 1
                        continue
                    if self.kind != _T_COMMA:
                        raise self.fail(b"comma or array end")
                    self.next()
                else:
                    container[key] = value
                    if self.kind == _T_OBJ_END:
                        keys.pop()
                        value = self.nested_table(containers.pop(), len(containers))
                        used -= 2
                        continue
                    if self.kind != _T_COMMA:
                        raise self.fail(b"comma or object end")
                    self.next()
                    keys[-1] = self.key()
                break
            else:
                self.next()
                if self.kind != _T_END:
                    raise self.fail(b"the end")
                return value


class _CJson:
    """One cjson table: its settings and its functions."""

    def __init__(self, library: _Library) -> None:
        self.library = library
        self.settings = _Settings()

    def encode(self, *args: Any) -> bytes:
        if len(args) != 1:
            raise ArgError(1, b"expected 1 argument")
        s = self.settings
        ok, text = self.library.encoder(
            args[0],
            s.sparse_convert,
            s.sparse_ratio,
            s.sparse_safe,
            s.encode_max_depth,
            s.encode_invalid_numbers,
            b"%%.%dg" % s.encode_number_precision,
        )
        if ok is False:
            raise Failure(text)
        return text  # type: ignore[no-any-return]

    def decode(self, *args: Any) -> Any:
        if len(args) != 1:
            raise ArgError(1, b"expected 1 argument")
        bridge = self.library.bridge
        text = bridge.check_string(args, 1)
        if len(text) >= 2 and (text[0] == 0 or text[1] == 0):
            raise Failure(b"JSON parser does not support UTF-16 or UTF-32")
        value = _Parser(text, self.settings, self.library).document()
        if type(value) is list or type(value) is dict:
            return bridge.table_from(value)
        return value

    # -- settings -------------------------------------------------------------------------

    def integer_option(
        self, args: tuple[Any, ...], narg: int, current: int, low: int, high: int
    ) -> int:
        """json_integer_option: the new value (range errors name argument #1, as Lua CJSON
        does for every option)."""
        if args[narg - 1] is None:
            return current
        value = to_int32(self.library.bridge.check_integer(args, narg))
        if not low <= value <= high:
            raise ArgError(1, b"expected integer between %d and %d" % (low, high))
        return value

    def enum_option(
        self, args: tuple[Any, ...], narg: int, current: int, options: tuple[bytes, ...]
    ) -> int:
        """json_enum_option: a boolean, or one of `options` by name (luaL_checkoption)."""
        value = args[narg - 1]
        if value is None:
            return current
        if type(value) is bool:
            return int(value)
        name = self.library.bridge.check_string(args, narg).split(b"\0")[0]
        if name not in options:
            raise ArgError(narg, b"invalid option '%s'" % name)
        return options.index(name)

    @staticmethod
    def enum_result(setting: int, options: tuple[bytes, ...]) -> bool | bytes:
        return bool(setting) if setting in (0, 1) else options[setting]

    def encode_sparse_array(self, *args: Any) -> tuple[Any, ...]:
        args = _arg_init(args, 3)
        s = self.settings
        s.sparse_convert = bool(self.enum_option(args, 1, s.sparse_convert, _BOOL_OPTIONS))
        s.sparse_ratio = self.integer_option(args, 2, s.sparse_ratio, 0, _INT_MAX)
        s.sparse_safe = self.integer_option(args, 3, s.sparse_safe, 0, _INT_MAX)
        return s.sparse_convert, s.sparse_ratio, s.sparse_safe

    def encode_max_depth(self, *args: Any) -> int:
        args = _arg_init(args, 1)
        s = self.settings
        s.encode_max_depth = self.integer_option(args, 1, s.encode_max_depth, 1, _INT_MAX)
        return s.encode_max_depth

    def decode_max_depth(self, *args: Any) -> int:
        args = _arg_init(args, 1)
        s = self.settings
        s.decode_max_depth = self.integer_option(args, 1, s.decode_max_depth, 1, _INT_MAX)
        return s.decode_max_depth

    def encode_number_precision(self, *args: Any) -> int:
        args = _arg_init(args, 1)
        s = self.settings
        s.encode_number_precision = self.integer_option(args, 1, s.encode_number_precision, 1, 14)
        return s.encode_number_precision

    def encode_keep_buffer(self, *args: Any) -> bool:
        args = _arg_init(args, 1)
        s = self.settings
        s.encode_keep_buffer = bool(self.enum_option(args, 1, s.encode_keep_buffer, _BOOL_OPTIONS))
        return s.encode_keep_buffer

    def encode_invalid_numbers(self, *args: Any) -> bool | bytes:
        args = _arg_init(args, 1)
        s = self.settings
        s.encode_invalid_numbers = self.enum_option(
            args, 1, s.encode_invalid_numbers, _INVALID_NUMBER_OPTIONS
        )
        return self.enum_result(s.encode_invalid_numbers, _INVALID_NUMBER_OPTIONS)

    def decode_invalid_numbers(self, *args: Any) -> bool:
        args = _arg_init(args, 1)
        s = self.settings
        s.decode_invalid_numbers = bool(
            self.enum_option(args, 1, s.decode_invalid_numbers, _BOOL_OPTIONS)
        )
        return s.decode_invalid_numbers

    def new(self, *args: Any) -> Any:
        return self.library.create()


_FUNCTIONS: Final = (
    "encode",
    "decode",
    "encode_sparse_array",
    "encode_max_depth",
    "decode_max_depth",
    "encode_number_precision",
    "encode_keep_buffer",
    "encode_invalid_numbers",
    "decode_invalid_numbers",
    "new",
)


class _Library:
    """What every cjson table of one runtime shares: the encoder, `null`, the bridge."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.null = bridge.lua.execute(_NULL)
        self.encoder = bridge.lua.execute(_ENCODER, self.null, MAX_C_STACK)

    def create(self) -> Any:
        """A new cjson table with the default settings (lua_cjson_new)."""
        return self.bridge.library(_MAKE_TABLE, _CJson(self), _FUNCTIONS, self.null)


def create(bridge: Bridge) -> tuple[Any, Callable[[], None]]:
    """The global `cjson` table for this runtime, and what puts its settings back to the
    defaults (before each script: a setting one script changed must not reach the next,
    which may run on another replica whose runtime never saw the change)."""
    library = _Library(bridge)
    instance = _CJson(library)
    table = bridge.library(_MAKE_TABLE, instance, _FUNCTIONS, library.null)

    def reset() -> None:
        instance.settings = _Settings()

    return table, reset
