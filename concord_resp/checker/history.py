"""Client histories: the operations a linearizability check reads, and a recorder for them.

An `Operation` is one client call with its real-time interval and what the client learned:
"ok" (completed; `output` is the reply), "fail" (definitely did not take effect) or "info"
(indeterminate: it may have taken effect, at any moment after `invoke`, or never). Times are
integers from any monotonic clock; only their order matters.

`History` records calls as concurrent clients make them. It never reads a clock of its own:
the caller passes one (logical time in the simulator, `time.monotonic_ns` against real
servers), so both record the same way. Invariants: an ok operation has `invoke <= complete`,
and a process (one client connection) has at most one call in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

Status: TypeAlias = Literal["ok", "fail", "info"]
Value: TypeAlias = bytes | int | str | None
"""An argument or a reply: bytes (SET/APPEND argument, GET reply), int (INCR amount, APPEND
and INCR replies), str ("OK"), or None (no argument, or GET of a missing key)."""

_STATUSES: frozenset[str] = frozenset(("ok", "fail", "info"))


@dataclass(frozen=True, slots=True)
class Operation:
    """One client call on one key, as the client saw it."""

    process: int
    kind: str
    key: bytes
    value: Value
    invoke: int
    complete: int | None
    status: Status
    output: Value = None

    def __post_init__(self) -> None:
        if self.status not in _STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if self.status == "ok" and self.complete is None:
            raise ValueError("an ok operation needs a completion time")
        if self.complete is not None and self.complete < self.invoke:
            raise ValueError(f"operation completes ({self.complete}) before it is invoked")

    def describe(self) -> str:
        """One line for humans: `p3 append(b'k', b'x') -> 4  [10..20]`."""
        argument = "" if self.value is None else f", {self.value!r}"
        call = f"p{self.process} {self.kind}({self.key!r}{argument})"
        if self.status == "ok":
            outcome = f"-> {self.output!r}"
        elif self.status == "fail":
            outcome = "-> failed"
        else:
            outcome = "-> ? (indeterminate)"
        end = "?" if self.complete is None else str(self.complete)
        return f"{call} {outcome}  [{self.invoke}..{end}]"


@dataclass(slots=True)
class _Call:
    process: int
    kind: str
    key: bytes
    value: Value
    invoke: int
    operation: Operation | None = None  # set once the call is resolved


class History:
    """Records invoke/ok/fail/info events from concurrent clients (thread-safe).

    `invoke` returns an id that the same client later resolves with exactly one of `ok`,
    `fail` or `info`. Calls never resolved come out of `operations()` as indeterminate.
    """

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: list[_Call] = []
        self._in_flight: dict[int, int] = {}  # process -> id of its unresolved call

    def invoke(self, process: int, kind: str, key: bytes, value: Value = None) -> int:
        """Record that `process` is about to send a call; read the clock before sending."""
        with self._lock:
            if process in self._in_flight:
                raise ValueError(f"process {process} already has a call in flight")
            op_id = len(self._calls)
            self._calls.append(_Call(process, kind, key, value, self._clock()))
            self._in_flight[process] = op_id
            return op_id

    def ok(self, op_id: int, output: Value) -> None:
        """The call completed and the client received `output`."""
        self._resolve(op_id, "ok", output)

    def fail(self, op_id: int) -> None:
        """The call definitely did not take effect (e.g. an error reply, refused before send)."""
        self._resolve(op_id, "fail", None)

    def info(self, op_id: int) -> None:
        """The outcome is unknown (timeout, connection lost): it may or may not take effect."""
        self._resolve(op_id, "info", None)

    def operations(self) -> list[Operation]:
        """Every call so far, in invocation order; unresolved calls are indeterminate."""
        with self._lock:
            return [
                call.operation
                if call.operation is not None
                else Operation(
                    call.process, call.kind, call.key, call.value, call.invoke, None, "info"
                )
                for call in self._calls
            ]

    def _resolve(self, op_id: int, status: Status, output: Value) -> None:
        with self._lock:
            if not 0 <= op_id < len(self._calls):
                raise ValueError(f"no call with id {op_id}")
            call = self._calls[op_id]
            if call.operation is not None:
                raise ValueError(f"call {op_id} is already resolved")
            complete = None if status == "info" else self._clock()
            call.operation = Operation(
                call.process, call.kind, call.key, call.value, call.invoke, complete, status, output
            )
            del self._in_flight[call.process]
