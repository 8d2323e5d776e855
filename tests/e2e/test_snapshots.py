"""Snapshots with a real server: written as the log grows, restored at restart (after kill -9
too), and LASTSAVE reports the newest one."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

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
    assert restored and int(restored[-1]) >= 800, server.output()[-2000:]
    client = connect(server.port)
    assert client.execute_command("DEBUG", "DIGEST") == digest
    assert client.get("key:999") == b"value:999"
    assert client.dbsize() == 1000
    assert client.lastsave().timestamp() > 0
    client.close()
