"""Jepsen-style client workloads against a cluster, recorded for the linearizability checker.

`Workload(ports, kind="register"|"append"|"list"|"script"|"stream")` runs client threads, each pinned
to one node (spread over every node, followers included) and each doing one call at a time on
one of a few keys: GET, plus SET of a unique value (register) or APPEND of a unique token
(append); or, on lists, LRANGE 0 -1 and RPUSH of a unique token (list: a lost, doubled or
reordered element is an illegal history); or the append workload through Lua (script: EVAL
of a script that APPENDs, EVAL_RO of one that GETs; the history is the append one); or, on
streams, XRANGE - + and XADD * of a unique value (stream: checked like the list).
Every call goes into a `History` (what the checker reads) and into an `OpRecord` (node,
interval, outcome, error) so tests can assert who served what during a fault.

Outcomes, as DESIGN.md section 8 defines them:
- ok: the reply;
- fail (the call had no effect): CLUSTERDOWN, LOADING, any error on a read (TIMEOUT no quorum
  for read included), a connection that could not be opened, a read whose connection broke;
- info (outcome unknown): TIMEOUT not committed yet on a write, a write whose connection
  timed out or broke, an unexpected error reply on a write (also kept in `unexpected`).
After an info (or any broken connection) the client reconnects as a NEW process: a process
has at most one call in flight, as in Jepsen. Clients never retry (`Retry(NoBackoff(), 0)`).

After the faults heal, `final_reads()` reads every key on every node into the history, so an
acknowledged write that was lost is an illegal history, and `check()` runs the checker.
Histories stay small (a few keys, tens of ops per second) so the checker answers quickly.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from concord_resp.checker import (
    CheckResult,
    History,
    RedisListModel,
    RedisStreamModel,
    RedisStringModel,
    Status,
    Value,
    check,
    encode_elements,
)
from tests.support.tls import TlsFiles

HOST: Final = "127.0.0.1"
OP_TIMEOUT: Final = 4.0  # above the servers' 2 s write/read timeouts: they answer first
CONNECT_TIMEOUT: Final = 1.0
JOIN_TIMEOUT: Final = 15.0
WorkloadKind = Literal["register", "append", "list", "script", "stream"]
WRITE_KINDS: Final = frozenset(("set", "append", "rpush", "xadd"))
READ_KINDS: Final = {
    "register": "get",
    "append": "get",
    "list": "lrange",
    "script": "get",
    "stream": "xrange",
}
APPEND_SCRIPT: Final = b"return redis.call('append', KEYS[1], ARGV[1])"
GET_SCRIPT: Final = b"return redis.call('get', KEYS[1])"


def now() -> int:
    """The clock every history and record here uses."""
    return time.monotonic_ns()


class Link:
    """One client connection: a typed face on redis-py's (untyped) low-level `Connection`.
    No retries, no CLIENT SETINFO on connect; raises redis-py's errors unchanged."""

    def __init__(self, port: int, timeout: float, tls: TlsFiles | None = None) -> None:
        kind = redis.Connection if tls is None else redis.SSLConnection
        extra = {} if tls is None else {"ssl_ca_certs": str(tls.ca), "ssl_check_hostname": False}
        self._connection = kind(  # type: ignore[no-untyped-call]
            host=HOST,
            port=port,
            socket_timeout=timeout,
            socket_connect_timeout=CONNECT_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            driver_info=None,
            **extra,
        )
        self._connection.connect()  # type: ignore[no-untyped-call]

    def call(self, argv: list[bytes]) -> object:
        self._connection.send_command(*argv)  # type: ignore[no-untyped-call]
        reply: object = self._connection.read_response()
        return reply

    def close(self) -> None:
        self._connection.disconnect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class OpRecord:
    """One call as a test sees it: where it went, when, and how it ended."""

    node: str
    process: int
    kind: str
    key: bytes
    status: Status
    invoke: int
    complete: int  # when the client learned the outcome (also for info)
    error: str | None = None  # the error line the server sent, or the client's exception

    @property
    def write(self) -> bool:
        return self.kind in WRITE_KINDS


