"""Seeded random stream commands, mostly valid, against a real Redis 7.0 and Concord: every
reply byte-identical (entries, trimming by whole nodes, group state, lag and entries-read,
XINFO's radix tree figures, errors). Replies that hold times (XPENDING's idle, XINFO
CONSUMERS) are left out, and `*` IDs are not used: the two servers' clocks differ."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest

from compat.harness import RawClient
from tests.support.processes import ConcordProcess, RedisProcess

DB = b"13"  # the servers are shared with other tests: this module owns database 13
CALLS = 1500


def commands(rng: random.Random) -> Iterator[list[bytes]]:
    def some_id() -> bytes:
        return b"%d-%d" % (rng.randrange(0, 60), rng.randrange(0, 3))

    def number(low: int, high: int) -> bytes:
        return b"%d" % rng.randrange(low, high)

    forms: list[Callable[[bytes, bytes, bytes], list[bytes]]] = [
        lambda key, group, consumer: [
            b"XADD",
            key,
            *rng.choice([[], [b"MAXLEN", b"~", number(0, 30)], [b"MINID", some_id()]]),
            some_id(),
            b"f",
            number(0, 1000),
            *rng.choice([[], [b"g", b"x" * rng.randrange(0, 80)]]),
        ],
        lambda key, group, consumer: [b"XADD", key, b"%d-*" % rng.randrange(0, 60), b"f", b"v"],
        lambda key, group, consumer: [b"XDEL", key, some_id(), some_id()],
        lambda key, group, consumer: [
            b"XTRIM",
            key,
            *rng.choice([[b"MAXLEN", number(0, 30)], [b"MINID", b"~", some_id()]]),
        ],
        lambda key, group, consumer: (
            [
                b"XGROUP",
                b"CREATE",
                key,
                group,
                rng.choice([b"$", b"0", some_id()]),
                *rng.choice([[], [b"MKSTREAM"], [b"ENTRIESREAD", number(-1, 20)]]),
            ]
        ),
        lambda key, group, consumer: [
            b"XGROUP",
            b"SETID",
            key,
            group,
            rng.choice([b"$", b"0", some_id()]),
        ],
        lambda key, group, consumer: [b"XGROUP", b"DESTROY", key, group],
        lambda key, group, consumer: [b"XGROUP", b"CREATECONSUMER", key, group, consumer],
        lambda key, group, consumer: [b"XGROUP", b"DELCONSUMER", key, group, consumer],
        lambda key, group, consumer: (
            [
                b"XREADGROUP",
                b"GROUP",
                group,
                consumer,
                b"COUNT",
                number(0, 5),
                *rng.choice([[], [b"NOACK"]]),
                b"STREAMS",
                key,
                rng.choice([b">", b">", b"0", some_id()]),
            ]
        ),
        lambda key, group, consumer: [b"XACK", key, group, some_id(), some_id()],
        lambda key, group, consumer: (
            [
                b"XCLAIM",
                key,
                group,
                consumer,
                b"0",
                some_id(),
                some_id(),
                *rng.choice(
                    [[], [b"JUSTID"], [b"FORCE"], [b"RETRYCOUNT", b"3"], [b"LASTID", b"9"]]
                ),
            ]
        ),
        lambda key, group, consumer: (
            [
                b"XAUTOCLAIM",
                key,
                group,
                consumer,
                b"0",
                some_id(),
                b"COUNT",
                number(1, 5),
                *rng.choice([[], [b"JUSTID"]]),
            ]
        ),
        lambda key, group, consumer: [b"XPENDING", key, group],
        lambda key, group, consumer: [b"XINFO", b"GROUPS", key],
        lambda key, group, consumer: [b"XINFO", b"STREAM", key],
        lambda key, group, consumer: [b"XREVRANGE", key, b"+", some_id(), b"COUNT", number(0, 5)],
        lambda key, group, consumer: [
            b"XREAD",
            b"COUNT",
            number(0, 5),
            b"STREAMS",
            key,
            b"t",
            some_id(),
            b"0",
        ],
        lambda key, group, consumer: [b"XSETID", key, some_id(), b"ENTRIESADDED", number(0, 100)],
        lambda key, group, consumer: [b"DEBUG", b"DIGEST-VALUE", key],
    ]
    while True:
        key = rng.choice([b"s", b"s", b"t"])
        group = rng.choice([b"g", b"g", b"h"])
        consumer = rng.choice([b"a", b"b", b"c"])
        yield rng.choice(forms)(key, group, consumer)


@pytest.fixture
def pair(
    redis_server: RedisProcess, concord_server: ConcordProcess
) -> Iterator[tuple[RawClient, RawClient]]:
    clients = (RawClient(redis_server.port), RawClient(concord_server.port))
    for client in clients:
        client.call([b"SELECT", DB])
        client.call([b"FLUSHDB"])
    yield clients
    for client in clients:
        client.call([b"FLUSHDB"])
        client.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_random_stream_commands_reply_as_redis(
    pair: tuple[RawClient, RawClient], seed: int
) -> None:
    redis_client, concord_client = pair
    mismatches = []
    for _, argv in zip(range(CALLS), commands(random.Random(seed)), strict=False):
        expected, got = redis_client.call(argv).raw, concord_client.call(argv).raw
        if expected != got:
            mismatches.append((b" ".join(argv), expected[:200], got[:200]))
    assert not mismatches, mismatches[:5]
