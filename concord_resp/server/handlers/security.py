"""AUTH and the ACL subcommands that concern one connection or this node.

AUTH checks a password against the replicated users (through `ServerState.users`, which is
the node's start-up users until the cluster's were first set). WHOAMI answers for this
connection, ACL LOG is this node's, GENPASS draws from this node's random source, and SAVE
and LOAD use this node's `--aclfile`: LOAD reads the file here and proposes every user it
defines as one log entry, so all nodes take the same users (or none, if one line is bad).
The ACL subcommands that change or read the users are pure (`concord_resp.security`).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ...cluster import Proposal
from ...commands import CommandError, Route
from ...resp import OK, Reply, string2ll
from ...security import DENIED_AUTH, RuleError, User
from ...security.acl import has_spaces, user_from_rules
from ...security.commands import user_line
from ...security.log import MULTI, TOPLEVEL, LogEntry
from ...state import OP_SET_USERS, USERS_LOAD
from ..client import ClientState
from .base import HelpText, Submission, handler, help_reply

if TYPE_CHECKING:
    from ..dispatch import Dispatcher
    from ..state import ServerState

log = logging.getLogger("concord.security")

WRONGPASS: Final = CommandError("WRONGPASS invalid username-password pair or user is disabled.")
NO_ACLFILE: Final = CommandError(
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify"
    " users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a"
    " Redis configuration file set) in order to store users in the Redis configuration."
)
GENPASS_MAX_BITS: Final = 4096

ACL_HELP: Final[HelpText] = [
    (
        "cat",
        [
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
        ],
    ),
    ("deluser", ["DELUSER <username> [<username> ...]", "    Delete a list of users."]),
    (
        "dryrun",
        [
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing"
            " the command.",
        ],
    ),
    ("getuser", ["GETUSER <username>", "    Get the user's details."]),
    (
        "genpass",
        [
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
        ],
    ),
    ("list", ["LIST", "    Show users details in config file format."]),
    ("load", ["LOAD", "    Reload users from the ACL file."]),
    ("log", ["LOG [<count> | RESET]", "    Show the ACL log entries."]),
    ("save", ["SAVE", "    Save the current config to the ACL file."]),
    (
        "setuser",
        [
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
        ],
    ),
    ("users", ["USERS", "    List all the registered usernames."]),
    ("whoami", ["WHOAMI", "    Return the current connection username."]),
]


def log_denial(
    state: ServerState,
    client: ClientState,
    reason: int,
    obj: bytes,
    username: bytes | None = None,
    context: bytes | None = None,
) -> None:
    """One entry in this node's ACL LOG."""
    user = client.user
    name = username if username is not None else (user.name if user else b"default")
    entry = LogEntry(
        reason,
        context or (MULTI if client.in_multi else TOPLEVEL),
        obj,
        name,
        client.describe(),
        int(time.time() * 1000),
    )
    state.acl_log.add(entry, state.settings.acllog_max_len)


def authenticate(
    d: Dispatcher, client: ClientState, username: bytes, password: bytes, command: bytes
) -> bool:
    """Log `client` in as `username` if the password matches (and the user is on); else
    record the failure in ACL LOG."""
    user = d.state.users().get(username)
    if user is not None and user.can_log_in(password):
        client.user = user
        client.authenticated = True
        return True
    log_denial(d.state, client, DENIED_AUTH, command, username=username)
    return False


