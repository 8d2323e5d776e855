"""Concurrent writers that remember what the server acknowledged, and the check afterwards.

Each `Writer` thread owns its keys (so the expected state is known without a history
checker) and cycles through three writes:
- `SET w<n>:s<i> v<i>` on a fresh key: once acknowledged, the key must hold exactly that;
- `INCR w<n>:ctr`: the counter must be at least the last acknowledged value;
- `APPEND w<n>:log t<i>;`: the value must hold every acknowledged token, in order.
A write in flight when the server died may or may not have been applied, so the check allows
exactly that one extra step per writer and nothing else.

Clients never retry (a retried INCR could apply twice) and give up at the first error.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def connect(
    port: int,
    *,
    timeout: float = 10.0,
    password: str | None = None,
    tls: dict[str, object] | None = None,
) -> redis.Redis:
    """A redis-py client for 127.0.0.1:port that never retries behind the test's back (over
    TLS with `tls`: `TlsFiles.redis_kwargs()`)."""
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        password=password,
        **(tls or {}),  # type: ignore[arg-type]
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


@dataclass
class Writer:
    number: int
    acked_sets: dict[bytes, bytes] = field(default_factory=dict)
    counter: int = 0  # last acknowledged INCR result
    tokens: list[bytes] = field(default_factory=list)  # acknowledged APPENDs, in order
    in_flight: tuple[str, bytes, bytes] | None = None
    stopped_by: BaseException | None = None  # the connection error that ended the run
    failure: BaseException | None = None  # a wrong reply: the test must fail

    @property
    def acks(self) -> int:
        return len(self.acked_sets) + self.counter + len(self.tokens)

    def key(self, name: str) -> bytes:
        return b"w%d:%s" % (self.number, name.encode())

    def run(self, port: int, stop: threading.Event) -> None:
        try:
            client = connect(port)
            step = 0
            while not stop.is_set():
                self._write(client, step)
                step += 1
        except (redis.ConnectionError, redis.TimeoutError) as error:
            self.stopped_by = error  # the server went away: stop writing
        except (AssertionError, redis.RedisError) as error:
            self.failure = error

    def _write(self, client: redis.Redis, step: int) -> None:
        kind = ("set", "incr", "append")[step % 3]
        if kind == "set":
            key, value = self.key(f"s{step}"), b"v%d" % step
            self.in_flight = (kind, key, value)
            assert client.set(key, value) is True
            self.acked_sets[key] = value
        elif kind == "incr":
            self.in_flight = (kind, self.key("ctr"), b"")
            reply = client.incr(self.key("ctr"))
            assert reply == self.counter + 1, (reply, self.counter)
            self.counter = reply
        else:
            token = b"t%d;" % step
            self.in_flight = (kind, self.key("log"), token)
            length = client.append(self.key("log"), token)
            self.tokens.append(token)
            assert length == len(b"".join(self.tokens))
        self.in_flight = None

    def problems(self, client: redis.Redis) -> list[str]:
        """What the server holds that contradicts an acknowledgement (empty: all is well)."""
        found = []
        keys = list(self.acked_sets)
        values = client.mget(keys) if keys else []
        for key, value in zip(keys, values, strict=True):
            if value != self.acked_sets[key]:
                found.append(f"{key!r}: acknowledged {self.acked_sets[key]!r}, found {value!r}")
        extra = self.in_flight[0] if self.in_flight else None
        counter = int(client.get(self.key("ctr")) or 0)
        allowed = {self.counter, self.counter + 1} if extra == "incr" else {self.counter}
        if counter not in allowed:
            found.append(f"counter {self.number}: acknowledged {self.counter}, found {counter}")
        log = client.get(self.key("log")) or b""
        acked = b"".join(self.tokens)
        allowed_logs = {acked}
        if self.in_flight and extra == "append":
            allowed_logs.add(acked + self.in_flight[2])
        if log not in allowed_logs:
            found.append(f"append log {self.number}: acknowledged {acked!r}, found {log!r}")
        return found


class Workload:
    """`count` writers on their own connections and threads."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.writers = [Writer(number) for number in range(count)]
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=w.run, args=(port, self.stop), daemon=True)
            for w in self.writers
        ]

    def start(self) -> Workload:
        for thread in self.threads:
            thread.start()
        return self

    def acks(self) -> int:
        return sum(w.acks for w in self.writers)

    def wait_for_acks(self, count: int, timeout: float = 20.0) -> None:
        """Block until the writers have `count` acknowledgements between them."""
        deadline = time.monotonic() + timeout
        while self.acks() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.acks()} of {count} writes acknowledged")
            ended = [w.failure or w.stopped_by for w in self.writers]
            if any(ended):
                raise RuntimeError(f"a writer ended early: {next(e for e in ended if e)!r}")
            time.sleep(0.01)

    def join(self, timeout: float = 20.0) -> None:
        """Stop the writers (they also stop on their own when the server goes away)."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            assert not thread.is_alive(), "a writer did not stop"

    def problems(self, port: int) -> list[str]:
        """Wrong replies seen while writing, then acknowledged writes the server lost."""
        found = [f"writer {w.number}: {w.failure!r}" for w in self.writers if w.failure]
        client = connect(port)
        try:
            return found + [p for w in self.writers for p in w.problems(client)]
        finally:
            client.close()
