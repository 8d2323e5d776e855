"""`--join` by DNS name: names that resolve late are retried with a bounded backoff, and
`--join`, `--advertise` and `--initial-cluster` accept names (and refuse what is none).

join_cluster's resolver, member, sleep and clock are injected: the waits are checked
exactly, without sleeping. tests/e2e/test_deployment.py joins real processes by name.
"""

from __future__ import annotations

import logging
import socket

import pytest

from concord_resp.config import Config, ConfigError, config_from_args, is_host
from concord_resp.server.app import JOIN_BACKOFF, StartupError, join_cluster
from concord_resp.server.resp_client import ToolError

INFO_RAFT = "# Raft\r\nraft_cluster_id:abc123\r\nraft_initial_cluster:n1=10.0.0.1:6379@16379\r\n"


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class LateName:
    """A resolver that fails `failures` times (as getaddrinfo does for a name not in DNS
    yet), then resolves; and a member that records what it was asked."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.lookups = 0
        self.asked: list[tuple[str, int, tuple[str, ...]]] = []

    def resolve(self, host: str, port: int) -> object:
        self.lookups += 1
        if self.lookups <= self.failures:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port))]

    def ask(self, host: str, port: int, *args: str, **options: object) -> object:
        self.asked.append((host, port, args))
        return INFO_RAFT if args[0] == "INFO" else "OK"


def joiner(join: str = "concord.prod.svc.cluster.local:6379") -> Config:
    return Config(
        name="concord-3",
        join=join,
        advertise="concord-3.concord-peers.prod.svc.cluster.local:6379@16379",
    )


def test_a_name_that_resolves_late_is_retried_with_growing_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    name, time = LateName(failures=3), FakeTime()
    with caplog.at_level(logging.WARNING, logger="concord.server"):
        initial, cluster_id = join_cluster(
            joiner(), ask=name.ask, resolve=name.resolve, sleep=time.sleep, clock=time.clock
        )
    assert (initial, cluster_id) == ("n1=10.0.0.1:6379@16379", "abc123")
    assert time.sleeps == [0.5, 1.0, 2.0]
    assert name.asked == [
        ("concord.prod.svc.cluster.local", 6379, ("INFO", "raft")),
        (
            "concord.prod.svc.cluster.local",
            6379,
            (
                "RAFT.NODE",
                "ADD",
                "concord-3",
                "concord-3.concord-peers.prod.svc.cluster.local:6379@16379",
            ),
        ),
    ]
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 3
    assert all(
        "cannot reach concord.prod.svc.cluster.local:6379: the name does not resolve" in text
        for text in warnings
    )
    assert "next try in 2.0 s" in warnings[-1]


def test_the_wait_is_bounded_and_the_join_gives_up_at_its_timeout() -> None:
    name, time = LateName(failures=10**6), FakeTime()
    with pytest.raises(StartupError, match="does not resolve"):
        join_cluster(
            joiner(), 100.0, ask=name.ask, resolve=name.resolve, sleep=time.sleep, clock=time.clock
        )
    first, longest = JOIN_BACKOFF
    assert time.sleeps[:6] == [first, 2 * first, 4 * first, 8 * first, 16 * first, longest]
    assert max(time.sleeps) == longest
    assert time.now == pytest.approx(100.0)  # the last wait is cut to the timeout
    assert name.asked == []


def test_a_refusal_stops_the_join_at_once() -> None:
    time = FakeTime()

    def refuse(host: str, port: int, *args: str, **options: object) -> object:
        if args[0] == "INFO":
            return INFO_RAFT
        raise ToolError("ERR node concord-3 already exists at another address")

    with pytest.raises(StartupError, match="already exists"):
        join_cluster(
            joiner(),
            ask=refuse,
            resolve=LateName(0).resolve,
            sleep=time.sleep,
            clock=time.clock,
        )
    assert time.sleeps == []


def test_an_unreachable_member_or_one_without_a_leader_is_retried() -> None:
    answers = iter(
        [
            ToolError("cannot reach concord:6379: [Errno 111] Connection refused"),
            ToolError("CLUSTERDOWN No raft leader"),
            INFO_RAFT,
            "OK",
        ]
    )

    def member(host: str, port: int, *args: str, **options: object) -> object:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    time = FakeTime()
    join_cluster(
        joiner(), ask=member, resolve=LateName(0).resolve, sleep=time.sleep, clock=time.clock
    )
    assert time.sleeps == [0.5, 1.0]


def test_host_names_are_accepted_where_addresses_are() -> None:
    for host in (
        "10.0.0.1",
        "::1",
        "[fe80::1]",
        "localhost",
        "concord-0.concord-peers.prod.svc.cluster.local",
        "concord-0.concord-peers.prod.svc.cluster.local.",
        "my_service",
    ):
        assert is_host(host), host
    for host in ("", "a b", "-leading", "trailing-", "two..dots", "x" * 64, "a/b", "a:b"):
        assert not is_host(host), host
    config = config_from_args(
        [
            *("--name", "concord-3", "--join", "concord.prod.svc.cluster.local:6379"),
            *("--advertise", "concord-3.concord-peers.prod.svc.cluster.local:6379@16379"),
        ]
    )
    assert config.join == "concord.prod.svc.cluster.local:6379"
    members = "concord-0=concord-0.peers:6379@16379,concord-1=concord-1.peers:6379@16379"
    assert config_from_args(["--name", "concord-1", "--initial-cluster", members])
    refused = [
        (["--join", "bad host:6379"], "--join: 'bad host:6379' is not host:port"),
        (["--join", "concord:6379", "--advertise", "a..b:1@2"], "--advertise: 'a..b:1@2'"),
        (["--initial-cluster", "n1=a..b:1@2"], "'a..b' is not an address or name"),
    ]
    for flags, message in refused:
        with pytest.raises(ConfigError, match=message):
            config_from_args(flags)
