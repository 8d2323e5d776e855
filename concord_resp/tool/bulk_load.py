"""Keys into a cluster through its log: RESTORE ... REPLACE ABSTTL, pipelined in batches.

What `restore` and `import-rdb` share. A batch (up to BATCH_COMMANDS commands or
BATCH_BYTES bytes of payloads) is sent in one write and its replies read together, so the
cluster commits many keys per log round; two batches are in flight (the cluster commits one
while the tool builds the next), so the tool holds at most three in memory. Each batch opens
with a SELECT of its database (and has one wherever the database changes), so a batch means
the same whenever it is sent.

Every command sent is idempotent (RESTORE and FUNCTION RESTORE replace, ACL SETUSER resets
first), so a command refused for a passing reason (no leader during an election, a write or
read timeout, a node loading) is sent again, up to RETRIES times with a growing pause. Any
other refusal stops the load with an error naming the key; the keys before it are loaded,
and running the load again is safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..server.resp_client import Connection, ToolError

BATCH_COMMANDS: Final = 500
BATCH_BYTES: Final = 4 << 20
RETRIES: Final = 10
FIRST_PAUSE: Final = 0.1  # seconds, doubled at each retry up to LONGEST_PAUSE
LONGEST_PAUSE: Final = 2.0
PASSING: Final = ("CLUSTERDOWN", "TIMEOUT", "LOADING", "TRYAGAIN")
"""Error codes that say "not now" (README: Errors clients see), not "never"."""


@dataclass(frozen=True, slots=True)
class _Item:
    command: tuple[bytes, ...]
    db: int
    label: str
    is_key: bool


_Wire = tuple[list[tuple[bytes, ...]], list[_Item | None]]  # commands sent, their items


class BulkLoader:
    def __init__(
        self, connection: Connection, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.connection = connection
        self.sleep = sleep
        self.keys = 0  # loaded (acknowledged) so far
        self._db = 0  # of the last command added
        self._batch: list[_Item] = []
        self._bytes = 0
        self._in_flight: list[_Wire] = []

    def restore(self, db: int, key: bytes, expires_ms: int | None, payload: bytes) -> None:
        """RESTORE key (its absolute expiry, 0: none) payload, replacing what is there."""
        ttl = b"%d" % expires_ms if expires_ms else b"0"
        command = (b"RESTORE", key, ttl, payload, b"REPLACE", b"ABSTTL")
        self._add(_Item(command, db, f"key {key!r} (database {db})", True), len(payload))

    def command(self, *args: bytes | str, label: str) -> None:
        """Any other command in the stream (FUNCTION RESTORE, ACL SETUSER)."""
        command = tuple(a.encode() if isinstance(a, str) else a for a in args)
        self._add(_Item(command, self._db, label, False), 0)

    def _add(self, item: _Item, size: int) -> None:
        self._batch.append(item)
        self._db = item.db
        self._bytes += size
        if len(self._batch) >= BATCH_COMMANDS or self._bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Send the batch being built; check the ones sent before it, so that two stay in
        flight (the cluster commits one while the tool builds the next)."""
        if self._batch:
            self._in_flight.append(self._send(self._batch))
            self._batch, self._bytes = [], 0
        while len(self._in_flight) > 1:
            self._check(self._in_flight.pop(0))

    def finish(self) -> None:
        """Send what is left and wait for every reply."""
        self.flush()
        while self._in_flight:
            self._check(self._in_flight.pop(0))

    def _send(self, items: list[_Item]) -> _Wire:
        commands: list[tuple[bytes, ...]] = []
        owners: list[_Item | None] = []
        db: int | None = None
        for item in items:
            if item.db != db:
                db = item.db
                commands.append((b"SELECT", b"%d" % db))
                owners.append(None)
            commands.append(item.command)
            owners.append(item)
        self.connection.send(commands)
        return commands, owners

    def _check(self, wire: _Wire) -> None:
        """Read a batch's replies; send again what was refused for a passing reason."""
        again = self._refused(wire)
        pause = FIRST_PAUSE
        for _ in range(RETRIES):
            if not again:
                return
            # What is still in flight answers first: read it, so the replies stay in step.
            while self._in_flight:
                again += self._refused(self._in_flight.pop(0))
            self.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
            retried = self._send([item for item, _ in again])
            again = self._refused(retried)
        if again:
            item, error = again[0]
            raise ToolError(f"{item.label} refused: {error} (tried {RETRIES + 1} times)")

    def _refused(self, wire: _Wire) -> list[tuple[_Item, ToolError]]:
        """The items of a batch refused for a passing reason; raises for any other refusal."""
        commands, owners = wire
        passing: list[tuple[_Item, ToolError]] = []
        for command, owner, reply in zip(
            commands, owners, self.connection.read(len(commands)), strict=True
        ):
            if not isinstance(reply, ToolError):
                self.keys += owner is not None and owner.is_key
                continue
            if owner is not None and str(reply).startswith(PASSING):
                passing.append((owner, reply))
                continue
            label = owner.label if owner is not None else command[0].decode()
            raise ToolError(f"{label} refused: {reply}")
        return passing
