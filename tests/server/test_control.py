"""Connection-level commands in process: what a single-connection scenario cannot show.

CLIENT LIST/KILL across connections, the Redis 7.2 extras (CLIENT SETINFO, NO-TOUCH), RESET's
exact effect, and that CONFIG SET changes what the server does (all or nothing).
"""

from __future__ import annotations

import logging

from concord_resp.server.client import ClientState
from tests.server.conftest import InProcess

OK = b"+OK\r\n"


def lines_of(reply: bytes) -> list[bytes]:
    """The lines of a CLIENT LIST/INFO bulk reply."""
    header, _, body = reply.partition(b"\r\n")
    assert header[:1] == b"$", reply
    return body[: int(header[1:])].splitlines()


def field(line: bytes, name: str) -> str:
    for item in line.split(b" "):
        key, _, value = item.partition(b"=")
        if key == name.encode():
            return value.decode()
    raise AssertionError(f"{name} not in {line!r}")


async def test_client_list_lists_every_client_in_connection_order(node: InProcess) -> None:
    first, second, third = node.client(), node.client(), node.client()
    listed = lines_of(await node.one(second, "CLIENT LIST"))
    assert [int(field(line, "id")) for line in listed] == [first.id, second.id, third.id]
    assert [field(line, "cmd") for line in listed] == ["NULL", "client|list", "NULL"]
    normal = lines_of(await node.one(second, "CLIENT LIST TYPE normal"))
    assert [int(field(line, "id")) for line in normal] == [first.id, second.id, third.id]
    assert await node.one(second, "CLIENT LIST TYPE pubsub") == b"$0\r\n\r\n"


async def test_client_list_id_follows_the_arguments(node: InProcess) -> None:
    first, second = node.client(), node.client()
    reply = await node.one(first, f"CLIENT LIST ID {second.id} 0 -7 {first.id} {second.id} 999")
    ids = [int(field(line, "id")) for line in lines_of(reply)]
    assert ids == [second.id, first.id, second.id]


async def test_client_list_shows_a_transaction_and_a_broken_watch(node: InProcess) -> None:
    watcher, other = node.client(), node.client()
    await node.run(watcher, "SET k v", "WATCH k", "MULTI", "GET k", "PING")
    (line,) = lines_of(await node.one(other, f"CLIENT LIST ID {watcher.id}"))
    assert (field(line, "flags"), field(line, "multi")) == ("x", "2")
    await node.one(other, "SET k changed")
    (line,) = lines_of(await node.one(other, f"CLIENT LIST ID {watcher.id}"))
    assert field(line, "flags") == "xd"


async def test_client_kill_closes_other_connections_at_once(node: InProcess) -> None:
    killer, victim, bystander = node.client(), node.client(), node.client()
    closed: list[int] = []
    victim.cancel = lambda: closed.append(victim.id)
    reply = await node.run(killer, f"CLIENT KILL ID {victim.id}", "CLIENT LIST")
    assert reply[0] == b":1\r\n"
    assert closed == [victim.id]
    assert victim.closing
    assert victim.killed
    listed = [int(field(line, "id")) for line in lines_of(reply[1])]
    assert listed == [killer.id, bystander.id]


async def test_client_kill_filters_and_skipme(node: InProcess) -> None:
    me, other = node.client(), node.client()
    cancelled: list[ClientState] = []
    for client in (me, other):
        client.cancel = lambda client=client: cancelled.append(client)
    assert await node.one(me, "CLIENT KILL ADDR 127.0.0.1:1 SKIPME no") == b":0\r\n"
    assert await node.one(me, f"CLIENT KILL LADDR {me.laddr} USER default ID {me.id}") == (
        b":0\r\n"  # the caller is skipped by default
    )
    assert not cancelled
    # SKIPME no: the caller gets its reply, then its connection closes (and nothing after
    # the KILL in its batch runs).
    replies = await node.run(me, f"CLIENT KILL ID {me.id} SKIPME no", "PING")
    assert replies == [b":1\r\n"]
    assert me.closing
    assert not me.killed
    assert not cancelled
    assert not other.closing


