"""Snapshots with a real server: written as the log grows, restored at restart (after kill -9
too), and LASTSAVE reports the newest one."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
import redis

from tests.support.processes import ConcordProcess
from tests.support.workload import connect

Factory = Callable[..., ConcordProcess]


def test_a_restart_after_kill_9_restores_the_newest_snapshot(concord_factory: Factory) -> None:
    server = concord_factory("--snapshot-entries", "200")
    client = connect(server.port)
    for first in range(0, 1000, 50):
        pipe = client.pipeline(transaction=False)
        for i in range(first, first + 50):
            pipe.set(f"key:{i}", f"value:{i}")
        pipe.execute()
    digest = client.execute_command("DEBUG", "DIGEST")
    client.close()
    # Snapshots are written in the background; wait for one past 800 (bounded), then kill.
    deadline = time.monotonic() + 30
    while (
        max(map(int, re.findall(r"snapshot at index (\d+) written", server.output())), default=0)
        < 800
    ):
        assert time.monotonic() < deadline, server.output()[-2000:]
        time.sleep(0.02)
    server.kill()
    server.start()
    restored = re.findall(r"restored snapshot at index (\d+)", server.output())
    assert restored, server.output()[-2000:]
    assert int(restored[-1]) >= 800, server.output()[-2000:]
    client = connect(server.port)
    assert client.execute_command("DEBUG", "DIGEST") == digest
    assert client.get("key:999") == b"value:999"
    assert client.dbsize() == 1000
    assert client.lastsave().timestamp() > 0
    client.close()


def test_save_and_bgsave(concord_factory: Factory) -> None:
    server = concord_factory("--snapshot-entries", "0")  # only on demand
    client = connect(server.port)
    client.set("a", "1")
    assert client.execute_command("SAVE") is True
    first = re.findall(r"snapshot at index (\d+) written", server.output())
    assert first, server.output()[-2000:]
    assert client.lastsave().timestamp() > 0
    client.set("b", "2")
    assert client.execute_command("BGSAVE") in (b"Background saving started", True)
    deadline = time.monotonic() + 30
    while len(re.findall(r"snapshot at index \d+ written", server.output())) < 2:
        assert time.monotonic() < deadline, server.output()[-2000:]
        time.sleep(0.02)
    for bad in (["BGSAVE", "x"], ["BGSAVE", "schedule", "x"]):
        with pytest.raises(redis.ResponseError, match=r"^syntax error$"):
            client.execute_command(*bad)
    digest = client.execute_command("DEBUG", "DIGEST")
    client.close()
    server.stop()
    server.start()
    assert re.findall(r"restored snapshot at index (\d+)", server.output())
    client = connect(server.port)
    assert client.execute_command("DEBUG", "DIGEST") == digest
    client.close()