class Workload:
    """Client threads over `ports` (node name -> client port); see the module docstring."""

    def __init__(
        self,
        ports: Mapping[str, int],
        *,
        kind: WorkloadKind = "register",
        keys: int = 3,
        clients: int = 6,
        interval: float = 0.03,
        seed: int = 0,
        op_timeout: float = OP_TIMEOUT,
        tls: TlsFiles | None = None,
    ) -> None:
        self.ports = dict(ports)
        self.tls = tls  # the clients connect over TLS (a cluster's TLS-only ports)
        self.kind = kind
        self.keys = [b"%s:%d" % (kind.encode(), number) for number in range(keys)]
        self.interval = interval  # pause between two calls of one client
        self.op_timeout = op_timeout
        self.seed = seed
        self.history = History(clock=now)
        self.unexpected: list[str] = []  # error replies no fault explains: a test failure
        self.crashes: list[BaseException] = []  # a client thread died: a test failure
        self._records: list[OpRecord] = []
        self._changed = threading.Condition()
        self._next_process = 0
        self._stop = threading.Event()
        names = list(self.ports)
        self._threads = [
            threading.Thread(
                target=self._client,
                args=(number, names[number % len(names)]),
                name=f"client-{number}",
                daemon=True,
            )
            for number in range(clients)
        ]

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Workload:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop the clients; each ends after its call in flight (bounded by op_timeout)."""
        self._stop.set()
        deadline = time.monotonic() + self.op_timeout + JOIN_TIMEOUT
        for thread in self._threads:
            if thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    raise RuntimeError(f"{thread.name} did not stop")

    def __enter__(self) -> Workload:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- results -----------------------------------------------------------------------------

    def records(self) -> list[OpRecord]:
        with self._changed:
            return list(self._records)

    def count(
        self,
        status: Status | None = None,
        *,
        nodes: Collection[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        writes: bool | None = None,
    ) -> int:
        """Calls with this status on these nodes, invoked at or after `start` and
        completed at or before `end` (wholly inside the window); `writes` filters by kind."""
        return sum(1 for r in self.records() if _matches(r, status, nodes, start, end, writes))

    def wait_for(
        self,
        count: int,
        *,
        status: Status = "ok",
        nodes: Collection[str] | None = None,
        start: int | None = None,
        writes: bool | None = None,
        timeout: float = 20.0,
    ) -> None:
        """Block until `count` calls match (see `count`); TimeoutError with a summary if not."""

        def enough() -> bool:
            found = sum(1 for r in self._records if _matches(r, status, nodes, start, None, writes))
            return found >= count

        with self._changed:
            if not self._changed.wait_for(enough, timeout):
                raise TimeoutError(
                    f"fewer than {count} {status} calls (nodes={nodes}, writes={writes}) "
                    f"within {timeout}s; {self.summary()}"
                )

    def summary(self, start: int | None = None, end: int | None = None) -> str:
        """ok/fail/info counts per node, e.g. `n1 ok=120 fail=3 info=1`."""
        parts = []
        for node in self.ports:
            counts = {s: self.count(s, nodes=[node], start=start, end=end) for s in _STATUSES}
            parts.append(f"{node} " + " ".join(f"{s}={n}" for s, n in counts.items()))
        return "; ".join(parts)

    def final_reads(self, nodes: Iterable[str] | None = None, timeout: float = 30.0) -> None:
        """Read every key on every node (or `nodes`) into the history, retrying each read
        until it succeeds (failed attempts are recorded as failures, which prove nothing)."""
        deadline = time.monotonic() + timeout
        for node in list(nodes if nodes is not None else self.ports):
            for key in self.keys:
                while not self._final_read(node, key):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"final read of {key!r} on {node} did not succeed")
                    time.sleep(0.05)  # a bounded poll of a real process (elections take time)

    def check(self) -> CheckResult:
        if self.kind == "list":
            return check(self.history.operations(), RedisListModel())
        if self.kind == "stream":
            return check(self.history.operations(), RedisStreamModel())
        return check(self.history.operations(), RedisStringModel())

    def problems(self) -> list[str]:
        """Anything besides the history that must fail a test."""
        found = [f"unexpected reply: {text}" for text in self.unexpected]
        return found + [f"client crashed: {error!r}" for error in self.crashes]

    # -- the clients -------------------------------------------------------------------------

    def _new_process(self) -> int:
        with self._changed:
            self._next_process += 1
            return self._next_process

    def _client(self, number: int, node: str) -> None:
        rng = random.Random(self.seed * 1000 + number)
        sequence = 0
        process = self._new_process()
        connection: Link | None = None
        try:
            while not self._stop.is_set():
                sequence += 1
                kind, key, value = self._next_call(rng, number, sequence)
                connection, ended = self._call(node, process, connection, kind, key, value)
                if ended:
                    process = self._new_process()  # the old one may still have a call in flight
                self._stop.wait(self.interval)
        except BaseException as error:  # a bug in the workload itself: the test must see it
            self.crashes.append(error)
        finally:
            if connection is not None:
                connection.close()

    def _next_call(
        self, rng: random.Random, number: int, sequence: int
    ) -> tuple[str, bytes, bytes | None]:
        key = rng.choice(self.keys)
        if rng.random() < 0.5:
            return READ_KINDS[self.kind], key, None
        if self.kind == "register":
            return "set", key, b"c%d-%d" % (number, sequence)
        if self.kind == "list":
            return "rpush", key, b"c%d-%d" % (number, sequence)
        if self.kind == "stream":
            return "xadd", key, b"c%d-%d" % (number, sequence)
        return "append", key, b"c%d-%d;" % (number, sequence)

    def _call(
        self,
        node: str,
        process: int,
        connection: Link | None,
        kind: str,
        key: bytes,
        value: bytes | None,
    ) -> tuple[Link | None, bool]:
        """One call, recorded. Returns the connection to reuse (None: reconnect) and whether
        the process must be replaced."""
        op_id = self.history.invoke(process, kind, key, value)
        invoked = now()
        write = kind in WRITE_KINDS
        if connection is None:
            try:
                connection = self._connect(node)
            except redis.RedisError as error:  # refused or unreachable: nothing was sent
                self._finish(op_id, node, process, kind, key, invoked, "fail", None, error)
                return None, False
        argv: list[bytes] = [kind.upper().encode(), key] + ([] if value is None else [value])
        if kind == "lrange":
            argv += [b"0", b"-1"]
        elif kind == "xadd":
            argv = [b"XADD", key, b"*", b"v", argv[2]]
        elif kind == "xrange":
            argv += [b"-", b"+"]
        if self.kind == "script":
            argv = (
                [b"EVAL_RO", GET_SCRIPT, b"1", key]
                if value is None
                else [b"EVAL", APPEND_SCRIPT, b"1", key, value]
            )
        try:
            reply = connection.call(argv)
        except redis.BusyLoadingError as error:  # LOADING: refused before anything ran
            self._finish(op_id, node, process, kind, key, invoked, "fail", None, error)
            return connection, False
        except redis.ResponseError as error:
            text = reply_error(error)
            status = self._classify(text, write, node, kind)
            self._finish(op_id, node, process, kind, key, invoked, status, None, text)
            return connection, status == "info"
        except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
            connection.close()
            status = "info" if write else "fail"
            self._finish(op_id, node, process, kind, key, invoked, status, None, error)
            return None, True
        if kind == "lrange" and isinstance(reply, list):
            output: Value = encode_elements(reply)
        elif kind == "xrange" and isinstance(reply, list):
            output = encode_elements([fields[1] for _, fields in reply])
        else:
            output = reply if isinstance(reply, bytes | int) or reply is None else str(reply)
        self._finish(op_id, node, process, kind, key, invoked, "ok", output, None)
        return connection, False

    def _classify(self, message: str, write: bool, node: str, kind: str) -> Status:
        if message.startswith("CLUSTERDOWN "):
            return "fail"  # never appended
        if message.startswith("TIMEOUT "):
            return "info" if write else "fail"
        self.unexpected.append(f"{node} {kind}: {message}")
        return "info" if write else "fail"

    def _connect(self, node: str) -> Link:
        return Link(self.ports[node], self.op_timeout, self.tls)

    def _finish(
        self,
        op_id: int,
        node: str,
        process: int,
        kind: str,
        key: bytes,
        invoked: int,
        status: Status,
        output: Value,
        error: BaseException | str | None,
    ) -> None:
        if status == "ok":
            self.history.ok(op_id, output)
        elif status == "fail":
            self.history.fail(op_id)
        else:
            self.history.info(op_id)
        text = (
            error if error is None or isinstance(error, str) else f"{type(error).__name__}: {error}"
        )
        record = OpRecord(node, process, kind, key, status, invoked, now(), text)
        with self._changed:
            self._records.append(record)
            self._changed.notify_all()

    def _final_read(self, node: str, key: bytes) -> bool:
        process = self._new_process()
        connection: Link | None = None
        try:
            connection, _ = self._call(node, process, None, READ_KINDS[self.kind], key, None)
            return self._records_last(process) == "ok"
        finally:
            if connection is not None:
                connection.close()

    def _records_last(self, process: int) -> Status | None:
        with self._changed:
            for record in reversed(self._records):
                if record.process == process:
                    return record.status
        return None


_STATUSES: Final[tuple[Status, ...]] = ("ok", "fail", "info")


def reply_error(error: redis.ResponseError) -> str:
    """The error line as the server sent it: redis-py strips the code of the errors it maps
    to classes (`CLUSTERDOWN No raft leader` arrives as ClusterDownError('No raft leader'))."""
    message = str(error.args[0]) if error.args else ""
    code = getattr(error, "status_code", None)
    return f"{code} {message}" if code else message


def _matches(
    record: OpRecord,
    status: Status | None,
    nodes: Collection[str] | None,
    start: int | None,
    end: int | None,
    writes: bool | None,
) -> bool:
    return (
        (status is None or record.status == status)
        and (nodes is None or record.node in nodes)
        and (start is None or record.invoke >= start)
        and (end is None or record.complete <= end)
        and (writes is None or record.write == writes)
    )


def assert_valid(workload: Workload, describe: Callable[[], str] | None = None) -> CheckResult:
    """Run the checker and fail on any anomaly: verdict must be "ok" ("unknown" fails too)."""
    problems = workload.problems()
    assert not problems, "\n".join(problems)
    result = workload.check()
    context = describe() if describe is not None else workload.summary()
    assert result.verdict == "ok", f"{result.explain()}\n{context}"
    return result
