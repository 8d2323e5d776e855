"""InstallSnapshot figures with real processes (issue 5): a follower of a 3-node cluster is
killed, the leader takes `--keys` writes (compacting its log), the follower is restarted and
catches up by snapshot. Reports the stream (size, seconds), the time until the follower has
applied everything, and how the leader served a client meanwhile (a GET loop on the leader:
requests answered, the slowest one).

    PYTHONPATH=. .venv/bin/python scripts/dev/install_figures.py [--keys 1000000]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import threading
import time
from pathlib import Path

import redis

from tests.support.cluster import LocalCluster


def write(client: redis.Redis, keys: int) -> None:
    for first in range(0, keys, 10_000):
        pipe = client.pipeline(transaction=False)
        for i in range(first, min(first + 10_000, keys)):
            pipe.set(f"key:{i}", f"value:{i}")
        pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as temp,
        LocalCluster(Path(temp), 3, proxied=False) as cluster,
    ):
        cluster.start_all()
        leader = cluster.leader()
        lagging = next(name for name in cluster.names if name != leader)
        cluster.kill(lagging)
        client = cluster.client(leader)
        started = time.monotonic()
        write(client, args.keys)
        print(f"{args.keys} writes to the leader in {time.monotonic() - started:.1f} s")
        target = int(cluster.raft_info(leader)["raft_applied_index"])
        latencies: list[float] = []
        stop = threading.Event()

        def reads() -> None:
            reader = cluster.client(leader)
            while not stop.is_set():
                began = time.perf_counter()
                reader.get("key:1")
                latencies.append(time.perf_counter() - began)
            reader.close()

        thread = threading.Thread(target=reads)
        thread.start()
        started = time.monotonic()
        cluster.start(lagging)
        while int(cluster.raft_info(lagging)["raft_applied_index"]) < target:
            time.sleep(0.01)
        caught_up = time.monotonic() - started
        stop.set()
        thread.join()
        sent = re.findall(
            r"sent snapshot \S+ \((\d+) bytes\) to \S+ in ([\d.]+) s",
            cluster.members[leader].log.read_text(),
        )
        size, seconds = sent[-1]
        print(f"snapshot stream: {int(size) / 1e6:.1f} MB in {seconds} s")
        print(f"follower restarted and caught up in {caught_up:.2f} s")
        print(
            f"leader GETs meanwhile: {len(latencies)} answered, slowest {max(latencies) * 1000:.1f} ms,"
            f" median {sorted(latencies)[len(latencies) // 2] * 1000:.2f} ms"
        )
        digests = {
            cluster.client(name).execute_command("DEBUG", "DIGEST") for name in cluster.names
        }
        print(f"digests equal on all three nodes: {len(digests) == 1}")
        client.close()


if __name__ == "__main__":
    main()
