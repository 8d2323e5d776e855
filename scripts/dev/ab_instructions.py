"""Instructions per request of a single node, this checkout against an older one: a same-run
A/B that machine noise does not move.

Throughput on a shared 2-core VM varies by ±10-20% from run to run; the number of instructions
the server executes for a fixed workload hardly varies. Each side's `concord-server` runs under
`valgrind --tool=callgrind` (all threads counted), one client sends BATCHES pipelines of DEPTH
commands (SET of fresh keys, or GET of existing ones) and waits for each, then the server is
stopped; the same with no requests gives the start-up and shutdown cost, which is subtracted.
What remains, divided by the requests, is the cost of one request: parse, dispatch, the log
(encode, write: the fsync is a system call, its time not counted), apply, reply. Timers that
run meanwhile (ticks, expiry) add a little noise, proportional to how long the run takes.

    git worktree add /tmp/base <commit>
    PYTHONPATH=. .venv/bin/python scripts/dev/ab_instructions.py /tmp/base [--batches 200]

Needs valgrind (Debian's package).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.processes import free_port  # noqa: E402

DEPTH = 16


def request(kind: str, number: int) -> bytes:
    if kind == "set":
        key = b"key:%d" % number
        return b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nxxx\r\n" % (len(key), key)
    key = b"key:%d" % (number % 500)
    return b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)


def drive(port: int, kind: str, batches: int) -> None:
    deadline = time.monotonic() + 600
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=120)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # the server starts slowly under valgrind
    with sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        sock.recv(64)
        for batch in range(batches):
            sock.sendall(b"".join(request(kind, batch * DEPTH + i) for i in range(DEPTH)))
            received = b""
            while received.count(b"\r\n") < DEPTH:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                received += chunk


def instructions(checkout: Path, kind: str, batches: int) -> int:
    """Instructions the server executed for `batches` pipelines of `kind` (and start-up)."""
    work = Path(tempfile.mkdtemp(prefix="ab-instr-"))
    port = free_port()
    out = work / "callgrind.out"
    log = work / "valgrind.log"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "concord_resp",
        "--port",
        str(port),
        "--dir",
        str(work / "data"),
        "--loglevel",
        "warning",
    ]
    try:
        with open(log, "wb") as stderr:
            server = subprocess.Popen(command, cwd=checkout, stdout=stderr, stderr=stderr)
        try:
            drive(port, kind, batches)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=600)
        found = re.search(r"Collected : (\d+)", log.read_text())
        if found is None:
            raise RuntimeError(f"no instruction count in {log}:\n{log.read_text()[-2000:]}")
        return int(found.group(1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, help="the older checkout (a git worktree)")
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind not found")
    requests = args.batches * DEPTH
    print(f"# instructions per request, single node, {requests} requests in pipelines of {DEPTH}")
    print(f"{'test':<6}{'base':>12}{'new':>12}{'new/base':>10}")
    for kind in ("set", "get"):
        per_request = []
        for side in (args.base.resolve(), ROOT):
            idle = instructions(side, kind, 0)
            busy = instructions(side, kind, args.batches)
            per_request.append((busy - idle) / requests)
        old, new = per_request
        print(f"{kind.upper():<6}{old:>12,.0f}{new:>12,.0f}{new / old:>10.3f}", flush=True)
    print(f"# (pid {os.getpid()})")


if __name__ == "__main__":
    main()
