"""Connection-level commands: HELLO, QUIT, RESET, CLIENT, CONFIG, COMMAND, INFO, LASTSAVE.

They act on the connection or the server process rather than on the replicated keyspace, so
they run here and are never logged. Replies and errors are Redis 7.0's, checked in the order
Redis checks them (CLIENT SETINFO / NO-TOUCH and CLIENT LIST's lib-name/lib-ver are 7.2's).

HELP texts are Redis's, restricted to the subcommands this server's command table has, so a
client reading them is never told about a subcommand that would be refused. MULTI/EXEC/WATCH
live in `transactions`; CONFIG parameters in `settings`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from .. import REDIS_VERSION
from ..cluster import ClusterError
from ..commands import CommandError, CommandSpec
from ..commands.errors import SYNTAX
from ..commands.glob import glob_match
from ..commands.help import help_reply as help_lines
from ..metrics.info import render_info
from ..resp import OK, ErrorReply, Map, SimpleString, Verbatim, encode_reply, string2ll
from .client import ClientState
from .dispatch import ControlHandler, Dispatcher, Encoded
from .settings import config_get, config_set

CLIENT_TYPES: Final = (b"normal", b"master", b"replica", b"slave", b"pubsub")
INVALID_NAME: Final = "ERR Client names cannot contain spaces, newlines or special characters."

CONTROL: dict[str, ControlHandler] = {}


def control(*names: str) -> Callable[[ControlHandler], ControlHandler]:
    def register(handler: ControlHandler) -> ControlHandler:
        for name in names:
            if name in CONTROL:
                raise ValueError(f"two connection handlers for {name}")
            CONTROL[name] = handler
        return handler

    return register


# -- HELP ------------------------------------------------------------------------------------

HelpText = list[tuple[str | None, list[str]]]
"""(subcommand it documents, or None for always; its lines), in Redis's order."""

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

CONFIG_HELP: Final[HelpText] = [
    (
        "get",
        [
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
        ],
    ),
    ("set", ["SET <directive> <value>", "    Set the configuration <directive> to <value>."]),
    ("resetstat", ["RESETSTAT", "    Reset statistics reported by the INFO command."]),
    ("rewrite", ["REWRITE", "    Rewrite the configuration file."]),
]