async def test_client_kill_old_form_may_kill_the_caller(node: InProcess) -> None:
    me = node.client()
    assert await node.one(me, f"CLIENT KILL {me.addr}") == OK
    assert me.closing


async def test_client_kill_by_type_normal_kills_all_others(node: InProcess) -> None:
    me, *others = node.client(), node.client(), node.client()
    for client in others:
        client.cancel = lambda: None
    assert await node.one(me, "CLIENT KILL TYPE normal") == b":2\r\n"
    assert all(client.killed for client in others)
    assert list(node.state.clients) == [me]


async def test_client_setinfo_like_redis_7_2(node: InProcess) -> None:
    client = node.client()
    assert await node.one(client, "CLIENT SETINFO LIB-NAME redis-py") == OK
    assert await node.one(client, "CLIENT SETINFO lib-ver 5.0.1") == OK
    (line,) = lines_of(await node.one(client, "CLIENT INFO"))
    assert line.endswith(b" resp=2 lib-name=redis-py lib-ver=5.0.1")
    assert await node.one(client, "CLIENT SETINFO lib-name 'a b'") == (
        b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"
    )
    assert await node.one(client, "CLIENT SETINFO LIB-VER 'x\ny'") == (
        b"-ERR LIB-VER cannot contain spaces, newlines or special characters.\r\n"
    )
    assert await node.one(client, "CLIENT SETINFO lib-other x") == (
        b"-ERR Unrecognized option 'lib-other'\r\n"
    )
    assert await node.one(client, "CLIENT SETINFO lib-name") == (
        b"-ERR wrong number of arguments for 'client|setinfo' command\r\n"
    )
    assert await node.one(client, "CLIENT SETINFO lib-name ''") == OK
    (line,) = lines_of(await node.one(client, "CLIENT INFO"))
    assert line.endswith(b" lib-name= lib-ver=5.0.1")


async def test_reset_keeps_no_evict_and_clears_no_touch(node: InProcess) -> None:
    # NO-EVICT survives RESET in Redis 7.0; NO-TOUCH (7.2) is cleared as 7.2 does.
    client = node.client()
    await node.run(client, "CLIENT NO-EVICT on", "CLIENT NO-TOUCH on", "CLIENT SETINFO lib-name x")
    (line,) = lines_of(await node.one(client, "CLIENT INFO"))
    assert field(line, "flags") == "eT"
    replies = await node.run(client, "HELLO 3", "SELECT 4", "CLIENT SETNAME n", "RESET")
    assert replies[-1] == b"+RESET\r\n"
    (line,) = lines_of(await node.one(client, "CLIENT INFO"))
    assert (field(line, "flags"), field(line, "db"), field(line, "name")) == ("e", "0", "")
    assert (field(line, "resp"), field(line, "lib-name")) == ("2", "x")
    assert await node.one(client, "CLIENT NO-TOUCH maybe") == b"-ERR syntax error\r\n"


async def test_quit_replies_then_closes(node: InProcess) -> None:
    client = node.client()
    assert await node.run(client, "QUIT", "PING") == [OK]
    assert client.closing


async def test_config_set_changes_the_server(node: InProcess) -> None:
    client = node.client()
    state = node.state
    reply = await node.one(
        client,
        "CONFIG SET maxclients 77 hz 50 appendfsync always proto-max-bulk-len 2mb "
        "client-query-buffer-limit 3mb loglevel warning",
    )
    assert reply == OK
    assert state.settings.maxclients == 77
    assert state.node.expiry.interval == 1 / 50
    assert state.node.wal.fsync
    assert state.settings.proto_max_bulk_len == 2 * 1024 * 1024
    assert state.settings.client_query_buffer_limit == 3 * 1024 * 1024
    assert logging.getLogger("concord").level == logging.WARNING
    assert await node.one(client, "CONFIG SET appendfsync no loglevel notice") == OK
    assert not state.node.wal.fsync
    info = await node.one(client, "INFO server")
    assert b"\r\nhz:50\r\nconfigured_hz:50\r\n" in info


