"""Restart and disk figures with a real concord-server and 1 million keys (issue 5).

    PYTHONPATH=. .venv/bin/python scripts/dev/restart_figures.py [--keys 1000000]

Writes `--keys` distinct keys to a single node with the default snapshot settings, then
overwrites every key once more, and reports: the data directory's size after each pass (disk
use in steady state: it should not grow with the second pass), the time to restart (from
spawning the process until PING answers PONG, which it does only once loading is done) after
a clean stop and after kill -9, and, for comparison, the restart time of the same write history
with snapshots turned off (the whole log replayed).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import tempfile
import time
from pathlib import Path

import redis

from tests.support.processes import ConcordProcess


class Server(ConcordProcess):
    """A concord-server process (the tests' launcher), timed from spawn to first PONG."""

    def timed_start(self) -> float:
        started = time.monotonic()
        self.start()  # returns once PING answers PONG, i.e. loading is done
        return time.monotonic() - started

    def stop_with(self, sig: int) -> None:
        os.kill(self.pid, sig)
        assert self.process is not None
        self.process.wait(timeout=120)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=120)

    def wait_for_snapshots(self) -> None:
        client = self.client()
        while client.info("persistence")["rdb_bgsave_in_progress"]:
            time.sleep(0.05)
        client.close()

    def last_load(self) -> str:
        lines = self.log.read_text().splitlines()
        return next(line for line in reversed(lines) if "loaded" in line).split(": ", 1)[1]


def write(server: Server, keys: int, tag: str) -> float:
    client = server.client()
    started = time.monotonic()
    for first in range(0, keys, 10_000):
        pipe = client.pipeline(transaction=False)
        for i in range(first, min(first + 10_000, keys)):
            pipe.set(f"key:{i}", f"{tag}:{i}")
        pipe.execute()
    client.close()
    return time.monotonic() - started


def megabytes(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp)
        server = Server(base / "snapshots-on")
        server.start()
        seconds = write(server, args.keys, "first")
        server.wait_for_snapshots()
        print(
            f"wrote {args.keys} keys in {seconds:.1f} s; data dir {megabytes(server.data_dir):.1f} MB"
        )
        seconds = write(server, args.keys, "second")
        server.wait_for_snapshots()
        size = megabytes(server.data_dir)
        wal = megabytes(server.data_dir / "wal")
        snapshots = megabytes(server.data_dir / "snapshots")
        print(
            f"overwrote them in {seconds:.1f} s; data dir {size:.1f} MB"
            f" (log {wal:.1f} MB, snapshots {snapshots:.1f} MB)"
        )
        digest = server.client().execute_command("DEBUG", "DIGEST")
        for how, sig in (("clean stop", signal.SIGTERM), ("kill -9", signal.SIGKILL)):
            server.stop_with(sig)
            seconds = server.timed_start()
            assert server.client().execute_command("DEBUG", "DIGEST") == digest
            restored = re.findall(r"restored snapshot at index (\d+)", server.log.read_text())
            print(
                f"restart after {how}: {seconds:.2f} s to PONG (snapshot at {restored[-1]};"
                f" {server.last_load()})"
            )
        server.stop()

        plain = Server(base / "snapshots-off", "--snapshot-entries", "0", "--snapshot-bytes", "0")
        plain.start()
        write(plain, args.keys, "first")
        write(plain, args.keys, "second")
        size = megabytes(plain.data_dir)
        plain.stop()
        seconds = plain.timed_start()
        print(
            f"without snapshots: data dir {size:.1f} MB; restart {seconds:.2f} s to PONG"
            f" ({plain.last_load()})"
        )
        plain.stop()


if __name__ == "__main__":
    main()
