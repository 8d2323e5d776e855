"""The command table and the pure command handlers over the keyspace.

`build_table()` loads the declarative specs and binds every pure handler registered with
`@command`; the server layer binds the connection-level ones. `StateMachine` applies committed
log entries (see `machine`).
"""

from . import keys, server_cmds, strings  # noqa: F401  (handlers register on import)
from .context import Context, Stats
from .errors import CommandError
from .machine import (
    OP_COMMAND,
    OP_EXPIRE,
    OP_MULTI,
    StateMachine,
    Watch,
    encode_command,
    encode_expire,
    encode_multi,
    resolve_spec,
)
from .spec import HANDLERS, CommandSpec, CommandTable, Handler, bind_handlers, load_redis_specs


def build_table() -> CommandTable:
    """Every command Concord serves, with pure handlers bound."""
    table = CommandTable(load_redis_specs())
    bind_handlers(table, HANDLERS)
    return table


__all__ = [
    "HANDLERS",
    "OP_COMMAND",
    "OP_EXPIRE",
    "OP_MULTI",
    "CommandError",
    "CommandSpec",
    "CommandTable",
    "Context",
    "Handler",
    "StateMachine",
    "Stats",
    "Watch",
    "build_table",
    "encode_command",
    "encode_expire",
    "encode_multi",
    "resolve_spec",
]
