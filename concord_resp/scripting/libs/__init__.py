"""The Lua libraries Redis 7.0 gives scripts: `cjson`, `cmsgpack`, `bit` and `struct`.

`install(lua)` defines them as globals of a lupa Lua 5.1 runtime (created with
`encoding=None`, so Lua strings are bytes). Their functions are Python functions that Lua
calls as it calls C functions (see `_bridge`): what they return, and every error they raise,
is Redis's byte for byte. An error reaches Lua as a `LibraryError` (a Python exception, so a
userdata to Lua): whoever catches errors for scripts (pcall, the error reply) should use its
`value`, the message Redis gives. Everything is deterministic: no clock, no randomness, and
tables are built and walked in the order Redis's C code builds and walks them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import bit, cjson, cmsgpack, struct
from ._bridge import Bridge, LibraryError

__all__ = ["LibraryError", "install"]


def install(lua: Any) -> Callable[[], None]:
    """Define the globals `cjson`, `cmsgpack`, `bit` and `struct` in this runtime, as Redis
    7.0's scripting engine has them. Returns what resets their settings (cjson's) to the
    defaults, which the engine calls before each script."""
    bridge = Bridge(lua)
    found = lua.globals()
    # In the order Redis loads them (luaLoadLibraries).
    found[b"cjson"], reset = cjson.create(bridge)
    found[b"struct"] = struct.create(bridge)
    found[b"cmsgpack"] = cmsgpack.create(bridge)
    found[b"bit"] = bit.create(bridge)
    return reset
