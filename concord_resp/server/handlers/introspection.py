"""Introspection: COMMAND (COUNT, INFO, DOCS, LIST, GETKEYS, HELP) and INFO.

COMMAND answers from the command table, which holds Redis 7's own entries, so COMMAND INFO
and DOCS are byte for byte Redis's for the commands Concord serves; GETKEYS evaluates the key
specs (`commands.keyspecs`). INFO renders this node's state and counters (`server.info`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final

from ...commands import CommandError, CommandSpec, key_positions
from ...commands.errors import SYNTAX
from ...commands.glob import glob_match
from ...resp import MapPairs, Reply, Verbatim
from ..client import ClientState
from ..info import render_info
from .base import HelpText, handler, help_reply

if TYPE_CHECKING:
    from ..dispatch import Dispatcher

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


@handler("command")
def command_all(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return [spec.info for spec in d.table.commands()]


@handler("command|count")
def command_count(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return len(d.table)


@handler("command|info")
def command_info(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    if len(argv) == 2:
        return [spec.info for spec in d.table.commands()]
    found = (d.table.by_name(name) for name in argv[2:])
    return [spec.info if spec is not None else None for spec in found]


@handler("command|docs")
def command_docs(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    if len(argv) == 2:
        specs: Iterable[CommandSpec] = d.table.commands()
    else:
        # A name asked twice is answered twice, as Redis does (so this is not a dict).
        specs = [s for s in (d.table.by_name(name) for name in argv[2:]) if s is not None]
    return MapPairs((s.name.encode(), s.docs) for s in specs)


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


@handler("command|list")
def command_list(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    specs = d.table.all_specs()  # subcommands too (`config|get`), after their container
    if len(argv) == 2:
        return [spec.name.encode() for spec in specs]
    # Redis accepts one `FILTERBY <kind> <value>` and nothing else.
    if len(argv) != 5 or argv[2].lower() != b"filterby":
        raise CommandError(SYNTAX)
    keep = _list_filter(argv[3].lower(), argv[4])
    return [spec.name.encode() for spec in specs if keep(spec)]


@handler("command|getkeys")
def command_getkeys(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """The keys of a full command, found from its key specs (Redis's getKeysUsingKeySpecs)."""
    target = argv[2:]
    spec = d.table.find(target)
    if spec is None:
        raise CommandError("ERR Invalid command specified")
    if not any(ks.is_key for ks in spec.key_specs):
        raise CommandError("ERR The command has no key arguments")
    if not spec.arity_ok(len(target)):
        raise CommandError("ERR Invalid number of arguments specified for command")
    positions = key_positions(spec.key_specs, target)
    if not positions:
        if "no_mandatory_keys" in spec.flags:
            return []
        raise CommandError("ERR Invalid arguments specified for command")
    return [target[i] for i in positions]


@handler("command|help")
def command_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return help_reply(d, "command", COMMAND_HELP)


@handler("info")
def info(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    # Counted once it has run, like every command: its own numbers do not include it.
    return Verbatim(render_info(d.state, argv[1:]))
