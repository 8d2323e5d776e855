"""Connection-level command handlers, one module per concern (see `base` for the shape).

connection     HELLO, QUIT, RESET, READONLY, READWRITE
client         CLIENT ...
config         CONFIG ...
introspection  COMMAND ..., INFO
diagnostics    SLOWLOG, LATENCY, MEMORY STATS/DOCTOR/MALLOC-STATS/PURGE (this node's)
persistence    SAVE, BGSAVE, LASTSAVE, RAFT.BACKUP (a snapshot read over the client port)
pubsub         SUBSCRIBE & co, PUBSUB (this node's subscriptions; PUBLISH is pure)
cluster        RAFT.* (operator requests to the leader)
transactions   MULTI, EXEC, DISCARD, WATCH, UNWATCH
scripting      SCRIPT KILL, SCRIPT HELP (the rest of scripting is pure: `concord_resp.scripting`)
security       AUTH, ACL WHOAMI/LOG/GENPASS/SAVE/LOAD/HELP (the rest of ACL is pure: `security`)
"""

from . import (
    client,
    cluster,
    config,
    connection,
    diagnostics,
    introspection,
    persistence,
    pubsub,
    scripting,
    security,
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
    "diagnostics",
    "introspection",
    "persistence",
    "pubsub",
    "scripting",
    "security",
    "transactions",
]
