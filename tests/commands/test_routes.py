"""Routes: each command declares how it is served, and the table refuses contradictions.

A write that is not proposed to the log would change one node's keyspace without replicating
it; a command flagged `may_replicate`, `admin` or `pubsub` (EVAL, ACL SETUSER, PUBLISH) that
fell back to a default route would run as a local read. Building the table must refuse both,
and the table the server builds must give every command exactly one handler and a route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from concord_resp.commands import (
    PURE,
    CommandSpec,
    CommandTable,
    Registry,
    Route,
    TableError,
    build_table,
)
from concord_resp.server.handlers import CONNECTION


def spec(name: str, *flags: str) -> CommandSpec:
    return CommandSpec(
        name=name,
        arity=-1,
        flags=frozenset(flags),
        first_key=0,
        last_key=0,
        key_step=0,
        acl_categories=(),
        group="test",
        info=[],
        docs={},
        key_specs=(),
        is_write="write" in flags,
        no_multi="no_multi" in flags,
    )


def pure_registry() -> Registry[Callable[..., Any]]:
    return Registry("pure", frozenset({Route.LOG, Route.READ, Route.LOCAL}), implied=Route.READ)


def connection_registry() -> Registry[Callable[..., Any]]:
    routes = frozenset({Route.LOCAL, Route.LOCAL_READ, Route.CLUSTER, Route.LOG})
    return Registry("connection", routes, implied=Route.LOCAL)


def bind(specs: list[CommandSpec], registry: Registry[Any]) -> CommandTable:
    table = CommandTable(specs)
    table.bind(registry)
    return table


def handler(*args: object) -> object:
    return None


async def waiting_handler(*args: object) -> object:
    return None


def test_the_server_table_gives_every_command_one_handler_and_a_route() -> None:
    table = build_table(CONNECTION)
    for command in table.all_specs():
        if not command.runnable:
            continue  # CLIENT, CONFIG, ...: only their subcommands run
        assert (command.handler is None) != (command.local_handler is None), command.name
        assert command.route is not None, command.name
        if command.is_write:
            assert command.route is Route.LOG, command.name
        if command.route is Route.CLUSTER:
            assert command.no_multi, command.name


@pytest.mark.parametrize(
    ("name", "route"),
    [
        ("get", Route.READ),
        ("set", Route.LOG),
        ("flushall", Route.LOG),
        ("ping", Route.LOCAL),
        ("select", Route.LOCAL),
        ("debug", Route.READ),
        ("hello", Route.LOCAL),
        ("config|set", Route.LOCAL),
        ("watch", Route.LOCAL_READ),
        ("exec", Route.LOG),
        ("save", Route.CLUSTER),
        ("raft.nodes", Route.CLUSTER),
        ("raft.node|add", Route.CLUSTER),
    ],
)
def test_declared_routes(name: str, route: Route) -> None:
    command = build_table(CONNECTION).by_name(name.encode())
    assert command is not None
    assert command.route is route


def test_implied_routes_follow_the_write_flag() -> None:
    registry = pure_registry()
    registry("w")(handler)
    registry("r")(handler)
    table = bind([spec("w", "write"), spec("r", "readonly")], registry)
    assert [table.specs[name].route for name in (b"w", b"r")] == [Route.LOG, Route.READ]


def test_a_write_off_the_log_is_refused() -> None:
    registry = pure_registry()
    registry("w", route=Route.READ)(handler)
    with pytest.raises(TableError, match="writes: its route must be the log"):
        bind([spec("w", "write")], registry)


@pytest.mark.parametrize("flag", ["may_replicate", "admin", "pubsub"])
def test_commands_with_effects_must_declare_their_route(flag: str) -> None:
    # EVAL/FCALL (may_replicate), ACL SETUSER (admin), PUBLISH (pubsub): no default route.
    registry = connection_registry()
    registry("x")(handler)
    with pytest.raises(TableError, match="must declare a route"):
        bind([spec("x", flag)], registry)
    declared = connection_registry()
    declared("x", route=Route.LOCAL)(handler)
    assert bind([spec("x", flag)], declared).specs[b"x"].route is Route.LOCAL


def test_a_pure_handler_cannot_take_a_connection_route() -> None:
    with pytest.raises(ValueError, match="cannot take the cluster route"):
        pure_registry()("x", route=Route.CLUSTER)


def test_waiting_is_declared_by_the_route() -> None:
    sync_cluster = connection_registry()
    sync_cluster("x", route=Route.CLUSTER)(handler)
    with pytest.raises(TableError, match="awaits its handler"):
        bind([spec("x", "admin", "no_multi")], sync_cluster)
    async_local = connection_registry()
    async_local("x")(waiting_handler)
    with pytest.raises(TableError, match="cannot await"):
        bind([spec("x")], async_local)
    queued = connection_registry()
    queued("x", route=Route.CLUSTER)(waiting_handler)
    with pytest.raises(TableError, match="must be no_multi"):
        bind([spec("x", "admin")], queued)


def test_unknown_and_doubled_handlers_are_refused() -> None:
    registry = pure_registry()
    registry("nosuch")(handler)
    with pytest.raises(TableError, match="no such command"):
        bind([spec("x")], registry)
    first, second = pure_registry(), connection_registry()
    first("x")(handler)
    second("x")(handler)
    table = bind([spec("x")], first)
    with pytest.raises(TableError, match="two handlers"):
        table.bind(second)
    with pytest.raises(ValueError, match="two pure handlers"):
        first("x")(handler)


def test_an_incomplete_server_table_is_refused() -> None:
    table = CommandTable([spec("x"), spec("y")])
    registry = pure_registry()
    registry("x")(handler)
    table.bind(registry)
    with pytest.raises(TableError, match="without a handler: y"):
        table.check_complete()


def test_pure_registry_is_the_one_the_table_binds() -> None:
    table = build_table()
    command = table.by_name(b"strlen")
    assert command is not None
    assert command.handler is PURE.handler("strlen")


def test_key_specs_are_parsed_once_with_the_table() -> None:
    table = build_table()
    mset = table.by_name(b"mset")
    assert mset is not None
    assert mset.key_specs
    from concord_resp.commands import key_positions

    assert key_positions(mset.key_specs, [b"MSET", b"a", b"1", b"b", b"2"]) == [1, 3]
    lcs = table.by_name(b"lcs")
    assert lcs is not None
    assert key_positions(lcs.key_specs, [b"LCS", b"k1", b"k2", b"LEN"]) == [1, 2]
