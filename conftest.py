"""Fixtures shared by tests/ and compat/: real server processes on free 127.0.0.1 ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cluster import LocalCluster
from tests.support.processes import ConcordProcess, RedisProcess


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    # DEBUG is off by default in Redis 7; the compat suite compares DEBUG DIGEST.
    server = RedisProcess(tmp_path_factory.mktemp("redis"), "--enable-debug-command", "yes").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def concord_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConcordProcess]:
    """One shared concord-server for tests that do not restart or break it."""
    server = ConcordProcess(tmp_path_factory.mktemp("concord") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def concord_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One shared 3-node cluster (no proxy) for tests that do not break it."""
    with LocalCluster(tmp_path_factory.mktemp("cluster"), 3, proxied=False) as cluster:
        cluster.leader()
        yield cluster


@pytest.fixture
def concord_factory(tmp_path: Path) -> Iterator[Callable[..., ConcordProcess]]:
    """Start dedicated concord-server processes; all are killed at the end of the test."""
    started: list[ConcordProcess] = []

    def start(*args: str, data_dir: Path | None = None, wait: bool = True) -> ConcordProcess:
        server = ConcordProcess(data_dir or tmp_path / f"node{len(started)}", *args)
        started.append(server)
        return server.start(wait=wait)

    yield start
    for server in started:
        server.kill()
