"""Benchmark Concord against redis-server in the same run, with redis-benchmark.

Everything runs on this machine with durability on: a single Concord node and a 3-node Concord
cluster with `--fsync always` (every member fsyncs), Redis with `appendonly yes` and
`appendfsync always`. For each workload (SET and GET at -c 50 -P 1, -c 50 -P 16 and -c 1) it
prints ops/s, p50 and p99 for the single node, the cluster's leader, a follower of the cluster
(writes forwarded to the leader, reads by ReadIndex) and Redis, and each ratio Concord/Redis.
Then the data model's commands (HSET, LPUSH, LPOP, SADD, ZADD and ZRANGE at -c 50, P1 and
P16), each as a ratio to SET or GET on the same server in the same run. Then EVALSHA of a
script that INCRs a key beside INCR (-c 50, P1 and P16), as a ratio to INCR. Then one client
pipelines SET k v / GET k pairs (16, then 1000 pairs a round trip, a fresh
key each) and, for comparison, the same SETs alone: pairs/s against SETs/s on each server
(a read behind the client's own writes must not make them wait for each other).
redis-benchmark, the servers and this script share the machine's cores: the figures are for
comparison within one run, not absolute capacity.

    scripts/bench                 # the full table
    scripts/bench --quick         # fewer requests, for a smoke run
    scripts/bench --only cluster  # only the 3-node cluster (leader and follower)
    scripts/bench --pipeline-only # only the pipelined SET+GET table
    scripts/bench --no-pipeline   # only the redis-benchmark workloads
    scripts/bench --data-only     # SET/GET at -c 50, then HSET, LPUSH, LPOP, SADD, ZADD, ZRANGE
    scripts/bench --scripts-only  # EVALSHA (a script that INCRs) beside INCR, at -c 50
    scripts/bench --tls-only      # SET/GET over TLS beside plain TCP (Concord and Redis)
    scripts/bench --events-only   # PUBLISH (subscribers on every node) and XADD beside SET,
                                  # and the publish-to-delivery latency across nodes
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import hiredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.cluster import LocalCluster  # noqa: E402
from tests.support.processes import ConcordProcess, RedisProcess, free_port  # noqa: E402
from tests.support.tls import make_tls_files  # noqa: E402

# The server's own defaults (the test harness's faster timing would only add heartbeats).
CLUSTER_ARGS = (
    "--loglevel",
    "warning",
    "--heartbeat-ms",
    "100",
    "--election-ms",
    "1000",
    "--write-timeout-ms",
    "5000",
    "--read-timeout-ms",
    "5000",
    # The server's defaults, over the tests' frequent snapshots and tiny segments.
    "--snapshot-entries",
    "100000",
    "--segment-size",
    "64mb",
    "--snapshot-catchup-entries",
    "1000",
)

# The data model's commands, compared with SET (writes) or GET (reads) at the same options on
# the same server in the same run. redis-benchmark has no ZRANGE test: it runs ZRANGE over the
# sorted set its ZADD test filled (COMMANDS), as a custom command.
DATA_WORKLOADS = [
    (test, options)
    for options in ("-c 50 -P 1", "-c 50 -P 16")
    for test in ("HSET", "LPUSH", "LPOP", "SADD", "ZADD", "ZRANGE")
]
DATA_BASELINE = {"HSET": "SET", "LPUSH": "SET", "LPOP": "SET", "SADD": "SET", "ZADD": "SET"}
COMMANDS = {"ZRANGE": ["ZRANGE", "myzset", "0", "9"]}

# Scripts: EVALSHA of a script that INCRs a key, beside INCR of the same keys, on the same
# server in the same run (issue 13: at least half of INCR's throughput).
INCR_SCRIPT = "return redis.call('incr', KEYS[1])"
INCR_SHA = hashlib.sha1(INCR_SCRIPT.encode()).hexdigest()
COMMANDS["EVALSHA"] = ["EVALSHA", INCR_SHA, "1", "counter:__rand_int__"]
SCRIPT_OPTIONS = ("-c 50 -P 1", "-c 50 -P 16")

# Events (issue 15): PUBLISH to a channel with a subscriber on every node, and XADD to a
# capped stream, beside SET on the same server in the same run (each at least half of SET).
EVENT_CHANNEL = b"bench:events"
COMMANDS["PUBLISH"] = ["PUBLISH", EVENT_CHANNEL.decode(), "hello"]
COMMANDS["XADD"] = ["XADD", "bench:stream", "MAXLEN", "~", "10000", "*", "field", "value"]
EVENT_OPTIONS = ("-c 50 -P 1", "-c 50 -P 16")
LATENCY_MESSAGES = 2000

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


def run_benchmark(
    port: int, test: str, options: str, requests: int, extra: tuple[str, ...] = ()
) -> Result:
    custom = COMMANDS.get(test)
    command = [
        "redis-benchmark",
        "-p",
        str(port),
        *extra,
        *(["-t", test.lower()] if custom is None else []),
        "-n",
        str(requests),
        "-r",
        "100000",
        "--csv",
        *options.split(),
        *(custom or []),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    rows = list(csv.DictReader(io.StringIO(output)))
    name = test if custom is None else " ".join(custom)
    row = next(r for r in rows if r["test"] == name)
    return Result(float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"]))


PIPELINE_DEPTHS = (16, 1000)  # SETs (or SET/GET pairs) per round trip
PIPELINE_REPEATS = 5


def pipeline_rate(port: int, depth: int, with_gets: bool, rounds: int) -> float:
    """One client sends `rounds` pipelines of `depth` SETs of fresh keys (each followed by a
    GET of its key if `with_gets`) and reads every reply; returns SETs per second."""
    reader = hiredis.Reader()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        start = time.perf_counter()
        for number in range(rounds):
            parts = []
            for i in range(depth):
                key = b"pipe:%d:%d:%d" % (depth, number, i)
                parts.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nxyz\r\n" % (len(key), key))
                if with_gets:
                    parts.append(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key))
            sock.sendall(b"".join(parts))
            owed = len(parts)
            while owed:
                data = sock.recv(1 << 20)
                if not data:
                    raise ConnectionError("the server closed the connection")
                reader.feed(data)
                while (reply := reader.gets()) is not False:
                    if isinstance(reply, hiredis.ReplyError):
                        raise RuntimeError(f"error reply: {reply}")
                    owed -= 1
        elapsed = time.perf_counter() - start
    return rounds * depth / elapsed


def pipeline_table(ports: dict[str, int], redis_port: int, quick: bool) -> None:
    names = [*ports, "redis"]
    every = {**ports, "redis": redis_port}
    print()
    print("# one client pipelining SETs of fresh keys, alone or each followed by its GET;")
    print("# SETs/s (pairs/s for SET+GET) and pairs/SETs: the reads must not serialize the")
    print("# writes' fsync rounds (deep pipelines are CPU-bound: compare with Redis's ratio);")
    print(f"# medians of {PIPELINE_REPEATS} alternating runs of each")
    print(f"{'test':<22}" + "".join(f"{name:>14}" for name in names))
    for depth in PIPELINE_DEPTHS:
        rounds = max(10, (2_000 if quick else 20_000) // depth)
        alone: dict[str, float] = {}
        paired: dict[str, float] = {}
        for name, port in every.items():
            runs: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(PIPELINE_REPEATS):
                for with_gets in (False, True):
                    runs[with_gets].append(pipeline_rate(port, depth, with_gets, rounds))
            alone[name], paired[name] = (
                statistics.median(runs[False]),
                statistics.median(runs[True]),
            )
        print(f"{f'SET -P {depth}':<22}" + "".join(f"{alone[n]:>14,.0f}" for n in names))
        print(f"{f'SET+GET -P {depth} pairs':<22}" + "".join(f"{paired[n]:>14,.0f}" for n in names))
        ratios = "".join(f"{paired[n] / alone[n]:>14.2f}" for n in names)
        print(f"{'  pairs/SETs':<22}" + ratios, flush=True)


def data_table(
    ports: dict[str, int],
    redis_port: int,
    quick: bool,
    measured: dict[tuple[str, str, str], Result],
) -> None:
    """The data model's commands: ops/s on each server, and the ratio to SET (a write) or
    GET (a read) on the same server at the same options, measured above in this run."""
    names = [*ports, "redis"]
    every = {**ports, "redis": redis_port}
    print()
    print("# the data model: ops/s, and the ratio to SET (writes) or GET (ZRANGE, a read of")
    print("# 10 elements) on the same server with the same options, in this run")
    print(
        f"{'test':<7} {'options':<12}" + "".join(f"{n + ' ops/s':>16} {'ratio':>6}" for n in names)
    )
    for test, options in DATA_WORKLOADS:
        requests = requests_for(options, quick)
        baseline = DATA_BASELINE.get(test, "GET")
        cells = []
        for name in names:
            result = run_benchmark(every[name], test, options, requests)
            base = measured.get((baseline, options, name))
            ratio = f"{result.rps / base.rps:>6.2f}" if base is not None else f"{'-':>6}"
            cells.append(f"{result.rps:>16,.0f} {ratio}")
        print(f"{test:<7} {options:<12}" + "".join(cells), flush=True)


def load_script(port: int) -> None:
    """SCRIPT LOAD the INCR script (through any node of a cluster: the cache is replicated)."""
    body = INCR_SCRIPT.encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$%d\r\n%s\r\n" % (len(body), body))
        reply = sock.recv(1024)
    if INCR_SHA.encode() not in reply:
        raise RuntimeError(f"SCRIPT LOAD answered {reply!r}")


def script_table(ports: dict[str, int], redis_port: int, quick: bool) -> None:
    """EVALSHA of a script that INCRs a key beside INCR itself: ops/s on each server, and
    EVALSHA's ratio to INCR on the same server in the same run."""
    names = [*ports, "redis"]
    every = {**ports, "redis": redis_port}
    for port in every.values():
        load_script(port)
    print()
    print("# scripts: EVALSHA of `return redis.call('incr', KEYS[1])` beside INCR of the same")
    print("# keys; ratio = EVALSHA/INCR on the same server with the same options, in this run")
    print(
        f"{'test':<8} {'options':<12}" + "".join(f"{n + ' ops/s':>16} {'ratio':>6}" for n in names)
    )
    for options in SCRIPT_OPTIONS:
        requests = requests_for(options, quick)
        rates = {
            test: {name: run_benchmark(every[name], test, options, requests) for name in names}
            for test in ("INCR", "EVALSHA")
        }
        for test in ("INCR", "EVALSHA"):
            cells = []
            for name in names:
                rps = rates[test][name].rps
                cells.append(f"{rps:>16,.0f} {rps / rates['INCR'][name].rps:>6.2f}")
            print(f"{test:<8} {options:<12}" + "".join(cells), flush=True)