COMMAND_HELP: Final[HelpText] = [
    (None, ["(no subcommand)", "    Return details about all Redis commands."]),
    ("count", ["COUNT", "    Return the total number of commands in this Redis server."]),
    ("list", ["LIST", "    Return a list of all commands in this Redis server."]),
    (
        "info",
        [
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
        ],
    ),
    (
        "docs",
        [
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
        ],
    ),
    ("getkeys", ["GETKEYS <full-command>", "    Return the keys from a full Redis command."]),
    (
        "getkeysandflags",
        [
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    ),
]


def help_reply(d: Dispatcher, container: str, text: HelpText) -> list[object]:
    """Redis's `addReplyHelp` layout, listing only subcommands the table has."""
    spec = d.table.get(container.encode())
    assert spec is not None
    lines: list[str] = []
    for sub, sub_lines in text:
        if sub is None or sub.encode() in spec.subcommands:
            lines.extend(sub_lines)
    return list(help_lines(container, lines))


# -- connection ------------------------------------------------------------------------------


def _valid_client_attr(value: bytes) -> bool:
    """Redis refuses anything outside '!'..'~' so CLIENT LIST stays splittable on spaces."""
    return all(33 <= ch <= 126 for ch in value)


@control("hello")
def hello(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
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
            if argv[j + 1] != b"default":  # the only user; it takes any password
                raise CommandError("WRONGPASS invalid username-password pair or user is disabled.")
            j += 2
        elif option == b"setname" and more >= 1:
            _set_name(client, argv[j + 1])
            j += 1
        else:
            raise CommandError(b"ERR Syntax error in HELLO option '%s'" % argv[j])
        j += 1
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
    """Redis's `clearClientConnectionState`. NO-EVICT survives, as in 7.0; NO-TOUCH is
    cleared as 7.2 (where it exists) does; lib-name/lib-ver stay (they name the library)."""
    client.reset_multi()
    client.db = 0
    client.proto = 2
    client.name = b""
    client.readonly = False
    client.no_touch = False
    return SimpleString(b"RESET")


# -- CLIENT ----------------------------------------------------------------------------------


@control("client|id")
def client_id(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return client.id


def _set_name(client: ClientState, name: bytes) -> None:
    if not _valid_client_attr(name):
        raise CommandError(INVALID_NAME)
    client.name = name


@control("client|setname")
def client_setname(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    _set_name(client, argv[2])
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


@control("client|info")
def client_info(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return _describe(d, [client])


def _client_type(name: bytes) -> bytes:
    kind = name.lower()
    if kind not in CLIENT_TYPES:
        raise CommandError(b"ERR Unknown client type '%s'" % name)
    return kind


@control("client|list")
def client_list(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    # Redis: `TYPE t` only as the sole option; `ID id...` lists in argument order.
    if len(argv) == 4 and argv[2].lower() == b"type":
        kind = _client_type(argv[3])
        # Every Concord client is a normal one (no replicas, no pub/sub yet).
        return _describe(d, d.state.clients if kind == b"normal" else [])
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
        if self.kind is not None and self.kind != b"normal":
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


@control("client|kill")
def client_kill(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
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
    # Like Redis's freeClient: gone at once (from CLIENT LIST too), pending replies dropped.
    victim.killed = True
    d.state.clients.remove(victim)
    if victim.cancel is not None:
        victim.cancel()


def _on_off(argv: list[bytes]) -> bool:
    value = argv[2].lower()
    if value not in (b"on", b"off"):
        raise CommandError(SYNTAX)
    return value == b"on"


@control("client|no-evict")
def client_no_evict(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    client.no_evict = _on_off(argv)
    return OK


@control("client|no-touch")
def client_no_touch(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    client.no_touch = _on_off(argv)
    return OK


@control("client|help")
def client_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return help_reply(d, "client", CLIENT_HELP)


# -- CONFIG ----------------------------------------------------------------------------------


@control("config|get")
def config_get_(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return Map(config_get(d.state, argv[2:]))


@control("config|set")
def config_set_(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    if len(argv) % 2 != 0:
        raise CommandError(SYNTAX)
    config_set(d.state, [(argv[i], argv[i + 1]) for i in range(2, len(argv), 2)])
    return OK


@control("config|resetstat")
def config_resetstat(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    state = d.state
    for spec in state.table.all_specs():
        spec.calls = spec.usec = spec.rejected_calls = spec.failed_calls = 0
    # Redis counts a command once it has run: this RESETSTAT is the first call after the reset.
    resetstat = d.table.get(b"config")
    assert resetstat is not None
    resetstat.subcommands[b"resetstat"].calls = 1
    state.commands_processed = 1
    state.errors.reset()
    state.net_input_bytes = state.net_output_bytes = 0
    state.clients.total_connections = 0
    state.clients.rejected_connections = 0
    stats = state.machine.stats
    stats.keyspace_hits = stats.keyspace_misses = 0
    state.machine.keyspace.reset_expired_deletions()
    return OK


@control("config|help")
def config_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return help_reply(d, "config", CONFIG_HELP)


# -- COMMAND ---------------------------------------------------------------------------------


@control("command")
def command_all(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return [spec.info for spec in d.table.specs.values()]


@control("command|count")
def command_count(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return len(d.table)


def _lookup_full_name(d: Dispatcher, name: bytes) -> CommandSpec | None:
    """Redis's `lookupCommandBySds`: `name` or `container|sub`, case-insensitive, strict."""
    parts = name.split(b"|")
    if len(parts) > 2:
        return None
    spec = d.table.get(parts[0])
    if spec is None or len(parts) == 1:
        return spec
    return spec.subcommands.get(parts[1].lower())


@control("command|info")
def command_info(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    if len(argv) == 2:
        return [spec.info for spec in d.table.specs.values()]
    found = (_lookup_full_name(d, name) for name in argv[2:])
    return [spec.info if spec is not None else None for spec in found]


@control("command|docs")
def command_docs(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    if len(argv) == 2:
        specs: Iterable[CommandSpec] = d.table.specs.values()
    else:
        # A name asked twice is answered twice, as Redis does (so this is not a dict).
        specs = [s for s in (_lookup_full_name(d, name) for name in argv[2:]) if s is not None]
    return Encoded(_encode_map_pairs([(s.name.encode(), s.docs) for s in specs], client.proto))


def _encode_map_pairs(pairs: list[tuple[bytes, object]], proto: int) -> bytes:
    header = b"%%%d\r\n" % len(pairs) if proto == 3 else b"*%d\r\n" % (2 * len(pairs))
    return header + b"".join(
        encode_reply(key, proto) + encode_reply(value, proto) for key, value in pairs
    )


def _list_filter(kind: bytes, value: bytes) -> Callable[[CommandSpec], bool]:
    """COMMAND LIST's FILTERBY: which commands a filter keeps."""
    if kind == b"module":
        return lambda spec: False  # no modules
    if kind == b"aclcat":
        category = "@" + value.decode("latin-1").lower()
        return lambda spec: category in spec.acl_categories
    if kind == b"pattern":
        return lambda spec: glob_match(value, spec.name.encode(), nocase=True)
    raise CommandError(SYNTAX)


@control("command|list")
def command_list(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    specs = d.table.all_specs()  # subcommands too (`config|get`), after their container
    if len(argv) == 2:
        return [spec.name.encode() for spec in specs]
    # Redis accepts one `FILTERBY <kind> <value>` and nothing else.
    if len(argv) != 5 or argv[2].lower() != b"filterby":
        raise CommandError(SYNTAX)
    keep = _list_filter(argv[3].lower(), argv[4])
    return [spec.name.encode() for spec in specs if keep(spec)]


# -- COMMAND GETKEYS: keys found from the key specs, as Redis's getKeysUsingKeySpecs ---------


@dataclass(frozen=True, slots=True)
class KeySpec:
    flags: frozenset[bytes]
    begin: bytes  # b"index", b"keyword", or anything else (unknown: invalid)
    index: int = 0
    keyword: bytes = b""
    startfrom: int = 0
    find: bytes = b"range"  # b"range", b"keynum", or unknown
    lastkey: int = 0
    keystep: int = 1
    limit: int = 0
    keynumidx: int = 0
    firstkey: int = 0


_KEY_SPECS: dict[str, tuple[KeySpec, ...]] = {}


def key_specs(spec: CommandSpec) -> tuple[KeySpec, ...]:
    """The key specs of a command, read (once) from its COMMAND INFO entry."""
    cached = _KEY_SPECS.get(spec.name)
    if cached is None:
        assert isinstance(spec.info, list)
        cached = _KEY_SPECS[spec.name] = tuple(_key_spec(entry) for entry in spec.info[8])
    return cached


def _key_spec(entry: object) -> KeySpec:
    assert isinstance(entry, dict)
    begin, find = entry[b"begin_search"], entry[b"find_keys"]
    bs, fk = begin.get(b"spec", {}), find.get(b"spec", {})
    return KeySpec(
        flags=frozenset(bytes(flag) for flag in entry[b"flags"]),
        begin=bytes(begin[b"type"]),
        index=bs.get(b"index", 0),
        keyword=bs.get(b"keyword", b""),
        startfrom=bs.get(b"startfrom", 0),
        find=bytes(find[b"type"]),
        lastkey=fk.get(b"lastkey", 0),
        keystep=fk.get(b"keystep", 1),
        limit=fk.get(b"limit", 0),
        keynumidx=fk.get(b"keynumidx", 0),
        firstkey=fk.get(b"firstkey", 0),
    )


def _first_key(ks: KeySpec, argv: list[bytes]) -> int | None:
    """Where a spec's keys start; None if its keyword is absent; -1 if the spec is invalid."""
    argc = len(argv)
    if ks.begin == b"index":
        return ks.index
    if ks.begin != b"keyword":
        return -1
    start = ks.startfrom if ks.startfrom > 0 else argc + ks.startfrom
    end = argc - 1 if ks.startfrom > 0 else 1
    step = 1 if start <= end else -1
    i = start
    while i != end:
        if i >= argc or i < 1:
            break
        if argv[i].lower() == ks.keyword.lower():
            return i + 1
        i += step
    return None


def _spec_keys(ks: KeySpec, argv: list[bytes]) -> list[int] | None:
    """The key positions one spec yields, or None if it is invalid for this argv."""
    argc = len(argv)
    first = _first_key(ks, argv)
    if first is None:
        return []
    if first < 0:
        return None
    if ks.find == b"range":
        step = ks.keystep
        if ks.lastkey >= 0:
            last = first + ks.lastkey
        elif not ks.limit:
            last = argc + ks.lastkey
        else:
            last = first + ((argc - first) // ks.limit + ks.lastkey)
    elif ks.find == b"keynum":
        step = ks.keystep
        if ks.keynumidx >= argc or first + ks.keynumidx >= argc:
            return None
        count = string2ll(argv[first + ks.keynumidx])
        if count is None or count < 0:
            return None
        first += ks.firstkey
        last = first + count - 1
    else:
        return None
    if last >= argc or last < first or first >= argc:
        return None
    return list(range(first, last + 1, max(step, 1)))


def command_keys(spec: CommandSpec, argv: list[bytes]) -> list[int] | None:
    """Key positions in `argv` per the spec's key specs; None if a spec does not fit.

    Redis falls back to a command's own key-finding function when a spec is incomplete;
    Concord has none, so incomplete specs contribute the keys they do find.
    """
    positions: list[int] = []
    for ks in key_specs(spec):
        if b"not_key" in ks.flags:
            continue
        found = _spec_keys(ks, argv)
        if found is None:
            if b"incomplete" in ks.flags:
                continue
            return None
        positions.extend(found)
    return positions


@control("command|getkeys")
def command_getkeys(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    target = argv[2:]
    # Redis's lookupCommand: a container named alone is the container itself.
    spec = d.table.get(target[0])
    if spec is not None and spec.is_container and len(target) >= 2:
        spec = spec.subcommands.get(target[1].lower())
    if spec is None:
        raise CommandError("ERR Invalid command specified")
    if not any(b"not_key" not in ks.flags for ks in key_specs(spec)):
        raise CommandError("ERR The command has no key arguments")
    if not spec.arity_ok(len(target)):
        raise CommandError("ERR Invalid number of arguments specified for command")
    positions = command_keys(spec, target)
    if not positions:
        if "no_mandatory_keys" in spec.flags:
            return []
        raise CommandError("ERR Invalid arguments specified for command")
    return [target[i] for i in positions]


@control("command|help")
def command_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    return help_reply(d, "command", COMMAND_HELP)


# -- INFO, LASTSAVE --------------------------------------------------------------------------


@control("info")
def info(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    # Redis counts a command once it has run, so INFO's numbers do not include this INFO.
    state = d.state
    spec = d.table.get(b"info")
    assert spec is not None
    spec.calls -= 1
    state.commands_processed -= 1
    try:
        return Verbatim(render_info(state, argv[1:]))
    finally:
        spec.calls += 1
        state.commands_processed += 1


@control("readonly")
def readonly(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    """Reads on this connection use this node's state as it is, without a read point."""
    client.readonly = True
    return OK


@control("readwrite")
def readwrite(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    client.readonly = False
    return OK


IN_PROGRESS: Final = "ERR Background save already in progress"


@control("bgsave")
def bgsave(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    # SCHEDULE only matters in Redis when another kind of child runs; Concord has none.
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() != b"schedule"):
        raise CommandError(SYNTAX)
    node = d.state.node
    if node.snapshotting:
        raise CommandError(IN_PROGRESS)
    node.start_snapshot()
    # Redis schedules a BGSAVE run by EXEC (`server.in_exec`); Concord starts it at once.
    return SimpleString(
        b"Background saving scheduled" if client.in_exec else b"Background saving started"
    )


@control("save")
def save(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    node = d.state.node
    if node.snapshotting:
        raise CommandError(IN_PROGRESS)

    async def wait() -> object:
        # Only this client waits (Redis's SAVE blocks every client; Concord's child does not).
        return OK if await node.snapshot_now() else ErrorReply(b"ERR")

    return wait()


@control("lastsave")
def lastsave(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    # The last snapshot written (or restored) by this node, else the start-up time.
    return int(d.state.node.snapshot_time) or d.state.last_save


# -- the cluster (Concord's own commands) ---------------------------------------------------

NODE_FIELDS: Final = (
    "name",
    "address",
    "role",
    "voter",
    "match",
    "lag",
    "last_contact_ms",
    "reachable",
)


@control("raft.nodes")
def raft_nodes(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    """One entry per member, as the leader sees it (a follower asks the leader)."""
    node = d.state.node

    async def ask() -> object:
        try:
            rows = await node.leader_request(["nodes"])
        except ClusterError as error:
            return ErrorReply(error.message)
        return [_node_entry(row, client.proto) for row in rows]

    return ask()


def _node_entry(row: dict[str, object], proto: int) -> object:
    pairs = []
    for field in NODE_FIELDS:
        value = row.get(field)
        pairs.append((field.encode(), value if isinstance(value, int) else str(value).encode()))
    if proto >= 3:
        return Map(pairs)
    return [item for pair in pairs for item in pair]


@control("raft.transfer_leader")
def raft_transfer_leader(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    """RAFT.TRANSFER_LEADER [name]: hand leadership to `name`, or to the most up-to-date
    voter; +OK once it leads."""
    if len(argv) > 2:
        raise CommandError(SYNTAX)
    target = argv[1].decode(errors="replace") if len(argv) == 2 else None
    node = d.state.node

    async def transfer() -> object:
        try:
            await node.leader_request(["transfer", target])
        except ClusterError as error:
            return ErrorReply(error.message)
        return OK

    return transfer()


@control("raft.node|add")
def raft_node_add(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    """RAFT.NODE ADD name host:port@cluster-port: +OK once the node is a learner (it is
    promoted to voter when it has caught up); +OK too if it is already a member there."""
    return _membership(
        d, ["add", argv[2].decode(errors="replace"), argv[3].decode(errors="replace")]
    )


@control("raft.node|remove")
def raft_node_remove(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    """RAFT.NODE REMOVE name [FORCE]."""
    if len(argv) > 4 or (len(argv) == 4 and argv[3].upper() != b"FORCE"):
        raise CommandError(SYNTAX)
    return _membership(d, ["remove", argv[2].decode(errors="replace"), len(argv) == 4])


def _membership(d: Dispatcher, request: list[object]) -> object:
    node = d.state.node

    async def change() -> object:
        try:
            await node.leader_request(request)
        except ClusterError as error:
            return ErrorReply(error.message)
        return OK

    return change()
