"""Where the libraries' Python functions meet Lua: calls, arguments, errors.

Redis's libraries are C functions. Here each is a Python function that lupa hands to Lua as a
callable userdata, which Lua calls through a C metamethod: like a C function it keeps the
caller's frame, even in `return cjson.decode(s)`, so an error can name the script's line
(`luaL_where(L, 1)`) and the function as the caller spelled it (`luaL_argerror`), which a Lua
wrapper could not do after a tail call. A failure is raised in Python as `ArgError` (Lua's
`luaL_argerror`), `Failure` (`luaL_error`) or `RawFailure` (an error from inside the C API,
which names no line); `Bridge.function` turns each into `LibraryError`, the exception Lua
receives, whose `value` is Redis's message byte for byte.

Arguments arrive as lupa converts them: strings as bytes, numbers as int (any integral value)
or float, tables as LuaTable. The `check_*` helpers read them as lauxlib's do. No I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Final

from lupa import lua51  # type: ignore[import-untyped,unused-ignore]

# LUAI_MAXCSTACK: how many slots a C function may have on the Lua stack (lua_checkstack).
MAX_C_STACK: Final = 8000
INT64_MIN: Final = -(2**63)

_HELPERS: Final = r"""
local getinfo, tonumber = debug.getinfo, tonumber

-- Called from Python while a library function runs: level 2 is that function (a C function
-- to Lua), level 3 is the code that called it.
local function frames()
  local callee = getinfo(2, "n")
  if callee == nil then return false, "", "" end
  local caller = getinfo(3, "Sl")
  local where = ""
  if caller ~= nil and caller.currentline > 0 then
    where = caller.short_src .. ":" .. caller.currentline .. ": "
  end
  return callee.name or false, callee.namewhat or "", where
end

-- A table filled in order from {k1, v1, k2, v2, ...}, as a C loop of lua_settable would.
local function from_pairs(flat, n)
  local t = {}
  for i = 1, n, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

return frames, tonumber, from_pairs
"""


class LibraryError(Exception):
    """The error a library function raises to Lua. `value` is what Lua code should see: the
    message, with the caller's `source:line: ` in front when Redis puts one there."""

    def __init__(self, value: bytes) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return self.value.decode("utf-8", "replace")


class ArgError(Exception):
    """luaL_argerror: argument `narg` is wrong (`extramsg` says how)."""

    def __init__(self, narg: int, extramsg: bytes) -> None:
        super().__init__(narg, extramsg)
        self.narg = narg
        self.extramsg = extramsg


class Failure(Exception):
    """luaL_error: the message gets the calling line in front."""

    def __init__(self, message: bytes) -> None:
        super().__init__(message)
        self.message = message


class RawFailure(Exception):
    """An error raised inside the Lua C API (luaG_runerror in a C function): no line."""

    def __init__(self, message: bytes) -> None:
        super().__init__(message)
        self.message = message


