"""The replicated state machine: typed log entries, `apply` -> `Applied`, sections, snapshots.

    entries    the log entries' types and their one codec
    machine    StateMachine: applies entries to the keyspace and sections
    sections   the interface of the replicated state beside the keyspace
    sessions   the session table (a retried write is applied once)
    members    membership changes made through the log
    snapshot   the state as records, and back

Pure: no I/O, no clock, no unseeded randomness (DESIGN.md section 4).
"""

from .entries import (
    OP_COMMAND,
    OP_CONFIGURE,
    OP_EXPIRE,
    OP_MULTI,
    OP_SET_USERS,
    OP_UNBLOCK,
    USERS_BOOTSTRAP,
    USERS_LOAD,
    Command,
    Configure,
    EntryError,
    Expiry,
    Op,
    Session,
    SetUsers,
    Transaction,
    Unblock,
    Watch,
    decode_op,
    encode_op,
    runs_lua,
)
from .machine import Applied, Completion, StateMachine
from .sections import Section

__all__ = [
    "OP_COMMAND",
    "OP_CONFIGURE",
    "OP_EXPIRE",
    "OP_MULTI",
    "OP_SET_USERS",
    "OP_UNBLOCK",
    "USERS_BOOTSTRAP",
    "USERS_LOAD",
    "Applied",
    "Command",
    "Completion",
    "Configure",
    "EntryError",
    "Expiry",
    "Op",
    "Section",
    "Session",
    "SetUsers",
    "StateMachine",
    "Transaction",
    "Unblock",
    "Watch",
    "decode_op",
    "encode_op",
    "runs_lua",
]
