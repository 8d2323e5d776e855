"""Values moved between a real Redis 7.0 and Concord with DUMP and RESTORE, both ways.

For every type and encoding, the same commands build the value on both servers (under the
same thresholds); then Redis's DUMP is RESTOREd into Concord and Concord's into Redis, and the
restored values are compared with the originals (content, DEBUG DIGEST-VALUE, OBJECT
ENCODING). Where Redis's bytes follow from the data (strings, listpacks, intsets, lists built
by RPUSH, skiplists) the two DUMPs must be identical; a hashtable is written in each server's
own order. Payloads in the encodings older Redis versions wrote must restore alike too.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis

from tests.support.processes import ConcordProcess, RedisProcess
from tests.support.rdb_legacy import length, payload, string, ziplist, zipmap

DB = 12  # the servers are shared with other tests: this module owns database 12

THRESHOLDS = {
    "hash-max-listpack-entries": "512",
    "hash-max-listpack-value": "64",
    "set-max-intset-entries": "512",
    "zset-max-listpack-entries": "128",
    "zset-max-listpack-value": "64",
    "list-max-listpack-size": "-2",
    "list-compress-depth": "0",
    "stream-node-max-entries": "100",
    "stream-node-max-bytes": "4096",
}


@dataclass
class Case:
    name: str
    commands: list[list[object]]
    identical: bool  # Redis's DUMP follows from the data: Concord's must be the same bytes
    config: dict[str, str] = field(default_factory=dict)


def _random_bytes(seed: int, size: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(size))


def _cases() -> list[Case]:
    rng = random.Random(12)
    words = [b"w%d" % rng.randrange(50) for _ in range(3000)]
    return [
        Case("embstr", [["SET", "k", "hello world"]], True),
        Case("shared int", [["SET", "k", "42"]], True),
        Case("int", [["SET", "k", "-9223372036854775808"]], True),
        Case("raw", [["SET", "k", "abc"], ["APPEND", "k", "def" * 20]], True),
        Case("compressible", [["SET", "k", b"a" * 1000 + b"b" * 1000]], True),
        Case("incompressible", [["SET", "k", _random_bytes(1, 300)]], True),
        Case("text", [["SET", "k", b" ".join(words)]], True),
        Case("empty", [["SET", "k", ""]], True),
        Case("binary", [["SET", "k", b"\x00\r\n\xff" * 9]], True),
        Case("bitmap", [["SETBIT", "k", 100000, 1], ["SETBIT", "k", 7, 1]], True),
        Case("hyperloglog", [["PFADD", "k", *[b"e%d" % i for i in range(300)]]], True),
        Case("small list", [["RPUSH", "k", "a", "1", "-70000", "x" * 100, ""]], True),
        Case("list of nodes", [["RPUSH", "k", *words]], True),
        Case(
            "list by count",
            [["RPUSH", "k", *[b"%d" % i for i in range(50)]]],
            True,
            {"list-max-listpack-size": "7"},
        ),
        Case(
            "compressed list",
            [["RPUSH", "k", *words], ["RPUSH", "k", *words]],
            True,
            {"list-compress-depth": "1", "list-max-listpack-size": "-1"},
        ),
        Case("list pushed at the head", [["LPUSH", "k", *words[:200]]], True),
        Case("intset 16", [["SADD", "k", "3", "-1", "2"]], True),
        Case("intset 32", [["SADD", "k", "70000", "-5"]], True),
        Case("intset 64", [["SADD", "k", "-5", "10000000000"]], True),
        Case("small hashtable set", [["SADD", "k", "a", "b", "1"]], False),
        Case("big set", [["SADD", "k", *[b"m%d" % i for i in range(2000)]]], False),
        Case(
            "intset over the limit",
            [["SADD", "k", *[b"%d" % i for i in range(20)]]],
            False,
            {"set-max-intset-entries": "10"},
        ),
        Case(
            "zset listpack",
            [["ZADD", "k", "1", "a", "2.5", "b", "-inf", "c", "1e300", "d", "0", "e", "-0", "f"]],
            True,
        ),
        Case(
            "zset skiplist",
            [["ZADD", "k", *[x for i in range(300) for x in (i / 3, b"m%d" % i)]]],
            True,
        ),
        Case(
            "zset of long members",
            [["ZADD", "k", "1", "x" * 100, "2", "y"]],
            True,
        ),
        Case(
            "zset with -0 and small thresholds",
            [["ZADD", "k", "-0", "a", "1", "b", "2", "c"]],
            True,
            {"zset-max-listpack-entries": "2"},
        ),
        Case("hash listpack", [["HSET", "k", "f", "v", "n", "12", "neg", "-4096", "e", ""]], True),
        Case("hash of a long value", [["HSET", "k", "f", "x" * 65, "g", "1"]], False),
        Case(
            "big hash",
            [["HSET", "k", *[x for i in range(1000) for x in (b"f%d" % i, b"v%d" % i)]]],
            False,
        ),
        Case(
            "hash over the count",
            [["HSET", "k", "a", "1", "b", "2", "c", "3"]],
            False,
            {"hash-max-listpack-entries": "2"},
        ),
        Case(
            "stream",
            [
                ["XADD", "k", "1-1", "f", "v", "n", "12"],
                ["XADD", "k", "1-2", "f", "w", "n", "-4096"],
                ["XADD", "k", "5-0", "other", "x" * 100],
            ],
            True,
        ),
        Case(
            "stream of nodes",
            [["XADD", "k", f"{i}-{i % 3}", "f", f"v{i}", "n", i] for i in range(1, 300)],
            True,
            {"stream-node-max-entries": "50"},
        ),
        Case(
            "stream of nodes with groups",
            [
                *[["XADD", "k", f"{i}-0", "f", f"v{i}", "n", i] for i in range(1, 300)],
                ["XGROUP", "CREATE", "k", "g1", "0"],
                ["XGROUP", "CREATE", "k", "g0", "$"],
                ["XGROUP", "CREATECONSUMER", "k", "g0", "idle"],
                ["XREADGROUP", "GROUP", "g1", "alice", "COUNT", "10", "STREAMS", "k", ">"],
                ["XREADGROUP", "GROUP", "g1", "bob", "COUNT", "5", "STREAMS", "k", ">"],
                ["XACK", "k", "g1", "2-0", "12-0"],
            ],
            False,  # seen and delivery times are each server's
            {"stream-node-max-entries": "50"},
        ),
        Case(
            "stream with deleted entries",
            [
                *[["XADD", "k", f"{i}-0", "f", f"v{i}"] for i in range(1, 120)],
                ["XDEL", "k", "3-0", "110-0"],
                ["XTRIM", "k", "MAXLEN", "100"],
                ["XSETID", "k", "200-0", "ENTRIESADDED", "500", "MAXDELETEDID", "150-0"],
            ],
            True,  # (deleted entries stay in their node, flagged, in both)
        ),
    ]


CASES = _cases()


@pytest.fixture
def clients(
    redis_server: RedisProcess, concord_server: ConcordProcess
) -> Iterator[tuple[redis.Redis, redis.Redis]]:
    pair = (
        redis.Redis(port=redis_server.port, db=DB, socket_timeout=30),
        redis.Redis(port=concord_server.port, db=DB, socket_timeout=30),
    )
    for client in pair:
        client.flushdb()
    yield pair
    for client in pair:
        client.flushdb()
        for name, value in THRESHOLDS.items():
            client.config_set(name, value)
        client.close()


def _content(client: redis.Redis, key: str) -> object:
    kind = client.type(key)
    if kind == b"string":
        return client.get(key)
    if kind == b"list":
        return client.lrange(key, 0, -1)
    if kind == b"set":
        return sorted(client.smembers(key))
    if kind == b"zset":
        return client.zrange(key, 0, -1, withscores=True)
    if kind == b"hash":
        return sorted(client.hgetall(key).items())
    if kind == b"stream":  # the entries, the metadata, and the groups without times
        info = client.xinfo_stream(key)
        groups = client.xinfo_groups(key)
        pending = [
            [(p["message_id"], p["consumer"], p["times_delivered"]) for p in pel]
            for pel in (client.xpending_range(key, g["name"], "-", "+", 1000) for g in groups)
        ]
        consumers = [
            [(c["name"], c["pending"]) for c in client.xinfo_consumers(key, g["name"])]
            for g in groups
        ]
        for unstable in ("first-entry", "last-entry"):
            info.pop(unstable, None)
        return client.xrange(key), sorted(info.items()), groups, pending, consumers
    raise AssertionError(f"unexpected type {kind!r}")


def _describe(client: redis.Redis, key: str) -> tuple[object, ...]:
    return (
        client.type(key),
        client.object("encoding", key),
        client.execute_command("DEBUG", "DIGEST-VALUE", key),
        _content(client, key),
    )


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_values_cross_between_redis_and_concord(
    clients: tuple[redis.Redis, redis.Redis], case: Case
) -> None:
    redis_client, concord_client = clients
    for client in clients:
        for name, value in case.config.items():
            client.config_set(name, value)
        for command in case.commands:
            client.execute_command(*command)
    original = _describe(redis_client, "k")
    assert _describe(concord_client, "k") == original
    from_redis = redis_client.dump("k")
    from_concord = concord_client.dump("k")
    if case.identical:
        assert from_concord == from_redis
    # Each payload restored on the other server is the same value, with the same encoding.
    concord_client.restore("copy", 0, from_redis)
    redis_client.restore("copy", 0, from_concord)
    assert _describe(concord_client, "copy") == original
    assert _describe(redis_client, "copy") == original
    # And restored on its own server too (what a replica of either would do).
    concord_client.restore("own", 0, from_concord)
    assert _describe(concord_client, "own") == original


LEGACY = {
    "list ziplist": payload(10, string(ziplist([b"a", 5, b"hello", -70000, 2**40]))),
    "quicklist of ziplists": payload(
        14,
        length(3) + string(ziplist([b"a", 1])) + string(ziplist([])) + string(ziplist([b"b", 300])),
    ),
    "plain list": payload(1, length(2) + string(b"x") + b"\xc0\x05"),
    "plain quicklist node": payload(18, length(1) + b"\x01" + string(b"big element")),
    "zipmap hash": payload(9, string(zipmap([(b"f", b"v"), (b"n", b"1")], free=2))),
    "long zipmap hash": payload(9, string(zipmap([(b"f", b"x" * 65)]))),
    "ziplist hash": payload(13, string(ziplist([b"f", b"v", b"n", 1]))),
    "ziplist zset": payload(12, string(ziplist([b"a", 1, b"b", b"2.5", b"c", b"inf"]))),
    "text-score zset": payload(3, length(2) + string(b"a") + b"\x05 1.5x" + string(b"b") + b"\xfe"),
    "plain set of integers": payload(2, length(3) + string(b"3") + string(b"1") + string(b"2")),
    "plain mixed set": payload(2, length(3) + string(b"3") + string(b"1") + string(b"a")),
    "plain hash": payload(4, length(2) + string(b"f") + string(b"v") + string(b"g") + string(b"w")),
    "RDB version 9": payload(0, string(b"hello"), version=9),
    "RDB version 11": payload(0, string(b"hello"), version=11),
    "stream": payload(15, length(0)),
    "bad text score": payload(3, length(1) + string(b"a") + b"\x020x"),
    "empty LZF string": payload(0, b"\xc3\x03\x00abc"),
    "value into the footer": payload(0, b"\x04ab"),
}


@pytest.mark.parametrize("name", list(LEGACY), ids=list(LEGACY))
def test_payloads_of_older_encodings_restore_alike(
    clients: tuple[redis.Redis, redis.Redis], name: str
) -> None:
    outcomes = []
    for client in clients:
        try:
            client.restore("legacy", 0, LEGACY[name])
        except redis.ResponseError as error:
            outcomes.append(str(error))
        else:
            outcomes.append(_describe(client, "legacy"))
    assert outcomes[0] == outcomes[1]


def test_a_big_list_and_set_cross_both_ways(clients: tuple[redis.Redis, redis.Redis]) -> None:
    redis_client, concord_client = clients
    elements = [b"element:%d" % i for i in range(100_000)]
    for client in clients:
        for start in range(0, len(elements), 10_000):
            client.rpush("big", *elements[start : start + 10_000])
            client.sadd("members", *elements[start : start + 10_000])
    for key in ("big", "members"):
        from_redis = redis_client.dump(key)
        from_concord = concord_client.dump(key)
        if key == "big":
            assert from_concord == from_redis
        concord_client.restore(key + "-copy", 0, from_redis)
        redis_client.restore(key + "-copy", 0, from_concord)
        for client in clients:
            assert client.execute_command("DEBUG", "DIGEST-VALUE", key + "-copy") == (
                client.execute_command("DEBUG", "DIGEST-VALUE", key)
            )