async def test_config_set_is_all_or_nothing(node: InProcess) -> None:
    client = node.client()
    reply = await node.one(client, "CONFIG SET maxclients 5 hz 20 loglevel loud")
    assert reply == (
        b"-ERR CONFIG SET failed (possibly related to argument 'loglevel') - argument(s) "
        b"must be one of the following: debug, verbose, notice, warning\r\n"
    )
    assert node.state.settings.maxclients == 10000
    assert node.state.node.expiry.interval == 3600.0  # untouched (the fixture's)


async def test_config_parameters_concord_fixes(node: InProcess) -> None:
    client = node.client()
    assert await node.one(client, "CONFIG SET appendfsync everysec") == (
        b"-ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) "
        b"must be one of the following: always, no\r\n"
    )
    assert await node.one(client, "CONFIG SET save '3600 1'") == (
        b"-ERR CONFIG SET failed (possibly related to argument 'save') - Concord does not "
        b'write RDB snapshots: only "" is accepted\r\n'
    )
    for name in ("appendonly", "port", "bind", "heartbeat-ms"):
        assert await node.one(client, f"CONFIG SET {name} 1") == (
            b"-ERR CONFIG SET failed (possibly related to argument '%s') - can't set "
            b"immutable config\r\n" % name.encode()
        )
    assert await node.one(client, "CONFIG GET appendonly") == (
        b"*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n"
    )
    # Redis's parameters Concord does not honour: Redis's parsing, remembered, shown.
    assert await node.one(client, "CONFIG SET timeout 30") == b"+OK\r\n"
    assert await node.one(client, "CONFIG GET timeout") == b"*2\r\n$7\r\ntimeout\r\n$2\r\n30\r\n"
    assert await node.one(client, "CONFIG SET activedefrag maybe") == (
        b"-ERR CONFIG SET failed (possibly related to argument 'activedefrag') - argument must"
        b" be 'yes' or 'no'\r\n"
    )
    assert await node.one(client, "CONFIG SET daemonize yes") == (
        b"-ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set "
        b"immutable config\r\n"
    )
    directory = str(node.state.config.dir.resolve()).encode()
    assert await node.one(client, "CONFIG GET dir") == (
        b"*2\r\n$3\r\ndir\r\n$%d\r\n%s\r\n" % (len(directory), directory)
    )


async def test_config_resetstat_counts_itself(node: InProcess) -> None:
    client = node.client()
    await node.run(client, "PING", "NOSUCH", "CONFIG RESETSTAT")
    info = await node.one(client, "INFO everything")
    assert b"\r\ntotal_commands_processed:1\r\n" in info
    assert b"\r\ntotal_error_replies:0\r\n" in info
    assert b"\r\ntotal_connections_received:0\r\n" in info
    assert b"# Commandstats\r\ncmdstat_config|resetstat:calls=1," in info
    assert b"# Errorstats\r\n\r\n" in info


async def test_info_numbers_do_not_include_the_info_being_answered(node: InProcess) -> None:
    client = node.client()
    await node.one(client, "CONFIG RESETSTAT")
    info = await node.one(client, "INFO everything")
    assert b"cmdstat_info:" not in info
    assert b"\r\ntotal_commands_processed:1\r\n" in info
    again = await node.one(client, "INFO commandstats")
    assert b"cmdstat_info:calls=1," in again


async def test_client_list_cmd_is_the_last_command_looked_up(node: InProcess) -> None:
    # Redis records the command before checking arity; an unknown one leaves NULL.
    client, observer = node.client(), node.client()
    seen = []
    for line in ("GET x", "NOSUCH", "GET", "CONFIG FOO", "CONFIG", "MULTI", "SET a b"):
        await node.one(client, line)
        (listed,) = lines_of(await node.one(observer, f"CLIENT LIST ID {client.id}"))
        seen.append(field(listed, "cmd"))
    assert seen == ["get", "NULL", "get", "NULL", "config", "multi", "set"]
