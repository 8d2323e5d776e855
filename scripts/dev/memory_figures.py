"""Memory per element of large collections: a 1,000,000-member hash, set and sorted set.

Each value is built through the state machine (HSET/SADD/ZADD entries of 1,000 elements, as
a client's pipeline would leave them), in a fresh child process per type, and measured two
ways: the growth of Python's traced allocations (tracemalloc) and of the process's resident
set (RSS, in a separate child without tracemalloc, whose own overhead would count). Members
look like `member:123456`, hash values like `value:123456`, scores are random doubles.
For comparison, the same data is loaded into a scratch redis-server (its `used_memory`
growth), if `redis-server` is on the PATH.

    PYTHONPATH=. .venv/bin/python scripts/dev/memory_figures.py [--elements 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BATCH = 1000


def commands(kind: str, elements: int) -> list[list[bytes]]:
    rng = random.Random(7)
    out: list[list[bytes]] = []
    for start in range(0, elements, BATCH):
        numbers = range(start, min(start + BATCH, elements))
        if kind == "hash":
            args = [x for n in numbers for x in (b"member:%d" % n, b"value:%d" % n)]
            out.append([b"HSET", b"key", *args])
        elif kind == "set":
            out.append([b"SADD", b"key", *[b"member:%d" % n for n in numbers]])
        else:
            args = [x for n in numbers for x in (repr(rng.random()).encode(), b"member:%d" % n)]
            out.append([b"ZADD", b"key", *args])
    return out


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def measure(kind: str, elements: int, traced: bool) -> None:
    """In a child: build the value, print the bytes per element the chosen way measured."""
    import gc
    import tracemalloc

    from concord_resp.commands import build_table
    from concord_resp.state import Command, StateMachine

    machine = StateMachine(build_table())
    gc.collect()
    if traced:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0] if traced else rss_kb() * 1024
    batches = commands(kind, elements)  # (the arguments become the stored elements)
    for index, argv in enumerate(batches, start=1):
        machine.apply(index, Command(1_000_000, 0, argv))
    del batches
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if traced else rss_kb() * 1024
    value = machine.keyspace.dbs[0].data[b"key"]
    assert len(value) == elements, len(value)  # type: ignore[arg-type]
    print(f"{(after - before) / elements:.1f}")


def child(kind: str, elements: int, traced: bool) -> float:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        f"from scripts.dev.memory_figures import measure; measure({kind!r}, {elements}, {traced})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return float(result.stdout.split()[-1])


def redis_figure(kind: str, elements: int) -> float | None:
    from tests.support.processes import RedisProcess

    try:
        server = RedisProcess(Path(tempfile.mkdtemp(prefix="memfig-")) / "redis").start()
    except (OSError, RuntimeError):
        return None
    try:
        import redis

        client = redis.Redis(port=server.port)
        before = int(client.info("memory")["used_memory"])
        pipe = client.pipeline(transaction=False)
        for argv in commands(kind, elements):
            pipe.execute_command(*argv)
        pipe.execute()
        after = int(client.info("memory")["used_memory"])
        client.close()
        return (after - before) / elements
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"# bytes per element of one {args.elements:,}-element value (pid {os.getpid()})")
    print(f"{'type':<8}{'tracemalloc':>14}{'RSS growth':>14}{'redis-server':>14}")
    for kind in ("hash", "set", "zset"):
        traced = child(kind, args.elements, True)
        resident = child(kind, args.elements, False)
        theirs = redis_figure(kind, args.elements)
        shown = f"{theirs:>14.1f}" if theirs is not None else f"{'-':>14}"
        print(f"{kind:<8}{traced:>14.1f}{resident:>14.1f}{shown}", flush=True)


if __name__ == "__main__":
    main()
