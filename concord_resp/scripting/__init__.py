"""Lua scripting: the Lua 5.1 runtime (lupa) and its sandbox, the deterministic budget, the
replicated script cache and function libraries, and the commands that run them (EVAL & co,
SCRIPT, FUNCTION, FCALL).

Importing this package registers its command handlers in `commands.PURE`; the state machine
imports it, so every table built after it has them.
"""

from . import eval as _eval_handlers  # noqa: F401  (handlers register on import)
from . import fcall as _fcall_handlers  # noqa: F401
from .engine import LuaEngine, LuaError, ScriptHost, sha1hex
from .eval import Scripting
from .functions import Functions
from .scripts import Scripts

__all__ = [
    "Functions",
    "LuaEngine",
    "LuaError",
    "ScriptHost",
    "Scripting",
    "Scripts",
    "sha1hex",
]