def tls_table(work: Path, quick: bool) -> None:
    """SET and GET over TLS beside the same over plain TCP, on one Concord node and on Redis
    (both serving a plain and a TLS port, client certificates required)."""
    files = make_tls_files(work / "certs")
    tls_args = tuple(files.server_args())
    client = (
        "--tls",
        "--cacert",
        str(files.ca),
        "--cert",
        str(files.cert),
        "--key",
        str(files.key),
    )
    concord_tls, redis_tls = free_port(), free_port()
    concord = ConcordProcess(
        work / "concord-tls",
        *("--fsync", "always", "--loglevel", "warning", "--tls-port", str(concord_tls)),
        *tls_args,
    ).start()
    redis_args = list(tls_args)  # (Redis takes the same parameter names)
    redis = RedisProcess(
        work / "redis-tls",
        *("--appendonly", "yes", "--appendfsync", "always", "--tls-port", str(redis_tls)),
        *redis_args,
    ).start()
    print()
    print("# TLS: the same workloads over the TLS port, as a ratio to the plain port of the")
    print("# same server (client certificates required)")
    header = (
        f"{'test':<4} {'options':<12} {'concord ops/s':>13} {'tls ops/s':>10} {'ratio':>5}"
        f"   {'redis ops/s':>11} {'tls ops/s':>10} {'ratio':>5}"
    )
    print(header)
    print("-" * len(header))
    try:
        for test, options in [
            (t, o) for o in ("-c 50 -P 1", "-c 50 -P 16") for t in ("SET", "GET")
        ]:
            requests = requests_for(options, quick)
            plain = run_benchmark(concord.port, test, options, requests)
            secure = run_benchmark(concord_tls, test, options, requests, client)
            r_plain = run_benchmark(redis.port, test, options, requests)
            r_secure = run_benchmark(redis_tls, test, options, requests, client)
            print(
                f"{test:<4} {options:<12} {plain.rps:>13,.0f} {secure.rps:>10,.0f}"
                f" {secure.rps / plain.rps:>5.2f}   {r_plain.rps:>11,.0f} {r_secure.rps:>10,.0f}"
                f" {r_secure.rps / r_plain.rps:>5.2f}",
                flush=True,
            )
    finally:
        concord.stop()
        redis.stop()


