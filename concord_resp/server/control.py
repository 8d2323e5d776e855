"""Connection-level commands: HELLO, QUIT, RESET, CLIENT, CONFIG, COMMAND, INFO, LASTSAVE.

They act on the connection or the server process rather than on the replicated keyspace, so
they run here and are never logged. Replies and errors are Redis 7's. MULTI/EXEC/WATCH live
in `transactions`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ..commands import CommandError, CommandSpec
from ..commands.errors import SYNTAX, unknown_subcommand
from ..commands.glob import glob_match
from ..metrics.info import render_info
from ..resp import OK, Map, SimpleString, Verbatim, string2ll
from .client import ClientState
from .settings import config_get, config_set

if TYPE_CHECKING:
    from .dispatch import ControlHandler, Dispatcher

REDIS_VERSION: Final = "7.0.15"

CONTROL: dict[str, ControlHandler] = {}


def control(*names: str) -> Callable[[ControlHandler], ControlHandler]:
    def register(handler: ControlHandler) -> ControlHandler:
        for name in names:
            CONTROL[name] = handler
        return handler

    return register


def help_reply(container: str, lines: list[str]) -> list[object]:
    """Redis's `addReplyHelp` layout."""
    out: list[object] = [
        SimpleString(
            f"{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".encode()
        )
    ]
    out.extend(SimpleString(line.encode()) for line in lines)
    out.append(SimpleString(b"HELP"))
    out.append(SimpleString(b"    Prints this help."))
    return out


def _valid_client_attr(value: bytes) -> bool:
    return all(33 <= ch <= 126 for ch in value)


# -- connection --------------------------------------------------------------------------


