"""Handler registries: each command's handler and its declared route, in one shape.

A command is served along one `Route`, declared where its handler is registered:

    LOG         proposed to the Raft log, answered once applied (every `write` command)
    READ        a linearizable read: a read point (ReadIndex), then the handler on the state
    LOCAL       this connection or this node only, no read point (PING, HELLO, CLIENT, CONFIG)
    LOCAL_READ  connection-level, but it reads the replicated state: needs a read point (WATCH)
    CLUSTER     a request to the cluster or this node that waits for it (RAFT.*, SAVE)

Pure handlers `(ctx, argv) -> reply` over the keyspace register in `commands.PURE`; the
server layer registers its connection-level handlers in a registry of the same shape. Where a
handler declares no route, Redis's flags imply it (`write`: LOG; otherwise READ for a pure
handler, LOCAL for a connection one), except for commands whose flags say they may have
effects beyond their reply (`may_replicate`, `admin`, `pubsub`): those must declare one.
`CommandTable.bind` checks every route against the flags when the table is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar


class Route(Enum):
    LOG = "log"
    READ = "read"
    LOCAL = "local"
    LOCAL_READ = "local-read"
    CLUSTER = "cluster"


# How the dispatcher serves a command: its route and handler kind, decided once when the
# table is built (`CommandSpec.serve`), so the hot path tests one small integer.
SERVE_WRITE = 0  # a pure handler on the LOG route
SERVE_READ = 1  # a pure handler on the READ route
SERVE_NOW = 2  # a pure handler on the LOCAL route
SERVE_CONNECTION = 3  # a connection-level handler, whatever its route
SERVE_READ_OR_BLOCK = 4  # a READ that blocks (XREAD): with BLOCK, a write that may wait

# Flags that say a command may do more than answer: its route must be declared, not implied.
UNDECLARED_FORBIDDEN = frozenset({"may_replicate", "admin", "pubsub"})

H = TypeVar("H", bound=Callable[..., object])


@dataclass(frozen=True, slots=True)
class Registration(Generic[H]):
    name: str  # full command name: `get`, `object|encoding`
    handler: H
    route: Route | None  # None: implied by the command's flags


class Registry(Generic[H]):
    """Handlers by full command name, each with its declared route (or None)."""

    def __init__(self, layer: str, routes: frozenset[Route], *, implied: Route) -> None:
        self.layer = layer  # "pure" or "connection": the kind of handler it holds
        self.routes = routes  # the routes handlers of this kind may take
        self.implied = implied  # the route of a handler of a command that does not write
        self.entries: dict[str, Registration[H]] = {}

    def __call__(self, *names: str, route: Route | None = None) -> Callable[[H], H]:
        """Register a handler for one or more command names, with its route."""
        if route is not None and route not in self.routes:
            raise ValueError(f"a {self.layer} handler cannot take the {route.value} route")

        def register(handler: H) -> H:
            for name in names:
                if name in self.entries:
                    raise ValueError(f"two {self.layer} handlers for {name}")
                self.entries[name] = Registration(name, handler, route)
            return handler

        return register

    def handler(self, name: str) -> H | None:
        entry = self.entries.get(name)
        return entry.handler if entry is not None else None
