"""CLIENT and its subcommands: ID, SETNAME, GETNAME, SETINFO, INFO, LIST, KILL, UNBLOCK,
NO-EVICT, NO-TOUCH, PAUSE, UNPAUSE, REPLY, TRACKING, CACHING, GETREDIR, TRACKINGINFO, HELP.

They act on this node's connections, so they run here and are never logged (CLIENT LIST and
KILL see this node's clients only), except UNBLOCK: a blocked client's wait is replicated
state, which only a log entry ends. Replies and errors are Redis 7.0's (SETINFO, NO-TOUCH and
CLIENT LIST's lib-name/lib-ver are 7.2's), checked in the order Redis checks them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ...cluster import Proposal
from ...commands import CommandError, Route
from ...commands.errors import SYNTAX
from ...commands.parse import option_name, parse_int
from ...resp import OK, Map, Raw, Reply, RespSet, Verbatim, string2ll
from ...state import OP_UNBLOCK
from ...state.entries import UNBLOCK_CLIENT_ERROR, UNBLOCK_CLIENT_TIMEOUT
from .. import pause
from ..client import REPLY_OFF, REPLY_ON, REPLY_SKIP_NEXT, ClientState
from .base import HelpText, Submission, handler, help_reply, valid_client_attr

if TYPE_CHECKING:
    from ..dispatch import Dispatcher

NO_REPLY: Final = Raw(b"")  # CLIENT REPLY OFF and SKIP answer nothing
CLIENT_TYPES: Final = (b"normal", b"master", b"replica", b"slave", b"pubsub")
INVALID_NAME: Final = "ERR Client names cannot contain spaces, newlines or special characters."

CLIENT_HELP: Final[HelpText] = [
    (
        "caching",
        [
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
        ],
    ),
    (
        "getredir",
        [
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
        ],
    ),
    ("getname", ["GETNAME", "    Return the name of the current connection."]),
    ("id", ["ID", "    Return the ID of the current connection."]),
    ("info", ["INFO", "    Return information about the current client connection."]),
    (
        "kill",
        [
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
        ],
    ),
    (
        "list",
        [
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
        ],
    ),
    ("unpause", ["UNPAUSE", "    Stop the current client pause, resuming traffic."]),
    (
        "pause",
        [
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
        ],
    ),
    (
        "reply",
        ["REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current connection."],
    ),
    ("setname", ["SETNAME <name>", "    Assign the name <name> to the current connection."]),
    (
        "setinfo",
        [
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
        ],
    ),
    (
        "unblock",
        ["UNBLOCK <clientid> [TIMEOUT|ERROR]", "    Unblock the specified blocked client."],
    ),
    (
        "tracking",
        [
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
        ],
    ),
    (
        "trackinginfo",
        ["TRACKINGINFO", "    Report tracking status for the current connection."],
    ),
    ("no-evict", ["NO-EVICT (ON|OFF)", "    Protect current client connection from eviction."]),
    (
        "no-touch",
        ["NO-TOUCH (ON|OFF)", "    Will not touch LRU/LFU stats when this mode is on."],
    ),
]


@handler("client|id")
def client_id(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return client.id


def set_name(client: ClientState, name: bytes) -> None:
    if not valid_client_attr(name):
        raise CommandError(INVALID_NAME)
    client.name = name


@handler("client|setname")
def client_setname(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    set_name(client, argv[2])
    return OK


@handler("client|getname")
def client_getname(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return client.name or None


@handler("client|setinfo")
def client_setinfo(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    attr = argv[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        raise CommandError(b"ERR Unrecognized option '%s'" % argv[2])
    if not valid_client_attr(argv[3]):
        raise CommandError(
            b"ERR %s cannot contain spaces, newlines or special characters." % argv[2]
        )
    if attr == b"lib-name":
        client.lib_name = argv[3]
    else:
        client.lib_ver = argv[3]
    return OK


def _watch_broken(d: Dispatcher, client: ClientState) -> bool:
    """Whether a key this client watches has changed since (CLIENT LIST's `d` flag)."""
    if not client.watches:
        return False
    now = max(d.now_us(), d.machine.last_time_us) // 1000
    dbs = d.machine.keyspace.dbs
    return any(
        dbs[db].watch_state(key, now) != (version, alive)
        for db, key, version, alive in client.watches.values()
    )


def _describe(d: Dispatcher, clients: Iterable[ClientState]) -> Verbatim:
    return Verbatim(b"".join(c.describe(watch_broken=_watch_broken(d, c)) + b"\n" for c in clients))


@handler("client|info")
def client_info(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return _describe(d, [client])


def _type_of(client: ClientState) -> bytes:
    """Redis's getClientType: `pubsub` in subscribed mode, else `normal` (Concord has no
    replica or master connections)."""
    return b"pubsub" if client.subscribed else b"normal"


def _client_type(name: bytes) -> bytes:
    kind = name.lower()
    if kind not in CLIENT_TYPES:
        raise CommandError(b"ERR Unknown client type '%s'" % name)
    return kind


@handler("client|list", route=Route.LOCAL)
def client_list(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    # Redis: `TYPE t` only as the sole option; `ID id...` lists in argument order.
    if len(argv) == 4 and argv[2].lower() == b"type":
        kind = _client_type(argv[3])
        return _describe(d, [c for c in d.state.clients if _type_of(c) == kind])
    if len(argv) > 3 and argv[2].lower() == b"id":
        listed: list[ClientState] = []
        for arg in argv[3:]:
            wanted = string2ll(arg)
            if wanted is None:
                raise CommandError("ERR Invalid client ID")
            found = d.state.clients.get(wanted)
            if found is not None:
                listed.append(found)
        return _describe(d, listed)
    if len(argv) != 2:
        raise CommandError(SYNTAX)
    return _describe(d, d.state.clients)


@dataclass(slots=True)
class _KillFilter:
    addr: bytes | None = None
    laddr: bytes | None = None
    kind: bytes | None = None
    client_id: int | None = None
    skip_me: bool = True

    def matches(self, other: ClientState, me: ClientState) -> bool:
        if self.addr is not None and other.addr.encode() != self.addr:
            return False
        if self.laddr is not None and other.laddr.encode() != self.laddr:
            return False
        if self.kind is not None and self.kind != _type_of(other):
            return False
        if self.client_id is not None and other.id != self.client_id:
            return False
        return not (self.skip_me and other is me)


def _parse_kill_filter(argv: list[bytes]) -> _KillFilter:
    """The new form's options, checked one by one as Redis does (first problem wins)."""
    spec = _KillFilter()
    i = 2
    while i < len(argv):
        option = argv[i].lower()
        if i + 1 >= len(argv):
            raise CommandError(SYNTAX)
        value = argv[i + 1]
        if option == b"id":
            parsed = string2ll(value)
            if parsed is None or parsed <= 0:
                raise CommandError("ERR client-id should be greater than 0")
            spec.client_id = parsed
        elif option == b"type":
            spec.kind = _client_type(value)
        elif option == b"addr":
            spec.addr = value
        elif option == b"laddr":
            spec.laddr = value
        elif option == b"user":
            # The only user is `default`, and every client is authenticated as it.
            if value != b"default":
                raise CommandError(b"ERR No such user '%s'" % value)
        elif option == b"skipme":
            if value.lower() not in (b"yes", b"no"):
                raise CommandError(SYNTAX)
            spec.skip_me = value.lower() == b"yes"
        else:
            raise CommandError(SYNTAX)
        i += 2
    return spec


@handler("client|unblock", route=Route.LOCAL)
def client_unblock(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply | Submission:
    """End the wait of one of this node's blocked clients, as a timeout or with an error:
    its waiter is replicated state, so the end is a log entry; the reply is 1 if it ended
    a wait."""
    reason = UNBLOCK_CLIENT_TIMEOUT
    if len(argv) == 4:
        option = option_name(argv[3])
        if option == b"error":
            reason = UNBLOCK_CLIENT_ERROR
        elif option != b"timeout":
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    target_id = parse_int(argv[2])
    target = next((c for c in d.state.clients if c.id == target_id), None)
    proposal = target.blocking if target is not None else None
    waiter = d.node.proposals.blocked_waiter(proposal) if proposal is not None else None
    if waiter is None:
        return 0
    unblock = Proposal(OP_UNBLOCK, proposal.db, [waiter], reason=reason)  # type: ignore[union-attr]
    return Submission(unblock, lambda applied: applied.reply)


@handler("client|kill", route=Route.LOCAL)
def client_kill(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    old_form = len(argv) == 3
    # The old form `CLIENT KILL addr:port` may kill the caller itself.
    spec = _KillFilter(addr=argv[2], skip_me=False) if old_form else _parse_kill_filter(argv)
    killed = 0
    for other in d.state.clients:
        if spec.matches(other, client):
            _kill(d, other, client)
            killed += 1
    if old_form:
        if not killed:
            raise CommandError("ERR No such client")
        return OK
    return killed


def _kill(d: Dispatcher, victim: ClientState, killer: ClientState) -> None:
    victim.closing = True
    if victim is killer:
        return  # Redis's CLOSE_AFTER_REPLY: this reply is still sent
    d.state.clients.close_now(victim)


def _on_off(argv: list[bytes]) -> bool:
    value = argv[2].lower()
    if value not in (b"on", b"off"):
        raise CommandError(SYNTAX)
    return value == b"on"


@handler("client|no-evict", route=Route.LOCAL)
def client_no_evict(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    client.no_evict = _on_off(argv)
    return OK


@handler("client|no-touch")
def client_no_touch(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    client.no_touch = _on_off(argv)
    return OK


@handler("client|help")
def client_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return help_reply(d, "client", CLIENT_HELP)


# -- CLIENT PAUSE / UNPAUSE (this node: `server.pause`) -----------------------------------


@handler("client|pause", route=Route.LOCAL)
def client_pause(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    kind = pause.ALL
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode == b"write":
            kind = pause.WRITE
        elif mode != b"all":
            raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    millis = string2ll(argv[2])
    if millis is None:
        raise CommandError("ERR timeout is not an integer or out of range")
    if millis < 0:
        raise CommandError("ERR timeout is negative")
    paused = d.state.pause
    if millis > 0:  # (0: an end already past, as in Redis: no pause)
        paused.pause(paused.clock() + millis / 1000, kind)
    return OK


@handler("client|unpause", route=Route.LOCAL)
def client_unpause(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    d.state.pause.unpause()
    return OK


# -- CLIENT REPLY (the dispatcher applies it: `dispatch.ReplyMode`) ------------------------


@handler("client|reply")
def client_reply(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    value = argv[2].lower()
    reply: Reply = NO_REPLY
    if value == b"on":
        client.reply_mode = REPLY_ON
        reply = OK
    elif value == b"off":
        client.reply_mode = REPLY_OFF
    elif value == b"skip":
        if client.reply_mode != REPLY_OFF:
            client.reply_mode = REPLY_SKIP_NEXT
    else:
        raise CommandError(SYNTAX)
    client.note_modes()
    return reply


# -- CLIENT TRACKING & co (`server.tracking`) ----------------------------------------------


@handler("client|tracking")
def client_tracking(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    redirect = 0
    bcast = optin = optout = noloop = False
    prefixes: list[bytes] = []
    j = 3
    while j < len(argv):
        option = argv[j].lower()
        more = len(argv) - 1 - j
        if option == b"redirect" and more:
            j += 1
            if redirect:
                raise CommandError("ERR A client can only redirect to a single other client")
            parsed = string2ll(argv[j])
            if parsed is None:
                raise CommandError("ERR value is not an integer or out of range")
            if d.state.clients.get(parsed) is None:
                raise CommandError("ERR The client ID you want redirect to does not exist")
            redirect = parsed
        elif option == b"bcast":
            bcast = True
        elif option == b"optin":
            optin = True
        elif option == b"optout":
            optout = True
        elif option == b"noloop":
            noloop = True
        elif option == b"prefix" and more:
            j += 1
            prefixes.append(argv[j])
        else:
            raise CommandError(SYNTAX)
        j += 1
    on_off = argv[2].lower()
    tracking = d.state.tracking
    if on_off == b"on":
        mode = client.tracking
        if not bcast and prefixes:
            raise CommandError("ERR PREFIX option requires BCAST mode to be enabled")
        if mode is not None and mode.bcast != bcast:
            raise CommandError(
                "ERR You can't switch BCAST mode on/off before disabling tracking for this "
                "client, and then re-enabling it with a different mode."
            )
        if bcast and (optin or optout):
            raise CommandError("ERR OPTIN and OPTOUT are not compatible with BCAST")
        if optin and optout:
            raise CommandError("ERR You can't specify both OPTIN mode and OPTOUT mode")
        if mode is not None and ((optin and mode.optout) or (optout and mode.optin)):
            raise CommandError(
                "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this "
                "client, and then re-enabling it with a different mode."
            )
        if bcast:
            tracking.check_prefixes(client, prefixes)
        tracking.enable(client, redirect, bcast, optin, optout, noloop, prefixes)
    elif on_off == b"off":
        tracking.disable(client)
    else:
        raise CommandError(SYNTAX)
    return OK


@handler("client|caching")
def client_caching(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    mode = client.tracking
    if mode is None:
        raise CommandError(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with "
            "OPTIN or OPTOUT mode enabled"
        )
    value = argv[2].lower()
    if value == b"yes":
        if not mode.optin:
            raise CommandError(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."
            )
    elif value == b"no":
        if not mode.optout:
            raise CommandError(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."
            )
    else:
        raise CommandError(SYNTAX)
    mode.caching = True
    return OK


@handler("client|getredir")
def client_getredir(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return client.redirect()


@handler("client|trackinginfo")
def client_trackinginfo(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    mode = client.tracking
    flags: list[bytes] = [b"off"] if mode is None else mode.flags()
    prefixes = [] if mode is None else sorted(mode.prefixes)
    return Map({b"flags": RespSet(flags), b"redirect": client.redirect(), b"prefixes": prefixes})