@control("hello")
def hello(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    version = 0
    j = 1
    if len(argv) >= 2:
        parsed = string2ll(argv[1])
        if parsed is None:
            raise CommandError("ERR Protocol version is not an integer or out of range")
        if parsed < 2 or parsed > 3:
            raise CommandError("NOPROTO unsupported protocol version")
        version = parsed
        j = 2
    name: bytes | None = None
    user: bytes | None = None
    while j < len(argv):
        more = len(argv) - 1 - j
        option = argv[j].lower()
        if option == b"auth" and more >= 2:
            user = argv[j + 1]
            j += 2
        elif option == b"setname" and more >= 1:
            name = argv[j + 1]
            if not _valid_client_attr(name):
                raise CommandError(
                    "ERR Client names cannot contain spaces, newlines or special characters."
                )
            j += 1
        else:
            raise CommandError(b"ERR Syntax error in HELLO option '%s'" % argv[j])
        j += 1
    if user is not None and user != b"default":
        raise CommandError("WRONGPASS invalid username-password pair or user is disabled.")
    if name is not None:
        client.name = name
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


@control("quit")
def quit_(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    client.closing = True
    return OK


@control("reset")
def reset(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    client.reset_multi()
    client.db = 0
    client.proto = 2
    client.name = b""
    client.readonly = False
    client.no_evict = False
    client.no_touch = False
    return SimpleString(b"RESET")


# -- CLIENT ------------------------------------------------------------------------------


@control("client|id")
def client_id(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return client.id


@control("client|setname")
def client_setname(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    if not _valid_client_attr(argv[2]):
        raise CommandError(
            "ERR Client names cannot contain spaces, newlines or special characters."
        )
    client.name = argv[2]
    return OK


@control("client|getname")
def client_getname(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return client.name or None


@control("client|setinfo")
def client_setinfo(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    attr = argv[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        raise CommandError(b"ERR Unrecognized option '%s'" % argv[2])
    if not _valid_client_attr(argv[3]):
        raise CommandError(
            b"ERR %s cannot contain spaces, newlines or special characters." % argv[2]
        )
    if attr == b"lib-name":
        client.lib_name = argv[3]
    else:
        client.lib_ver = argv[3]
    return OK


@control("client|info")
def client_info(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return Verbatim(client.describe() + b"\n")


@control("client|list")
def client_list(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    clients = list(d.state.clients)
    i = 2
    while i < len(argv):
        option = argv[i].lower()
        if option == b"type" and i + 1 < len(argv):
            kind = argv[i + 1].lower()
            if kind not in (b"normal", b"master", b"replica", b"slave", b"pubsub"):
                raise CommandError(b"ERR Unknown client type '%s'" % argv[i + 1])
            if kind != b"normal":
                clients = []
            i += 2
        elif option == b"id" and i + 1 < len(argv):
            ids: set[int] = set()
            i += 1
            while i < len(argv):
                value = string2ll(argv[i])
                if value is None or value <= 0:
                    raise CommandError("ERR Invalid client ID")
                ids.add(value)
                i += 1
            clients = [c for c in clients if c.id in ids]
        else:
            raise CommandError(SYNTAX)
    return Verbatim(b"".join(c.describe() + b"\n" for c in clients))


@control("client|kill")
def client_kill(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    registry = d.state.clients
    if len(argv) == 3:
        # The old form: CLIENT KILL addr:port.
        for other in registry:
            if other.addr.encode() == argv[2]:
                _kill(other)
                return OK
        raise CommandError("ERR No such client")
    if len(argv) % 2 != 0:
        raise CommandError(SYNTAX)
    want_id: int | None = None
    want_addr: bytes | None = None
    want_laddr: bytes | None = None
    want_user: bytes | None = None
    want_normal = True
    skip_me = True
    for i in range(2, len(argv), 2):
        option, value = argv[i].lower(), argv[i + 1]
        if option == b"id":
            parsed = string2ll(value)
            if parsed is None or parsed <= 0:
                raise CommandError("ERR client-id should be greater than 0")
            want_id = parsed
        elif option == b"type":
            kind = value.lower()
            if kind not in (b"normal", b"master", b"replica", b"slave", b"pubsub"):
                raise CommandError(b"ERR Unknown client type '%s'" % value)
            want_normal = kind == b"normal"
        elif option == b"addr":
            want_addr = value
        elif option == b"laddr":
            want_laddr = value
        elif option == b"user":
            want_user = value
            if value != b"default":
                raise CommandError(b"ERR No such user '%s'" % value)
        elif option == b"skipme":
            if value.lower() == b"yes":
                skip_me = True
            elif value.lower() == b"no":
                skip_me = False
            else:
                raise CommandError(SYNTAX)
        else:
            raise CommandError(SYNTAX)
    killed = 0
    for other in registry:
        if not want_normal:
            continue
        if want_id is not None and other.id != want_id:
            continue
        if want_addr is not None and other.addr.encode() != want_addr:
            continue
        if want_laddr is not None and other.laddr.encode() != want_laddr:
            continue
        if want_user is not None and want_user != b"default":
            continue
        if skip_me and other is client:
            continue
        _kill(other)
        killed += 1
    return killed


def _kill(client: ClientState) -> None:
    client.closing = True
    client.killed = True
    if client.cancel is not None:
        client.cancel()


def _on_off(client: ClientState, argv: list[bytes]) -> bool:
    value = argv[2].lower()
    if value == b"on":
        return True
    if value == b"off":
        return False
    raise CommandError(SYNTAX)


@control("client|no-evict")
def client_no_evict(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    client.no_evict = _on_off(client, argv)
    return OK


@control("client|no-touch")
def client_no_touch(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    client.no_touch = _on_off(client, argv)
    return OK


@control("client|help")
def client_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return help_reply(
        "CLIENT",
        [
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
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
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    )


# -- CONFIG ------------------------------------------------------------------------------


@control("config|get")
def config_get_(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return Map(config_get(d.state, argv[2:]))


@control("config|set")
def config_set_(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    if (len(argv) - 2) % 2 != 0:
        raise CommandError(
            b"ERR Unknown option or number of arguments for CONFIG SET - '%s'" % argv[2]
        )
    config_set(d.state, [(argv[i], argv[i + 1]) for i in range(2, len(argv), 2)])
    return OK


@control("config|resetstat")
def config_resetstat(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    state = d.state
    for spec in state.table.all_specs():
        spec.calls = spec.usec = spec.rejected_calls = spec.failed_calls = 0
    state.commands_processed = 0
    state.rejected_calls = 0
    state.net_input_bytes = state.net_output_bytes = 0
    state.clients.total_connections = len(state.clients)
    state.clients.rejected_connections = 0
    stats = state.machine.stats
    stats.expired_keys = stats.keyspace_hits = stats.keyspace_misses = 0
    return OK


@control("config|help")
def config_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return help_reply(
        "CONFIG",
        [
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
        ],
    )


# -- COMMAND -----------------------------------------------------------------------------


@control("command")
def command_all(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    if len(argv) > 1:  # pragma: no cover - containers resolve to a subcommand
        raise unknown_subcommand(argv[1], "command")
    return [spec.info for spec in d.table.specs.values()]


@control("command|count")
def command_count(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return len(d.table)


@control("command|info")
def command_info(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    if len(argv) == 2:
        return [spec.info for spec in d.table.specs.values()]
    return [_find_spec(d, name) for name in argv[2:]]


def _find_spec(d: Dispatcher, name: bytes) -> object:
    spec = _lookup_full_name(d, name)
    return spec.info if spec is not None else None


def _lookup_full_name(d: Dispatcher, name: bytes) -> CommandSpec | None:
    parent, _, sub = name.lower().partition(b"|")
    spec = d.table.get(parent)
    if spec is None or not sub:
        return spec
    return spec.subcommands.get(sub)


@control("command|docs")
def command_docs(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    if len(argv) == 2:
        return Map((spec.name.encode(), spec.docs) for spec in d.table.specs.values())
    docs = Map()
    for name in argv[2:]:
        spec = _lookup_full_name(d, name)
        if spec is not None:
            docs[spec.name.encode()] = spec.docs
    return docs


@control("command|list")
def command_list(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    specs = list(d.table.specs.values())
    if len(argv) == 2:
        return [spec.name.encode() for spec in specs]
    if len(argv) != 5 or argv[2].lower() != b"filterby":
        raise CommandError(SYNTAX)
    kind, value = argv[3].lower(), argv[4]
    names: list[bytes] = []
    for spec in d.table.all_specs():
        if kind == b"module":
            continue
        if kind == b"aclcat":
            if value.lower().decode("latin-1") in (c.lstrip("@") for c in spec.acl_categories):
                names.append(spec.name.encode())
        elif kind == b"pattern":
            if glob_match(value, spec.name.encode(), nocase=True):
                names.append(spec.name.encode())
        else:
            raise CommandError(SYNTAX)
    return names


@control("command|getkeys")
def command_getkeys(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    target = argv[2:]
    spec = d.table.get(target[0])
    if spec is None:
        raise CommandError("ERR Invalid command specified")
    try:
        spec = d.lookup(target)
    except CommandError:
        raise CommandError("ERR Invalid number of arguments specified for command") from None
    positions = spec.key_positions(len(target))
    if not positions:
        raise CommandError("ERR The command has no key arguments")
    return [target[i] for i in positions]


@control("command|help")
def command_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return help_reply(
        "COMMAND",
        [
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    )


# -- INFO, LASTSAVE ------------------------------------------------------------------------


@control("info")
def info(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    sections = [arg.lower().decode("latin-1") for arg in argv[1:]]
    return Verbatim(render_info(d.state, sections))


@control("lastsave")
def lastsave(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return d.state.last_save
