"""Connection commands: HELLO, QUIT, RESET, READONLY, READWRITE, MONITOR.

They change only this connection (its protocol, name, database, read mode), so they run here
at once and are never logged. Replies and errors are Redis 7.0's, in Redis's order of checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ... import REDIS_VERSION
from ...commands import CommandError, Route
from ...resp import OK, Map, Reply, SimpleString, string2ll
from ..client import REPLY_ON, REPLY_SKIP, ClientState
from .base import AtReadPoint, handler
from .client import NO_REPLY, set_name
from .security import WRONGPASS, authenticate

if TYPE_CHECKING:
    from ..dispatch import Dispatcher


@handler("hello")
def hello(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply | AtReadPoint:
    if any(arg.lower() == b"auth" for arg in argv[2:]):
        # Authenticating: at a read point, as AUTH (the users are replicated state).
        return AtReadPoint(lambda: _hello(d, client, argv))
    return _hello(d, client, argv)


def _hello(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    version = 0
    j = 1
    if len(argv) >= 2:
        parsed = string2ll(argv[1])
        if parsed is None:
            raise CommandError("ERR Protocol version is not an integer or out of range")
        if not 2 <= parsed <= 3:
            raise CommandError("NOPROTO unsupported protocol version")
        version = parsed
        j = 2
    # Redis 7.0 acts on each option as it parses it: a SETNAME before a bad option sticks.
    while j < len(argv):
        more = len(argv) - 1 - j
        option = argv[j].lower()
        if option == b"auth" and more >= 2:
            if not authenticate(d, client, argv[j + 1], argv[j + 2], argv[0]):
                raise WRONGPASS
            j += 2
        elif option == b"setname" and more >= 1:
            set_name(client, argv[j + 1])
            j += 1
        else:
            raise CommandError(b"ERR Syntax error in HELLO option '%s'" % argv[j])
        j += 1
    if not client.authenticated and d.state.users().auth_required():
        raise CommandError(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the"
            " HELLO AUTH <user> <pass> option can be used to authenticate the client and"
            " select the RESP protocol version at the same time"
        )
    if version:
        client.proto = version
    return Map(
        {
            b"server": b"redis",
            b"version": REDIS_VERSION.encode(),
            b"proto": client.proto,
            b"id": client.id,
            b"mode": b"standalone",
            b"role": b"master",
            b"modules": [],
        }
    )


@handler("quit")
def quit_(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    client.closing = True
    return OK


@handler("reset")
def reset(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """Redis's `clearClientConnectionState`. NO-EVICT survives, as in 7.0; NO-TOUCH is
    cleared as 7.2 (where it exists) does; lib-name/lib-ver stay (they name the library)."""
    client.reset_multi()
    d.state.pubsub.forget(client)
    d.state.tracking.disable(client)
    d.state.monitors.remove(client)
    if client.reply_mode != REPLY_SKIP:  # (as Redis: OFF and SKIP's "next" are cleared)
        client.reply_mode = REPLY_ON
    client.note_modes()
    client.db = 0
    client.proto = 2
    client.name = b""
    client.readonly = False
    client.no_touch = False
    users = d.state.users()  # back to the default user, authenticated if it needs no password
    client.user = users.default
    client.authenticated = not users.auth_required()
    return SimpleString(b"RESET")


@handler("readonly")
def readonly(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """Reads on this connection use this node's state as it is, without a read point."""
    client.readonly = True
    return OK


@handler("readwrite")
def readwrite(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    client.readonly = False
    return OK


@handler("monitor", route=Route.LOCAL)
def monitor(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """From now on the client receives the commands this node serves (`server.monitor`)."""
    if client.in_exec:
        raise CommandError("ERR MONITOR isn't allowed for DENY BLOCKING client")
    if client.monitor:
        return NO_REPLY  # (Redis ignores a second MONITOR, with no reply)
    d.state.monitors.add(client)
    return OK