class Drain:
    """A subscriber that reads (and drops) everything published to `channel`, on a thread,
    so the publishers' servers deliver to a reader that keeps up."""

    def __init__(self, port: int, channel: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=0.2)
        self.sock.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(channel), channel))
        self.received = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping:
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            if not data:
                return
            self.received += len(data)

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


def publish_latency(pub_port: int, sub_port: int, count: int) -> tuple[float, float]:
    """One message at a time, published through `pub_port` and received by a subscriber of
    `sub_port`: p50 and p99 (ms) from sending PUBLISH to the subscriber reading it."""
    channel = b"bench:latency"
    arrived: dict[bytes, float] = {}
    sub = socket.create_connection(("127.0.0.1", sub_port), timeout=30)
    sub.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(channel), channel))
    ready = threading.Event()

    def listen() -> None:
        reader = hiredis.Reader()
        while len(arrived) < count:
            data = sub.recv(1 << 16)
            if not data:
                return
            now = time.perf_counter()
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                if reply[0] == b"subscribe":
                    ready.set()
                elif reply[0] == b"message":
                    arrived[reply[2]] = now

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    if not ready.wait(30):
        raise RuntimeError("the latency subscriber never subscribed")
    sent: dict[bytes, float] = {}
    reader = hiredis.Reader()
    with socket.create_connection(("127.0.0.1", pub_port), timeout=30) as pub:
        for number in range(count):
            payload = b"%d" % number
            sent[payload] = time.perf_counter()
            pub.sendall(
                b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                % (len(channel), channel, len(payload), payload)
            )
            while reader.gets() is False:
                reader.feed(pub.recv(1 << 16))
    listener.join(30)
    sub.close()
    delays = sorted((arrived[p] - sent[p]) * 1000 for p in sent if p in arrived)
    if len(delays) < count:
        raise RuntimeError(f"{count - len(delays)} messages never arrived")
    return delays[len(delays) // 2], delays[min(len(delays) - 1, int(len(delays) * 0.99))]


def events_table(
    ports: dict[str, int],
    cluster: LocalCluster | None,
    redis_port: int,
    quick: bool,
    measured: dict[tuple[str, str, str], Result],
) -> None:
    """PUBLISH (a subscriber on every node of the server under test) and XADD beside SET;
    then the publish-to-delivery latency across nodes."""
    names = [*ports, "redis"]
    every = {**ports, "redis": redis_port}
    drained = set(every.values()) | (set(cluster.ports.values()) if cluster else set())
    drains = [Drain(port, EVENT_CHANNEL) for port in sorted(drained)]
    try:
        print()
        print("# events: PUBLISH with a subscriber on every node (a cluster's: all three), and")
        print("# XADD to a stream capped at ~10k entries; ratio = to SET on the same server with")
        print("# the same options, in this run")
        print(
            f"{'test':<8} {'options':<12}"
            + "".join(f"{n + ' ops/s':>16} {'ratio':>6}" for n in names)
        )
        for options in EVENT_OPTIONS:
            requests = requests_for(options, quick)
            for test in ("SET", "PUBLISH", "XADD"):
                cells = []
                for name in names:
                    result = measured.get((test, options, name)) if test == "SET" else None
                    if result is None:
                        result = run_benchmark(every[name], test, options, requests)
                        measured[(test, options, name)] = result
                    base = measured[("SET", options, name)]
                    cells.append(f"{result.rps:>16,.0f} {result.rps / base.rps:>6.2f}")
                print(f"{test:<8} {options:<12}" + "".join(cells), flush=True)
    finally:
        for drain in drains:
            drain.stop()
    count = LATENCY_MESSAGES // 10 if quick else LATENCY_MESSAGES
    print()
    print(f"# publish-to-delivery latency, {count} messages one at a time (ms)")
    pairs: list[tuple[str, int, int]] = []
    if cluster is not None:
        leader = cluster.leader()
        followers = [n for n in cluster.names if n != leader]
        pairs.append(("leader -> follower", cluster.ports[leader], cluster.ports[followers[0]]))
        pairs.append(
            ("follower -> other follower", cluster.ports[followers[0]], cluster.ports[followers[1]])
        )
        pairs.append(("follower -> leader", cluster.ports[followers[0]], cluster.ports[leader]))
    if "single" in ports:
        pairs.append(("single node", ports["single"], ports["single"]))
    pairs.append(("redis", redis_port, redis_port))
    for label, pub_port, sub_port in pairs:
        p50, p99 = publish_latency(pub_port, sub_port, count)
        print(f"{label:<28} p50 {p50:>7.3f}   p99 {p99:>7.3f}", flush=True)


def requests_for(options: str, quick: bool) -> int:
    if options == "-c 1":
        base = 20_000
    elif "-P 16" in options:
        base = 1_000_000
    else:
        base = 200_000
    return base // 10 if quick else base


def start_cluster(work: Path) -> tuple[LocalCluster, int, int]:
    """A 3-node cluster with the server's default timing; returns it, the leader's port and
    a follower's port."""
    cluster = LocalCluster(work / "cluster", 3, proxied=False, extra_args=CLUSTER_ARGS)
    cluster.start_all()
    leader = cluster.leader()
    follower = next(name for name in cluster.names if name != leader)
    return cluster, cluster.ports[leader], cluster.ports[follower]


def row(test: str, options: str, results: list[Result | None], redis: Result) -> str:
    cells = [f"{test:<4} {options:<12}"]
    for result in results:
        if result is None:
            cells.append(f"{'-':>10} {'':>7} {'':>7} {'':>5}")
        else:
            cells.append(
                f"{result.rps:>10,.0f} {result.p50:>7.3f} {result.p99:>7.3f}"
                f" {result.rps / redis.rps:>5.2f}"
            )
    cells.append(f"{redis.rps:>10,.0f} {redis.p50:>7.3f} {redis.p99:>7.3f}")
    return "   ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests")
    parser.add_argument(
        "--only",
        choices=("single", "cluster"),
        default=None,
        help="benchmark only the single node or only the 3-node cluster",
    )
    parser.add_argument(
        "--pipeline-only",
        action="store_true",
        help="only the pipelined SET+GET table (no redis-benchmark workloads)",
    )
    parser.add_argument(
        "--no-pipeline", action="store_true", help="only the redis-benchmark workloads"
    )
    parser.add_argument(
        "--data-only",
        action="store_true",
        help="only SET/GET at -c 50 and the data model's commands beside them",
    )
    parser.add_argument("--no-data", action="store_true", help="no data model table")
    parser.add_argument(
        "--scripts-only", action="store_true", help="only the EVALSHA-beside-INCR table"
    )
    parser.add_argument(
        "--tls-only", action="store_true", help="only SET/GET over TLS beside plain TCP"
    )
    parser.add_argument(
        "--events-only",
        action="store_true",
        help="only SET, PUBLISH and XADD at -c 50, and the publish-to-delivery latency",
    )
    args = parser.parse_args()
    if shutil.which("redis-benchmark") is None:
        sys.exit("redis-benchmark not found (scripts/_env.sh installs redis-tools)")
    work = Path(tempfile.mkdtemp(prefix="concord-bench-"))
    if args.tls_only:
        try:
            tls_table(work, args.quick)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    targets = [
        name
        for name in ("single", "leader", "follower")
        if args.only is None or (args.only == "single") == (name == "single")
    ]
    redis = RedisProcess(work / "redis", "--appendonly", "yes", "--appendfsync", "always").start()
    single: ConcordProcess | None = None
    cluster: LocalCluster | None = None
    ports: dict[str, int] = {}
    try:
        if "single" in targets:
            single = ConcordProcess(
                work / "concord", "--fsync", "always", "--loglevel", "warning"
            ).start()
            ports["single"] = single.port
        if "leader" in targets:
            cluster, ports["leader"], ports["follower"] = start_cluster(work)
        print(f"# {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
        print(
            "# Concord --fsync always (single node; 3-node cluster on this machine, client to"
            " the leader and to a follower)"
        )
        print("# vs redis-server appendonly yes, appendfsync always; ratio = Concord/Redis")
        print("# client: redis-benchmark -r 100000 (3-byte values); same machine for everything")
        columns = [f"{name + ' ops/s':>10} {'p50':>7} {'p99':>7} {'ratio':>5}" for name in targets]
        header = "   ".join(
            [f"{'test':<4} {'options':<12}", *columns, f"{'redis ops/s':>10} {'p50':>7} {'p99':>7}"]
        )
        print(header)
        print("-" * len(header))
        measured: dict[tuple[str, str, str], Result] = {}
        workloads = [] if args.pipeline_only or args.scripts_only else WORKLOADS
        if args.events_only:
            workloads = [w for w in WORKLOADS if w[0] == "SET" and w[1] in EVENT_OPTIONS]
        if args.data_only:
            workloads = [w for w in WORKLOADS if w[1] in ("-c 50 -P 1", "-c 50 -P 16")]
        for test, options in workloads:
            requests = requests_for(options, args.quick)
            ours = [run_benchmark(ports[name], test, options, requests) for name in targets]
            theirs = run_benchmark(redis.port, test, options, requests)
            measured.update({(test, options, n): r for n, r in zip(targets, ours, strict=True)})
            measured[(test, options, "redis")] = theirs
            print(row(test, options, list(ours), theirs), flush=True)
        only = args.pipeline_only or args.scripts_only or args.data_only or args.events_only
        if not (args.pipeline_only or args.no_data or args.scripts_only or args.events_only):
            data_table(ports, redis.port, args.quick, measured)
        if not only or args.events_only:
            events_table(ports, cluster, redis.port, args.quick, measured)
        if not (args.pipeline_only or args.data_only or args.events_only):
            script_table(ports, redis.port, args.quick)
        if not (args.no_pipeline or args.data_only or args.scripts_only or args.events_only):
            pipeline_table(ports, redis.port, args.quick)
    finally:
        if single is not None:
            single.stop()
        if cluster is not None:
            cluster.stop_all()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("# latencies in ms")
    if cluster is not None:
        print(
            "# issue 4 targets for the 3-node cluster: SET -c 50 -P 1 >= 10k,"
            " SET -c 50 -P 16 >= 35k, GET -c 50 -P 1 >= 20k ops/s"
        )


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    main()
    print(f"# {time.monotonic() - started:.0f} s")