@handler("auth", route=Route.LOCAL_READ)
def auth(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """At a read point, so a user set (or deleted) through any node a moment ago is seen."""
    if len(argv) > 3:
        raise CommandError("ERR syntax error")
    if len(argv) == 2:
        if not d.state.users().auth_required():
            raise CommandError(
                "ERR AUTH <password> called without any password configured for the default"
                " user. Are you sure your configuration is correct?"
            )
        username, password = b"default", argv[1]
    else:
        username, password = argv[1], argv[2]
    if not authenticate(d, client, username, password, argv[0]):
        raise WRONGPASS
    return OK


@handler("acl|whoami")
def acl_whoami(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return client.user.name if client.user is not None else b"default"


@handler("acl|genpass")
def acl_genpass(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    if len(argv) > 3:
        raise _subcommand_syntax(argv)
    bits = 256
    if len(argv) == 3:
        parsed = string2ll(argv[2])
        if parsed is None:
            raise CommandError("ERR value is not an integer or out of range")
        bits = parsed
    if not 0 < bits <= GENPASS_MAX_BITS:
        raise CommandError(
            "ERR ACL GENPASS argument must be the number of bits for the output password,"
            f" a positive number up to {GENPASS_MAX_BITS}"
        )
    chars = (bits + 3) // 4
    return secrets.token_hex((chars + 1) // 2)[:chars].encode()


@handler("acl|log", route=Route.LOCAL)
def acl_log(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    if len(argv) > 3:
        raise _subcommand_syntax(argv)
    count = 10
    if len(argv) == 3:
        if argv[2].lower() == b"reset":
            d.state.acl_log.reset()
            return OK
        parsed = string2ll(argv[2])
        if parsed is None:
            raise CommandError("ERR value is not an integer or out of range")
        count = max(parsed, 0)
    return d.state.acl_log.reply(count, int(time.time() * 1000))


@handler("acl|save", route=Route.LOCAL_READ)
def acl_save(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    path = d.state.config.aclfile
    if not path:
        raise NO_ACLFILE
    users = d.state.machine.users
    text = b"".join(user_line(users.by_name[name], users.catalog) + b"\n" for name in users.names())
    try:
        write_atomically(Path(path), text)
    except OSError as error:
        log.warning("ACL SAVE could not write %s: %s", path, error)
        raise CommandError(
            "ERR There was an error trying to save the ACLs. Please check the server logs for"
            " more information"
        ) from None
    return OK


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file so that a crash leaves the old one or the new one, never half of it."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


@handler("acl|load", route=Route.LOCAL)
def acl_load(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply | Submission:
    path = d.state.config.aclfile
    if not path:
        raise NO_ACLFILE
    try:
        definitions = read_aclfile(Path(path), d.state)
    except AclFileError as error:
        raise CommandError("ERR " + str(error)) from None
    proposal = Proposal(OP_SET_USERS, client.db, definitions, reason=USERS_LOAD)
    return Submission(proposal, lambda applied: applied.reply)


@handler("acl|help")
def acl_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return help_reply(d, "acl", ACL_HELP)


def _subcommand_syntax(argv: list[bytes]) -> CommandError:
    sub = argv[1].decode("utf-8", "surrogateescape")[:128]
    return CommandError(
        f"ERR unknown subcommand or wrong number of arguments for '{sub}'. Try ACL HELP."
    )


class AclFileError(Exception):
    """An ACL file that cannot be loaded; the text is Redis's (without `ERR `)."""


def read_aclfile(path: Path, state: ServerState) -> list[tuple[bytes, list[bytes]]]:
    """The users an ACL file defines, checked as Redis's ACLLoadFromFile checks them (lines
    `user <name> <rules...>` split on single spaces, each user once, every rule valid), with
    Redis's texts; every problem is reported, and then nothing is loaded."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AclFileError(f"Error loading ACLs, opening file '{path}': {error.strerror}") from None
    catalog = state.machine.users.catalog
    errors: list[str] = []
    users: list[tuple[bytes, list[bytes]]] = []
    seen: set[bytes] = set()  # (membership only)
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.strip(b" \t\r\n")
        if not line:
            continue
        parts = line.split(b" ")
        if parts[0] != b"user" or len(parts) < 2:
            errors.append(
                f"{path}:{number} should start with user keyword followed by the username. "
            )
            continue
        name, rules = parts[1], parts[2:]
        shown = _text(name)
        if has_spaces(name):
            errors.append(f"'{path}:{number}: username '{shown}' contains invalid characters. ")
            continue
        if name in seen:
            errors.append(f"WARNING: Duplicate user '{shown}' found on line {number}. ")
            continue
        seen.add(name)
        try:
            user_from_rules(name, rules, catalog)
        except RuleError as error:
            if error.op is None:
                errors.append(f"{path}:{number}: Unmatched parenthesis in selector definition.")
            elif error.unknown_name:
                errors.append(
                    f"{path}:{number}: Error in applying operation '{_text(error.op)}':"
                    f" {error.reason}. "
                )
            else:
                errors.append(f"{path}:{number}: {error.reason}. ")
            continue
        users.append((name, rules))
    if errors:
        errors.append(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was"
            " performed"
        )
        raise AclFileError("".join(errors))
    return users


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def startup_users(state: ServerState) -> list[tuple[bytes, list[bytes]]] | None:
    """The users this node was started with (--aclfile, or --requirepass), if any."""
    config = state.config
    if config.aclfile:
        path = Path(config.aclfile)
        if not path.exists():
            return None  # (Redis starts with the default user if the file is missing)
        return read_aclfile(path, state)
    if config.requirepass:
        password = config.requirepass.encode()
        return [(b"default", [b"on", b">" + password, b"~*", b"&*", b"+@all"])]
    return None


def close_clients_of(state: ServerState, names: list[bytes]) -> None:
    """Close the connections authenticated as these (deleted) users, as Redis does."""
    gone = set(names)  # (membership only)
    for other in state.clients:
        if other.user is not None and other.user.name in gone:
            state.clients.close_now(other)


def close_unpermitted_subscribers(state: ServerState, user: User) -> None:
    """ACL SETUSER changed `user`: close its clients subscribed to a channel, pattern or shard
    channel it no longer allows, as Redis does (on every node: the change is an entry)."""
    for other in state.clients:
        if other.user is not user or not other.subscribed:
            continue
        channels, patterns, shard = other.subscriptions
        if all(user.channel_permitted(c, False) for c in [*channels, *shard]) and all(
            user.channel_permitted(p, True) for p in patterns
        ):
            continue
        state.clients.close_now(other)
