"""Connection-level command handlers, one module per concern (see `base` for the shape).

connection     HELLO, QUIT, RESET, READONLY, READWRITE
client         CLIENT ...
config         CONFIG ...
introspection  COMMAND ..., INFO
persistence    SAVE, BGSAVE, LASTSAVE
cluster        RAFT.* (operator requests to the leader)
transactions   MULTI, EXEC, DISCARD, WATCH, UNWATCH
scripting      SCRIPT KILL, SCRIPT HELP (the rest of scripting is pure: `concord_resp.scripting`)
"""

from . import (
    client,
    cluster,
    config,
    connection,
    introspection,
    persistence,
    scripting,
    transactions,
)
from .base import CONNECTION, AtReadPoint, ConnectionHandler, Submission

__all__ = [
    "CONNECTION",
    "AtReadPoint",
    "ConnectionHandler",
    "Submission",
    "client",
    "cluster",
    "config",
    "connection",
    "introspection",
    "persistence",
    "scripting",
    "transactions",
]
