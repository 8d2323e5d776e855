"""A Lua runtime built as the scripting engine builds its own, with the libraries installed,
running test scripts as Redis runs them: compiled as `@user_script`, so errors name
`user_script:<line>:` where Redis's do, and with a `pcall` that gives a library's error as
its message (what the engine's sandbox does with LibraryError)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lupa import lua51

from concord_resp.scripting.libs import LibraryError, install

_RUNNER = """
local unwrap = ...
local real_pcall, type, unpack, select = pcall, type, unpack, select
local function caught(ok, ...)
  if ok then return ok, ... end
  local err = ...
  if type(err) == "userdata" then err = unwrap(err) end
  return false, err
end
pcall = function(fn, ...) return caught(real_pcall(fn, ...)) end
return function(source)
  local fn = assert(loadstring(source, "@user_script"))
  return caught(real_pcall(fn))
end
"""


def _deny(obj: object, name: object, is_setting: bool) -> object:
    raise AttributeError("access to Python attributes is not allowed")


def _unwrap(error: object) -> object:
    if isinstance(error, LibraryError):
        return error.value
    raise AssertionError(f"not a library error: {error!r}")


def new_runtime() -> Any:
    lua = lua51.LuaRuntime(
        encoding=None,
        register_eval=False,
        register_builtins=False,
        unpack_returned_tuples=True,
        attribute_filter=_deny,
    )
    install(lua)
    return lua


class Scripts:
    """Runs script bodies; results come back as Python values (tables whose keys are 1..n
    as lists, like Redis's reply conversion; other tables as dicts)."""

    def __init__(self) -> None:
        self.lua = new_runtime()
        self._run = self.lua.execute(_RUNNER, _unwrap)

    def run(self, source: str | bytes) -> Any:
        """The script's first result; fails the test if the script raises."""
        ok, *results = self._results(source)
        assert ok, f"the script raised: {results[0]!r}"
        return to_python(results[0]) if results else None

    def results(self, source: str | bytes) -> list[Any]:
        """Every result of the script."""
        ok, *results = self._results(source)
        assert ok, f"the script raised: {results[0]!r}"
        return [to_python(value) for value in results]

    def error(self, source: str | bytes) -> bytes:
        """The message of the error the script ends with."""
        ok, *results = self._results(source)
        assert not ok, f"the script returned {results!r}"
        message: bytes = results[0]
        return message

    def _results(self, source: str | bytes) -> list[Any]:
        if isinstance(source, str):
            source = source.encode("latin-1")
        outcome = self._run(source)
        return list(outcome) if isinstance(outcome, tuple) else [outcome]


def to_python(value: Any) -> Any:
    if lua51.lua_type(value) != "table":
        return value
    items = dict(value.items())
    if all(type(k) is int for k in items) and sorted(items) == list(range(1, len(items) + 1)):
        return [to_python(items[k]) for k in range(1, len(items) + 1)]
    return {k: to_python(v) for k, v in items.items()}


@pytest.fixture
def lua() -> Scripts:
    return Scripts()


def redis_case_tests(
    values: list[tuple[str, Any]], errors: list[tuple[str, bytes]]
) -> tuple[Callable[..., None], Callable[..., None]]:
    """A test module's two tests over its tables of (script, what Redis gave)."""

    @pytest.mark.parametrize(("script", "expected"), values)
    def test_values_are_redis_values(lua: Scripts, script: str, expected: Any) -> None:
        assert lua.run(script) == expected

    @pytest.mark.parametrize(("script", "message"), errors)
    def test_errors_are_redis_errors(lua: Scripts, script: str, message: bytes) -> None:
        assert lua.error(script) == message

    return test_values_are_redis_values, test_errors_are_redis_errors
