"""Keys into a cluster through its log: RESTORE ... REPLACE ABSTTL, pipelined in batches.

What `restore` and `import-rdb` share. A batch (up to BATCH_COMMANDS commands or
BATCH_BYTES bytes of payloads) is sent in one write and its replies read together, so the
cluster commits many keys per log round; two batches are in flight (the cluster commits one
while the tool builds the next), so the tool holds at most three in memory.
A database change is a SELECT inside the batch. The first refused command stops the load
with an error naming the key (keys before it are loaded; running it again is safe: every
RESTORE replaces).
"""

from __future__ import annotations

from typing import Final

from ..server.resp_client import Connection, ToolError

BATCH_COMMANDS: Final = 500
BATCH_BYTES: Final = 4 << 20


class BulkLoader:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.keys = 0  # loaded (acknowledged) so far
        self.db = 0
        self._batch: list[tuple[bytes, ...]] = []
        self._labels: list[str] = []
        self._bytes = 0
        self._in_flight: list[tuple[list[tuple[bytes, ...]], list[str]]] = []
        self._draining = False

    def select(self, db: int) -> None:
        if db != self.db:
            self._add(("SELECT", str(db)), f"SELECT {db}", 0)
            self.db = db

    def restore(self, db: int, key: bytes, expires_ms: int | None, payload: bytes) -> None:
        """RESTORE key (its absolute expiry, 0: none) payload, replacing what is there."""
        self.select(db)
        ttl = b"%d" % expires_ms if expires_ms else b"0"
        command = (b"RESTORE", key, ttl, payload, b"REPLACE", b"ABSTTL")
        self._add(command, f"key {key!r} (database {db})", len(payload) + len(key))

    def command(self, *args: bytes | str, label: str) -> None:
        """Any other command in the stream (FUNCTION RESTORE, ACL SETUSER)."""
        self._add(tuple(a.encode() if isinstance(a, str) else a for a in args), label, 0)

    def _add(self, command: tuple[bytes | str, ...], label: str, size: int) -> None:
        self._batch.append(tuple(a.encode() if isinstance(a, str) else a for a in command))
        self._labels.append(label)
        self._bytes += size
        if len(self._batch) >= BATCH_COMMANDS or self._bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Send the batch being built; check the one sent before it. Two batches are in
        flight, so the cluster commits one while the tool builds the next."""
        if self._batch:
            batch, labels = self._batch, self._labels
            self._batch, self._labels, self._bytes = [], [], 0
            self.connection.send(batch)
            self._in_flight.append((batch, labels))
        while len(self._in_flight) > (0 if self._draining else 1):
            self._check(*self._in_flight.pop(0))

    def finish(self) -> None:
        """Send what is left and wait for every reply."""
        self._draining = True
        self.flush()

    def _check(self, batch: list[tuple[bytes, ...]], labels: list[str]) -> None:
        replies = self.connection.read(len(batch))
        for command, label, reply in zip(batch, labels, replies, strict=True):
            if isinstance(reply, ToolError):
                raise ToolError(f"{label} refused: {reply}")
            if command[0] == b"RESTORE":
                self.keys += 1
