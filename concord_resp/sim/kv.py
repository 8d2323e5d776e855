"""The simulated cluster's replicated state machine: a few Redis string keys plus sessions.

Commands are GET (served locally after a ReadIndex, never logged), SET, APPEND and INCR,
with Redis's replies ("OK", the new length, the new integer, an error for INCR on a value
that is not an integer). Every write carries the client's session id and sequence number;
the session table (the last sequence number applied per client and its reply) is replicated
state and part of snapshots, so a command retried after a timeout or a leader change is
applied once and answered with its first reply (Raft thesis 6.3). With `ignore_sessions`
(the simulator's APPLY_RETRY_TWICE bug switch) a retried command is applied again.

Deterministic: the state and its digest depend only on the commands applied, in order.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass

from concord_resp.checker import Value

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Command:
    client: int
    seq: int
    kind: str  # "set", "append" or "incr"
    key: bytes
    value: bytes  # the argument of set/append; empty for incr

    def encode(self) -> bytes:
        return b"%d|%d|%s|%s|%s" % (
            self.client,
            self.seq,
            self.kind.encode(),
            self.key,
            self.value,
        )

    @classmethod
    def decode(cls, data: bytes) -> Command:
        client, seq, kind, key, value = data.split(b"|", 4)
        return cls(int(client), int(seq), kind.decode(), key, value)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a write answered: ok with Redis's reply, or an error (no effect)."""

    ok: bool
    output: Value = None


STALE = Reply(ok=False, output="ERR stale sequence number")  # an older retry, not applied


def parse_integer(raw: bytes) -> int | None:
    """Redis's strict integer parse for INCR: digits, optional '-', no leading zeros."""
    digits = raw[1:] if raw.startswith(b"-") else raw
    if not digits.isdigit() or len(digits) > 19 or (digits.startswith(b"0") and raw != b"0"):
        return None
    number = int(raw)
    return number if INT64_MIN <= number <= INT64_MAX else None


class KeyValue:
    def __init__(self, *, ignore_sessions: bool = False) -> None:
        self.data: dict[bytes, bytes] = {}
        self.sessions: dict[int, tuple[int, Reply]] = {}  # client -> (last seq, its reply)
        self.applied = 0
        self.ignore_sessions = ignore_sessions
        self._digest: str | None = None

    # -- applying ------------------------------------------------------------------------

    def apply(self, index: int, command: Command) -> Reply:
        """Apply a committed write at `index`; returns the reply for its client."""
        self.applied = index
        session = self.sessions.get(command.client)
        if session is not None and not self.ignore_sessions:
            last_seq, last_reply = session
            if command.seq == last_seq:
                return last_reply  # a retry of the command applied last: answer it again
            if command.seq < last_seq:
                return STALE
        reply = self._execute(command)
        self.sessions[command.client] = (command.seq, reply)
        self._digest = None
        return reply

    def skip(self, index: int) -> None:
        """An entry with no command (a leader's no-op, a membership change)."""
        self.applied = index

    def _execute(self, command: Command) -> Reply:
        key = command.key
        if command.kind == "set":
            self.data[key] = command.value
            return Reply(ok=True, output="OK")
        if command.kind == "append":
            value = self.data.get(key, b"") + command.value
            self.data[key] = value
            return Reply(ok=True, output=len(value))
        if command.kind == "incr":
            current = parse_integer(self.data.get(key, b"0"))
            if current is None or current + 1 > INT64_MAX:
                return Reply(ok=False, output="ERR value is not an integer or out of range")
            self.data[key] = b"%d" % (current + 1)
            return Reply(ok=True, output=current + 1)
        raise ValueError(f"unknown command {command.kind!r}")

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def session_reply(self, client: int, seq: int) -> Reply | None:
        """The reply of (client, seq) if it is the last command applied for that client."""
        session = self.sessions.get(client)
        if session is not None and session[0] == seq:
            return session[1]
        return None

    # -- snapshots and digests ----------------------------------------------------------

    def _canonical(self) -> tuple[object, ...]:
        sessions = tuple(
            (client, seq, reply.ok, reply.output)
            for client, (seq, reply) in sorted(self.sessions.items())
        )
        return (tuple(sorted(self.data.items())), sessions)

    def encode(self) -> bytes:
        """The snapshot payload: data and session table (the index is the snapshot's)."""
        return repr(self._canonical()).encode()

    def restore(self, index: int, payload: bytes) -> None:
        data, sessions = ast.literal_eval(payload.decode()) if payload else ((), ())
        self.data = dict(data)
        self.sessions = {
            client: (seq, Reply(ok=ok, output=output)) for client, seq, ok, output in sessions
        }
        self.applied = index
        self._digest = None

    def digest(self) -> str:
        """A digest of the state (not of the index): equal states, equal digests."""
        if self._digest is None:
            self._digest = hashlib.blake2b(
                repr(self._canonical()).encode(), digest_size=8
            ).hexdigest()
        return self._digest
