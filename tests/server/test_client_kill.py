"""CLIENT KILL over real sockets, on Concord and on Redis: a killed connection really closes.

Dedicated servers (this module kills every normal client), each driven the same way; the
replies and the closing of sockets must be the same on both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from compat.harness import RawClient
from tests.support.processes import ConcordProcess, RedisProcess


@pytest.fixture(scope="module", params=["redis", "concord"])
def port(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    directory: Path = tmp_path_factory.mktemp(f"kill-{request.param}")
    if request.param == "redis":
        redis = RedisProcess(directory).start()
        yield redis.port
        redis.stop()
    else:
        concord = ConcordProcess(directory / "data", "--fsync", "never").start()
        yield concord.port
        concord.stop()


@pytest.fixture
def connect(port: int) -> Iterator[Callable[[], RawClient]]:
    opened: list[RawClient] = []

    def open_client() -> RawClient:
        client = RawClient(port, timeout=5.0)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


def client_id(client: RawClient) -> bytes:
    return client.call([b"CLIENT", b"ID"]).raw[1:-2]


def client_field(client: RawClient, name: bytes) -> bytes:
    line = client.call([b"CLIENT", b"INFO"]).raw.split(b"\r\n")[1]
    return dict(item.split(b"=", 1) for item in line.split(b" "))[name]


def is_closed(client: RawClient) -> bool:
    """True once the server has closed the connection (EOF or reset within the timeout)."""
    try:
        client.sock.settimeout(5.0)
        return client.file.read(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def listed_ids(client: RawClient) -> set[bytes]:
    raw = client.call([b"CLIENT", b"LIST"]).raw
    return {line.split(b" ")[0][3:] for line in raw.split(b"\r\n")[1].split(b"\n") if line}


def test_kill_by_id_closes_the_victim_at_once(connect: Callable[[], RawClient]) -> None:
    killer, victim = connect(), connect()
    victim_id = client_id(victim)
    killer.send([b"CLIENT", b"KILL", b"ID", victim_id])
    killer.send([b"CLIENT", b"LIST"])
    assert killer.read().raw == b":1\r\n"
    listed = killer.read().raw
    assert b"id=%s " % victim_id not in listed  # gone from the list in the same pipeline
    assert is_closed(victim)
    assert killer.call([b"PING"]).raw == b"+PONG\r\n"


def test_kill_old_form_by_address(connect: Callable[[], RawClient]) -> None:
    killer, victim = connect(), connect()
    address = client_field(victim, b"addr")
    assert killer.call([b"CLIENT", b"KILL", address]).raw == b"+OK\r\n"
    assert is_closed(victim)
    assert killer.call([b"CLIENT", b"KILL", address]).raw == b"-ERR No such client\r\n"


def test_kill_self_replies_then_closes(connect: Callable[[], RawClient]) -> None:
    me = connect()
    me.send([b"CLIENT", b"KILL", b"ID", client_id(me), b"SKIPME", b"no"])
    me.send([b"PING"])
    assert me.read().raw == b":1\r\n"
    assert is_closed(me)  # the PING after it is never answered
    again = connect()
    again.send([b"CLIENT", b"KILL", client_field(again, b"addr")])
    assert again.read().raw == b"+OK\r\n"
    assert is_closed(again)


def test_kill_by_type_skips_the_caller(connect: Callable[[], RawClient]) -> None:
    me, first, second = connect(), connect(), connect()
    ids = {client_id(first), client_id(second)}
    assert ids <= listed_ids(me)
    assert me.call([b"CLIENT", b"KILL", b"TYPE", b"normal"]).raw == b":2\r\n"
    assert is_closed(first)
    assert is_closed(second)
    assert listed_ids(me) == {client_id(me)}


def test_kill_a_client_in_the_middle_of_a_transaction(connect: Callable[[], RawClient]) -> None:
    killer, victim = connect(), connect()
    victim.call([b"MULTI"])
    victim.call([b"SET", b"kill-k", b"v"])
    assert killer.call([b"CLIENT", b"KILL", b"ID", client_id_of(killer, victim)]).raw == (b":1\r\n")
    assert is_closed(victim)
    assert killer.call([b"EXISTS", b"kill-k"]).raw == b":0\r\n"


def client_id_of(observer: RawClient, target: RawClient) -> bytes:
    """The id of a client in MULTI (which queues CLIENT ID), read from CLIENT LIST."""
    port = target.sock.getsockname()[1]
    for line in observer.call([b"CLIENT", b"LIST"]).raw.split(b"\n"):
        if b":%d " % port in line:
            return line.split(b" ")[0].split(b"=")[1]
    raise AssertionError("client not listed")
