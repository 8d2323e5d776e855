"""Security, pure: ACL users and their rules (`acl`), the users as replicated state (`users`),
and the ACL commands that change or read them (`commands`, registered in `commands.PURE`);
the proof of the cluster secret in the peer handshake (`peer_auth`, imported by name).

It sits above `commands` (it reads the command table's categories and key specs) and below
`scripting` and `state`. No I/O, no clock: what varies (time, random bytes) is passed in.
"""

from . import commands  # noqa: F401  (handlers register on import)
from .acl import (
    CATEGORIES,
    DENIED_AUTH,
    DENIED_CHANNEL,
    DENIED_CMD,
    DENIED_KEY,
    Catalog,
    Denial,
    RuleError,
    User,
    hash_password,
)
from .users import Users

__all__ = [
    "CATEGORIES",
    "DENIED_AUTH",
    "DENIED_CHANNEL",
    "DENIED_CMD",
    "DENIED_KEY",
    "Catalog",
    "Denial",
    "RuleError",
    "User",
    "Users",
    "hash_password",
]
