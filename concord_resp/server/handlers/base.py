"""What every connection-level handler shares: the registry, the typed results, HELP.

Connection-level commands act on the connection or on this node rather than on the replicated
keyspace (HELLO, CLIENT, CONFIG, COMMAND, INFO, SAVE, RAFT.*, MULTI/EXEC). They register in
`CONNECTION`, the same `Registry` shape as the pure handlers, each with its route. A handler
is `(dispatcher, client, argv) -> result`; a CLUSTER route's handler is a coroutine function,
which the dispatcher awaits (the table checks that when it is built). The result is a reply
value, or one of the typed results below, which tell the dispatcher to do more:

    Submission    a write to propose (EXEC of a transaction that writes); its reply is built
                  once the entry is applied
    AtReadPoint   something to run once a read point is reached (EXEC that only reads)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from ...cluster import Proposal
from ...commands import Registry, Route
from ...commands.help import help_reply as help_lines
from ...resp import Reply

if TYPE_CHECKING:
    from ..client import ClientState
    from ..dispatch import Dispatcher

ConnectionHandler: TypeAlias = Callable[["Dispatcher", "ClientState", list[bytes]], Any]
"""`(dispatcher, client, argv) -> Reply | Submission | AtReadPoint` (awaitable on CLUSTER)."""

CONNECTION: Registry[ConnectionHandler] = Registry(
    "connection",
    frozenset({Route.LOCAL, Route.LOCAL_READ, Route.CLUSTER, Route.LOG}),
    implied=Route.LOCAL,
)
handler = CONNECTION


@dataclass(slots=True)
class Submission:
    """A write for the log. `finish(proposal)` turns the applied entry's reply value into the
    client's reply (it runs in the node's apply loop); `barrier`: the rest of the batch must
    wait for it (it changes the connection: SELECT, HELLO, ...)."""

    proposal: Proposal
    finish: Callable[[Proposal], Reply]
    barrier: bool = False


@dataclass(slots=True)
class AtReadPoint:
    """Run `read` once this node has a read point (a linearizable read), for its reply."""

    read: Callable[[], Reply]


def valid_client_attr(value: bytes) -> bool:
    """Redis refuses anything outside '!'..'~' so CLIENT LIST stays splittable on spaces."""
    return all(33 <= ch <= 126 for ch in value)


# -- HELP ------------------------------------------------------------------------------------

HelpText = list[tuple[str | None, list[str]]]
"""(subcommand it documents, or None for always; its lines), in Redis's order."""


def help_reply(d: Dispatcher, container: str, text: HelpText) -> list[object]:
    """Redis's `addReplyHelp` layout, listing only subcommands the table has."""
    spec = d.table.by_name(container.encode())
    assert spec is not None
    lines: list[str] = []
    for sub, sub_lines in text:
        if sub is None or sub.encode() in spec.subcommands:
            lines.extend(sub_lines)
    return list(help_lines(container, lines))
