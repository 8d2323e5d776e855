"""COMMAND's whole-table replies and the HELP texts, against a real Redis 7.0.

Concord serves a subset of Redis's commands, so a whole-table reply cannot equal Redis's: each
entry Concord gives must equal Redis's entry for that command, byte for byte (containers are
compared field by field, and subcommand by subcommand, since Concord has fewer subcommands).
The Redis 7.2 extras (CLIENT SETINFO, CLIENT NO-TOUCH) and Concord's own RAFT.* commands are
the only entries Redis 7.0 lacks; the latter are checked for their shape only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from compat.harness import RawClient, Reply
from concord_resp.commands.spec_extra import EXTRA_COMMANDS
from tests.support.processes import ConcordProcess, RedisProcess

REDIS_7_2_EXTRAS = {b"client|setinfo", b"client|no-touch"}
CONCORD_COMMANDS = {info[0].encode() for info, _ in EXTRA_COMMANDS}
CONCORD_SUBCOMMANDS = {sub[0].encode() for info, _ in EXTRA_COMMANDS for sub in info[9]}


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def clients(
    request: pytest.FixtureRequest, redis_server: RedisProcess, concord_server: ConcordProcess
) -> Iterator[tuple[RawClient, RawClient]]:
    redis, concord = RawClient(redis_server.port), RawClient(concord_server.port)
    for client in (redis, concord):
        client.call([b"HELLO", str(request.param).encode()])
    yield redis, concord
    redis.close()
    concord.close()


def call(client: RawClient, *args: bytes) -> Reply:
    return client.call(list(args))


def bulk(reply: Reply) -> bytes:
    return reply.raw.split(b"\r\n")[1]


def entries_by_name(reply: Reply) -> dict[bytes, Reply]:
    """COMMAND / COMMAND INFO: each entry by its name (its first element)."""
    return {bulk(entry.children[0]): entry for entry in reply.children}


def assert_same_info(name: bytes, ours: Reply, redis: RawClient) -> None:
    (theirs,) = call(redis, b"COMMAND", b"INFO", name).children
    assert ours.children[:9] == theirs.children[:9], name
    for sub in ours.children[9].children:
        sub_name = bulk(sub.children[0])
        if sub_name not in REDIS_7_2_EXTRAS:
            (their_sub,) = call(redis, b"COMMAND", b"INFO", sub_name).children
            assert sub.raw == their_sub.raw, sub_name


def test_command_entries_are_redis_entries(clients: tuple[RawClient, RawClient]) -> None:
    redis, concord = clients
    table = call(concord, b"COMMAND")
    assert call(concord, b"COMMAND", b"INFO").raw == table.raw
    assert call(concord, b"COMMAND", b"COUNT").raw == b":%d\r\n" % len(table.children)
    for name, entry in entries_by_name(table).items():
        if name in CONCORD_COMMANDS:
            assert len(entry.children) == 10
            for sub in entry.children[9].children:
                assert bulk(sub.children[0]) in CONCORD_SUBCOMMANDS
        else:
            assert_same_info(name, entry, redis)


def test_command_docs_entries_are_redis_entries(clients: tuple[RawClient, RawClient]) -> None:
    redis, concord = clients
    docs = call(concord, b"COMMAND", b"DOCS")
    names = [bulk(key) for key in docs.children[0::2]]
    assert names == list(entries_by_name(call(concord, b"COMMAND")))
    for name, ours in zip(names, docs.children[1::2], strict=True):
        if name in CONCORD_COMMANDS:
            assert list(pairs_of(ours))[:2] == [b"summary", b"since"]
            continue
        theirs = call(redis, b"COMMAND", b"DOCS", name).children[1]
        if b"subcommands" not in ours.raw:
            assert ours.raw == theirs.raw, name
            continue
        pairs = pairs_of(ours)
        their_pairs = pairs_of(theirs)
        assert list(pairs) == list(their_pairs), name
        for key, value in pairs.items():
            if key != b"subcommands":
                assert value.raw == their_pairs[key].raw, (name, key)
        for sub_name, sub_docs in pairs_of(pairs[b"subcommands"]).items():
            if sub_name not in REDIS_7_2_EXTRAS:
                their_sub = call(redis, b"COMMAND", b"DOCS", sub_name).children[1]
                assert sub_docs.raw == their_sub.raw, sub_name


def pairs_of(reply: Reply) -> dict[bytes, Reply]:
    """A map reply (or its RESP2 flat array) by key."""
    keys, values = reply.children[0::2], reply.children[1::2]
    return {bulk(key): value for key, value in zip(keys, values, strict=True)}


def test_command_list_names_every_command_and_subcommand(
    clients: tuple[RawClient, RawClient],
) -> None:
    redis, concord = clients
    listed = [bulk(child) for child in call(concord, b"COMMAND", b"LIST").children]
    expected: list[bytes] = []
    for name, entry in entries_by_name(call(concord, b"COMMAND")).items():
        expected.append(name)
        expected.extend(bulk(sub.children[0]) for sub in entry.children[9].children)
    assert listed == expected
    theirs = {bulk(child) for child in call(redis, b"COMMAND", b"LIST").children}
    assert set(listed) - theirs == REDIS_7_2_EXTRAS | CONCORD_COMMANDS | CONCORD_SUBCOMMANDS
    assert len(CONCORD_COMMANDS) >= 2
    connection = call(concord, b"COMMAND", b"LIST", b"FILTERBY", b"ACLCAT", b"connection")
    assert {bulk(child) for child in connection.children} >= {b"hello", b"client|kill", b"ping"}


def help_blocks(lines: list[bytes]) -> list[tuple[bytes, list[bytes]]]:
    """A HELP reply as (subcommand, its lines) blocks; the header is dropped."""
    blocks: list[tuple[bytes, list[bytes]]] = []
    for line in lines[1:]:
        if line.startswith(b" "):
            blocks[-1][1].append(line)
        else:
            blocks.append((line.split(b" ")[0].lower(), [line]))
    return blocks


@pytest.mark.parametrize("container", [b"CLIENT", b"CONFIG", b"COMMAND"])
def test_help_is_redis_help_for_the_subcommands_served(
    clients: tuple[RawClient, RawClient], container: bytes
) -> None:
    redis, concord = clients
    help_reply = call(concord, container, b"HELP")
    assert {child.kind for child in help_reply.children} == {b"+"}
    ours = [child.raw[1:-2] for child in help_reply.children]
    theirs = [child.raw[1:-2] for child in call(redis, container, b"HELP").children]
    assert ours[0] == theirs[0]
    (entry,) = call(concord, b"COMMAND", b"INFO", container).children
    served = {bulk(sub.children[0]).split(b"|")[1] for sub in entry.children[9].children}
    served |= {b"(no", b"help"}
    expected = [block for block in help_blocks(theirs) if block[0] in served]
    extras = {name.split(b"|")[1] for name in REDIS_7_2_EXTRAS}
    assert [block for block in help_blocks(ours) if block[0] not in extras] == expected
    documented = {name for name, _ in help_blocks(ours)}
    assert served - {b"(no"} <= documented
