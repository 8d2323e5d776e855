"""CONFIG GET / SET / RESETSTAT / REWRITE / HELP over this node's parameters (see `server.settings`).

Configuration is per node, as in Redis: CONFIG SET changes the node it is sent to, except
for the encoding thresholds, which are replicated: a CONFIG SET naming one of them is a log
entry (its node's parameters are set once that entry is applied, so the command stays all
or nothing). RESETSTAT clears this node's counters (`metrics`). REWRITE writes this node's
config file (`--config`) with its current values.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from ...cluster import Proposal
from ...commands import CommandError, Route
from ...commands.errors import SYNTAX
from ...resp import OK, Map, Reply
from ...state import OP_CONFIGURE
from ..client import ClientState
from ..settings import config_get, config_set, rewrite_config_file
from .base import AtReadPoint, HelpText, Submission, handler, help_reply

if TYPE_CHECKING:
    from ..dispatch import Dispatcher

log = logging.getLogger("concord.server")

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
def config_get_(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply | AtReadPoint:
    found = config_get(d.state, argv[2:])

    def read() -> Reply:
        return Map((shown, parameter.get(d.state).encode()) for shown, parameter in found)

    # A replicated parameter is read like data: at a read point (linearizable).
    if any(parameter.replicated for _, parameter in found):
        return AtReadPoint(read)
    return read()


@handler("config|set", route=Route.LOCAL)
def config_set_(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply | Submission:
    if len(argv) % 2 != 0:
        raise CommandError(SYNTAX)
    change = config_set(d.state, [(argv[i], argv[i + 1]) for i in range(2, len(argv), 2)])
    if not change.replicated:
        change.apply_local(d.state)
        return OK

    def finish(proposal: Proposal) -> Reply:
        if proposal.reply is OK:
            change.apply_local(d.state)
        return proposal.reply

    return Submission(Proposal(OP_CONFIGURE, client.db, change.replicated), finish)


@handler("config|resetstat", route=Route.LOCAL)
def config_resetstat(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    state = d.state
    state.metrics.reset()  # this RESETSTAT is then counted as the first call after it
    stats = state.machine.stats
    stats.keyspace_hits = stats.keyspace_misses = 0
    state.machine.keyspace.reset_expired_deletions()
    return OK


@handler("config|rewrite", route=Route.LOCAL)
def config_rewrite(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    path = d.state.config.config_file
    if not path:
        raise CommandError(b"ERR The server is running without a config file")
    try:
        rewrite_config_file(d.state, path)
    except OSError as error:
        log.warning("CONFIG REWRITE failed: %s", error.strerror)
        raise CommandError(
            b"ERR Rewriting config file: %s" % str(error.strerror).encode()
        ) from None
    log.info("CONFIG REWRITE executed with success.")
    return OK


@handler("config|help")
def config_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return help_reply(d, "config", CONFIG_HELP)
