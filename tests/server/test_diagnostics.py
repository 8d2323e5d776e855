"""SLOWLOG, LATENCY HISTOGRAM, MEMORY STATS, COMMAND COUNT/DOCS and INFO replication on real
servers: what the compat scenarios cannot compare byte for byte with Redis (values that
differ by nature, Concord's cluster roles), checked for shape and meaning."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis

from compat.harness import RawClient
from tests.support.cluster import LocalCluster
from tests.support.processes import ConcordProcess, RedisProcess


@pytest.fixture
def concord(concord_server: ConcordProcess) -> Iterator[redis.Redis]:
    client = redis.Redis(port=concord_server.port, protocol=2)
    yield client
    client.config_set("slowlog-log-slower-than", 10000)
    client.config_set("slowlog-max-len", 128)
    client.close()


def test_command_count_counts_what_command_lists(concord_server: ConcordProcess) -> None:
    client = RawClient(concord_server.port)
    try:
        count = int(client.call([b"COMMAND", b"COUNT"]).raw[1:-2])
        everything = client.call([b"COMMAND"]).children
        listed = [c.raw.split(b"\r\n")[1] for c in client.call([b"COMMAND", b"LIST"]).children]
        docs = client.call([b"COMMAND", b"DOCS"]).children
    finally:
        client.close()
    assert count == len(everything)
    assert count == len([name for name in listed if b"|" not in name])
    # Every served command has its docs (a map of name -> docs, flattened in RESP2).
    names = {entry.children[0].raw.split(b"\r\n")[1] for entry in everything}
    assert len(docs) == 2 * count
    assert {c.raw.split(b"\r\n")[1] for c in docs[::2]} == names
    assert {b"slowlog", b"latency", b"memory"} <= names


def test_memory_stats_has_redis_fields_in_redis_order(
    concord: redis.Redis, redis_server: RedisProcess
) -> None:
    concord.set("memory-stats-key", "v")
    theirs = RawClient(redis_server.port)
    ours = RawClient(concord.connection_pool.connection_kwargs["port"])
    try:
        theirs.call([b"SET", b"memory-stats-key", b"v"])
        for proto in (b"2", b"3"):
            theirs.call([b"HELLO", proto])
            ours.call([b"HELLO", proto])
            a = theirs.call([b"MEMORY", b"STATS"])
            b = ours.call([b"MEMORY", b"STATS"])
            assert a.kind == b.kind
            # Names at even places, each value of the same type (integers, doubles, db maps).
            a_names = [c.raw for c in a.children[::2]]
            b_names = [c.raw for c in b.children[::2]]
            assert a_names == b_names
            assert [c.kind for c in a.children] == [c.kind for c in b.children]
    finally:
        theirs.call([b"DEL", b"memory-stats-key"])
        theirs.close()
        ours.close()
    doctor = concord.execute_command("MEMORY DOCTOR")
    assert isinstance(doctor, bytes)
    assert doctor


def test_latency_histogram_of_a_container_lists_its_subcommands(concord: redis.Redis) -> None:
    concord.config_resetstat()
    concord.config_get("maxclients")
    concord.config_get("maxmemory")
    reply = concord.execute_command("LATENCY HISTOGRAM config")
    found = dict(zip(reply[::2], reply[1::2], strict=True))
    assert set(found) == {b"config|get", b"config|resetstat"}
    calls = dict(zip(found[b"config|get"][::2], found[b"config|get"][1::2], strict=True))
    assert calls[b"calls"] == 2
    buckets = calls[b"histogram_usec"]
    assert buckets[-1] == 2  # cumulative: the last bucket counts every call
    info = concord.info("latencystats")
    assert "p50" in info["latency_percentiles_usec_config|get"]
    concord.config_resetstat()  # (counted itself after the reset: its histogram only)
    reply = concord.execute_command("LATENCY HISTOGRAM config")
    assert reply[0] == b"config|resetstat"
    assert len(reply) == 2


def test_slowlog_on_a_follower_logs_forwarded_writes(concord_cluster: LocalCluster) -> None:
    leader = concord_cluster.leader()
    follower = next(name for name in concord_cluster.names if name != leader)
    client = concord_cluster.client(follower)
    try:
        client.config_set("slowlog-log-slower-than", 0)
        client.slowlog_reset()
        client.client_setname("writer")
        client.set("slow-key", "v")
        client.get("slow-key")
        entries = client.slowlog_get()
        # Newest first: GET, SET, CLIENT SETNAME, SLOWLOG RESET (each logged after it ran).
        commands = [entry["command"] for entry in entries]
        assert commands[:3] == [b"GET slow-key", b"SET slow-key v", b"CLIENT SETNAME writer"]
        get, put = entries[0], entries[1]
        assert get["id"] == put["id"] + 1
        assert put["client_name"] == b"writer"
        assert put["client_address"].startswith(b"127.0.0.1:")
        # The leader logged nothing of it: the slow log is each node's own.
        other = concord_cluster.client(leader)
        try:
            assert all(entry["client_name"] != b"writer" for entry in other.slowlog_get(-1))
        finally:
            other.close()
    finally:
        client.config_set("slowlog-log-slower-than", 10000)
        client.close()


def test_info_replication_lists_the_followers_on_the_leader(concord_cluster: LocalCluster) -> None:
    leader = concord_cluster.leader()
    ports = concord_cluster.ports
    client = concord_cluster.client(leader)
    try:
        info = client.info("replication")
    finally:
        client.close()
    assert info["role"] == "master"
    assert info["connected_slaves"] == 2
    replicas = [info["slave0"], info["slave1"]]
    assert {r["port"] for r in replicas} == {p for n, p in ports.items() if n != leader}
    assert all(r["state"] == "online" and r["lag"] >= 0 for r in replicas)
    follower = next(name for name in concord_cluster.names if name != leader)
    other = concord_cluster.client(follower)
    try:
        assert other.info("replication")["connected_slaves"] == 0
    finally:
        other.close()


def test_start_up_parameters_set_the_diagnostics(
    concord_factory: Callable[..., ConcordProcess],
) -> None:
    server = concord_factory(
        "--slowlog-log-slower-than",
        "0",
        "--slowlog-max-len",
        "3",
        "--latency-tracking-info-percentiles",
        "50 99.99",
    )
    client = redis.Redis(port=server.port, protocol=2)
    try:
        for number in range(5):
            client.set(f"k{number}", "v")
        assert client.slowlog_len() == 3
        # (SLOWLOG LEN itself is logged once it ran, as Redis logs it)
        commands = [entry["command"] for entry in client.slowlog_get(-1)]
        assert commands == [b"SLOWLOG LEN", b"SET k4 v", b"SET k3 v"]
        info = client.info("latencystats")
        assert set(info["latency_percentiles_usec_set"]) == {"p50", "p99.99"}
        assert client.config_get("latency-tracking-info-percentiles") == {
            "latency-tracking-info-percentiles": "50 99.99"
        }
        client.config_set("latency-tracking", "no")
        client.config_resetstat()
        client.set("k", "v")
        assert "latency_percentiles_usec_set" not in client.info("latencystats")
    finally:
        client.close()
