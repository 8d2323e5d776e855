"""Benchmark Concord against redis-server in the same run, with redis-benchmark.

Both servers run on this machine with durability on: Concord with `--fsync always`, Redis with
`appendonly yes` and `appendfsync always`. For each workload (SET and GET at -c 50 -P 1,
-c 50 -P 16 and -c 1) it prints ops/s, p50 and p99 for both and the ratio Concord/Redis.
redis-benchmark, both servers and this script share the machine's cores: the figures are for
comparison within one run, not absolute capacity.

    scripts/bench                 # the full table
    scripts/bench --quick         # fewer requests, for a smoke run
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import ConcordProcess, RedisProcess  # noqa: E402

WORKLOADS = [
    ("SET", "-c 50 -P 1"),
    ("GET", "-c 50 -P 1"),
    ("SET", "-c 50 -P 16"),
    ("GET", "-c 50 -P 16"),
    ("SET", "-c 1"),
    ("GET", "-c 1"),
]


@dataclass
class Result:
    rps: float
    p50: float
    p99: float


def run_benchmark(port: int, test: str, options: str, requests: int) -> Result:
    command = [
        "redis-benchmark",
        "-p",
        str(port),
        "-t",
        test.lower(),
        "-n",
        str(requests),
        "-r",
        "100000",
        "--csv",
        *options.split(),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    rows = list(csv.DictReader(io.StringIO(output)))
    row = next(r for r in rows if r["test"] == test)
    return Result(float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"]))


def requests_for(options: str, quick: bool) -> int:
    if options == "-c 1":
        base = 20_000
    elif "-P 16" in options:
        base = 1_000_000
    else:
        base = 200_000
    return base // 10 if quick else base


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests")
    args = parser.parse_args()
    if shutil.which("redis-benchmark") is None:
        sys.exit("redis-benchmark not found (scripts/_env.sh installs redis-tools)")
    work = Path(tempfile.mkdtemp(prefix="concord-bench-"))
    redis = RedisProcess(work / "redis", "--appendonly", "yes", "--appendfsync", "always").start()
    concord = ConcordProcess(work / "concord", "--fsync", "always", "--loglevel", "warning").start()
    print(f"# {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    print("# Concord --fsync always vs redis-server appendonly yes, appendfsync always")
    print("# client: redis-benchmark -r 100000 (3-byte values); same machine for everything")
    header = f"{'test':<4} {'options':<12} {'concord ops/s':>14} {'p50':>7} {'p99':>7}   {'redis ops/s':>12} {'p50':>7} {'p99':>7}   {'ratio':>5}"
    print(header)
    print("-" * len(header))
    try:
        for test, options in WORKLOADS:
            requests = requests_for(options, args.quick)
            ours = run_benchmark(concord.port, test, options, requests)
            theirs = run_benchmark(redis.port, test, options, requests)
            print(
                f"{test:<4} {options:<12} {ours.rps:>14,.0f} {ours.p50:>7.3f} {ours.p99:>7.3f}"
                f"   {theirs.rps:>12,.0f} {theirs.p50:>7.3f} {theirs.p99:>7.3f}"
                f"   {ours.rps / theirs.rps:>5.2f}",
                flush=True,
            )
    finally:
        concord.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("# latencies in ms")


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    main()
    print(f"# {time.monotonic() - started:.0f} s")