class Bridge:
    """One runtime's plumbing, shared by the four libraries."""

    def __init__(self, lua: Any) -> None:
        self.lua = lua
        self._frames, self._tonumber, self._from_pairs = lua.execute(_HELPERS)

    def function(self, impl: Callable[..., Any]) -> Callable[..., Any]:
        """`impl` as Lua calls it: its failures become LibraryError with Redis's text."""

        def call(*args: Any) -> Any:
            try:
                return impl(*args)
            except ArgError as error:
                raise LibraryError(self._arg_message(error.narg, error.extramsg)) from None
            except Failure as error:
                raise LibraryError(self._where() + error.message) from None
            except RawFailure as error:
                raise LibraryError(error.message) from None

        return call

    def library(self, make_table: str, impl: object, names: Iterable[str], *extra: Any) -> Any:
        """A library's table: `make_table` (Lua) gets a table of impl's functions `names`, as
        Lua calls them, and `extra`, and returns the library's table."""
        functions = {name.encode(): self.function(getattr(impl, name)) for name in names}
        return self.lua.execute(make_table, self.lua.table_from(functions), *extra)

    def _where(self) -> bytes:
        return bytes(self._frames()[2])

    def _arg_message(self, narg: int, extramsg: bytes) -> bytes:
        name, namewhat, where = self._frames()
        where = bytes(where)
        if namewhat == b"method":
            narg -= 1  # do not count `self`
            if narg == 0:
                return where + b"calling '%s' on bad self (%s)" % (name, extramsg)
        if not name:
            name = b"?"
        return where + b"bad argument #%d to '%s' (%s)" % (narg, name, extramsg)

    def tonumber(self, text: bytes) -> int | float | None:
        """Lua's conversion of a string to a number (lua_tonumber), or None."""
        number: int | float | None = self._tonumber(text)
        return number

    def table_from(self, value: list[Any] | dict[Any, Any]) -> Any:
        """A Lua table built from nested lists and dicts, filled in their order (as C code
        filling a new table with lua_rawseti/lua_rawset), the nested ones first."""
        return self.lua.table_from(value, recursive=True)

    def nested_table(self, value: list[Any] | dict[Any, Any], depth: int) -> Any:
        """A decoder's container that is complete at `depth` (how many enclosing ones are
        still open): kept as it is, to become part of its parent's table, except at every
        256th level, where it becomes a table at once, so no table_from call recurses deeper
        than that (lupa's conversion needs more of Lua's stack per level than C code)."""
        if depth and depth % 256 == 0:
            return self.table_from(value)
        return value

    def table_from_pairs(self, flat: list[Any]) -> Any:
        """A Lua table filled from [k1, v1, k2, v2, ...] in order; nested lists and dicts
        become tables. For keys a dict cannot hold apart (True and 1, repeated keys)."""
        return self._from_pairs(self.lua.table_from(flat, recursive=True), len(flat))

    # -- lauxlib's argument checks ----------------------------------------------------------

    def check_number(self, args: tuple[Any, ...], narg: int) -> int | float:
        """luaL_checknumber: a number, or a string Lua converts to one."""
        value: Any = args[narg - 1] if narg <= len(args) else None
        kind = type(value)
        if kind is int or kind is float:
            return value  # type: ignore[no-any-return]
        if kind is bytes:
            number = self.tonumber(value)
            if number is not None:
                return number
        raise type_error(args, narg, b"number")

    def to_number(self, args: tuple[Any, ...], narg: int) -> int | float | None:
        """lua_tonumber, None where lua_isnumber is false (no value, or not a number)."""
        value: Any = args[narg - 1] if narg <= len(args) else None
        kind = type(value)
        if kind is int or kind is float:
            return value  # type: ignore[no-any-return]
        if kind is bytes:
            return self.tonumber(value)
        return None

    def check_integer(self, args: tuple[Any, ...], narg: int) -> int:
        """luaL_checkinteger: the number cast to lua_Integer (a C cast: truncation)."""
        return to_integer(self.check_number(args, narg))

    def opt_integer(self, args: tuple[Any, ...], narg: int, default: int) -> int:
        """luaL_optinteger: the default when the argument is absent or nil."""
        if narg > len(args) or args[narg - 1] is None:
            return default
        return self.check_integer(args, narg)

    def check_string(self, args: tuple[Any, ...], narg: int) -> bytes:
        """luaL_checklstring: a string, or a number as Lua writes it (`%.14g`)."""
        value: Any = args[narg - 1] if narg <= len(args) else None
        kind = type(value)
        if kind is bytes:
            return value  # type: ignore[no-any-return]
        if kind is int or kind is float:
            return number_text(value)
        raise type_error(args, narg, b"string")


def type_error(args: tuple[Any, ...], narg: int, expected: bytes) -> ArgError:
    """luaL_typerror's ArgError: `<expected> expected, got <type of the argument>`."""
    return ArgError(narg, b"%s expected, got %s" % (expected, type_name(args, narg)))


def type_name(args: tuple[Any, ...], narg: int) -> bytes:
    """luaL_typename of argument `narg`: `no value` past the last one."""
    if narg > len(args):
        return b"no value"
    return lua_type_name(args[narg - 1])


def lua_type_name(value: Any) -> bytes:
    """Lua's type() of a value lupa handed to Python."""
    if value is None:
        return b"nil"
    kind = type(value)
    if kind is bool:
        return b"boolean"
    if kind is int or kind is float:
        return b"number"
    if kind is bytes:
        return b"string"
    name = lua51.lua_type(value)
    if name is None:
        return b"userdata"  # a Python object (one of these libraries' functions)
    return str(name).encode()


def number_text(number: float) -> bytes:
    """A number as Lua 5.1 turns it into a string: `%.14g` (C's printf spells NaN `-nan`
    when its sign bit is set)."""
    if number != number:
        return b"-nan" if math.copysign(1.0, number) < 0 else b"nan"
    return b"%.14g" % number


def to_integer(number: float) -> int:
    """(lua_Integer) of a number: truncation, and x86-64's INT64_MIN where the C cast is
    undefined (NaN, out of range)."""
    if type(number) is int:
        return number
    if number != number or not -(2.0**63) <= number < 2.0**63:
        return INT64_MIN
    return int(number)


def to_int32(value: int) -> int:
    """A C `int` assigned from a wider integer: the low 32 bits, signed."""
    return (value + 2**31) % 2**32 - 2**31
