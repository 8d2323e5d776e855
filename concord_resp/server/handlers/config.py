"""CONFIG GET / SET / RESETSTAT / HELP over this node's parameters (see `server.settings`).

Configuration is per node, as in Redis: CONFIG SET changes the node it is sent to and is
never logged. RESETSTAT clears this node's counters (`metrics`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ...commands import CommandError, Route
from ...commands.errors import SYNTAX
from ...resp import OK, Map, Reply
from ..client import ClientState
from ..settings import config_get, config_set
from .base import HelpText, handler, help_reply

if TYPE_CHECKING:
    from ..dispatch import Dispatcher

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


@handler("config|get", route=Route.LOCAL)
def config_get_(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return Map(config_get(d.state, argv[2:]))


@handler("config|set", route=Route.LOCAL)
def config_set_(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    if len(argv) % 2 != 0:
        raise CommandError(SYNTAX)
    config_set(d.state, [(argv[i], argv[i + 1]) for i in range(2, len(argv), 2)])
    return OK


@handler("config|resetstat", route=Route.LOCAL)
def config_resetstat(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    state = d.state
    state.metrics.reset()  # this RESETSTAT is then counted as the first call after it
    stats = state.machine.stats
    stats.keyspace_hits = stats.keyspace_misses = 0
    state.machine.keyspace.reset_expired_deletions()
    return OK


@handler("config|help")
def config_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return help_reply(d, "config", CONFIG_HELP)
