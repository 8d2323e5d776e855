"""The command table and the pure command handlers over the keyspace.

`build_table()` loads the declarative specs and binds every pure handler registered with
`@command` (the `PURE` registry), each with its route; the server layer passes its registry
of connection-level handlers too, and the table checks every route against Redis's flags.
The state machine that runs them for committed log entries is `concord_resp.state`.
"""

from typing import Any

from . import (  # noqa: F401  (handlers register on import)
    bitfield,
    bitmaps,
    dump,
    geo,
    hashes,
    hyperloglog,
    keys,
    lists,
    memory,
    pubsub,
    server_cmds,
    sets,
    sort,
    stream_groups,
    stream_info,
    streams,
    strings,
    zset_algebra,
    zset_ranges,
    zsets,
)
from .context import Context, Stats
from .errors import CommandError
from .keyspecs import KeySpec, key_positions
from .registry import Registration, Registry, Route
from .spec import PURE, CommandSpec, CommandTable, Handler, TableError, load_redis_specs


def build_table(*registries: Registry[Any]) -> CommandTable:
    """Every command Concord serves, with the pure handlers bound and then those of
    `registries` (the server's connection-level ones, which complete the table)."""
    table = CommandTable(load_redis_specs())
    table.bind(PURE)
    for registry in registries:
        table.bind(registry)
    if registries:
        table.check_complete()
    return table


__all__ = [
    "PURE",
    "CommandError",
    "CommandSpec",
    "CommandTable",
    "Context",
    "Handler",
    "KeySpec",
    "Registration",
    "Registry",
    "Route",
    "Stats",
    "TableError",
    "build_table",
    "key_positions",
]
