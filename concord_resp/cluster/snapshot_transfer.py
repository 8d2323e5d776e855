"""InstallSnapshot over the peer link (issue 5): the leader streams a snapshot file in chunks,
the follower writes them to a temporary file, checks the whole file and installs it.

Frames (`peer_protocol`), on the same links as Raft messages:

- leader to follower: `SnapshotChunk(transfer, seq, chunk, message)`. `transfer` names one
  stream, `seq` counts its chunks from 0, `chunk` holds at most `CHUNK_BYTES` of the file.
  `message` is None except on the last chunk, which carries the Raft InstallSnapshot message
  (encoded): the follower steps it into its core only once the file is on disk and checked.
- follower to leader: `SnapshotAck(transfer, seq, error)`: chunk `seq` is written (`error`
  None; for the last chunk, the snapshot is checked and installed as a file), or the
  transfer failed and `error` says why.

Flow control: at most `WINDOW` chunks are unacknowledged, so a transfer holds a few megabytes
of memory whatever the snapshot's size, and the leader's Raft traffic to that follower is
never stuck behind a whole file. A stream whose acknowledgement does not come within
`timeout` seconds fails; the leader reports the outcome to Raft, which sends the snapshot
again later. The follower writes and checks in worker threads, the leader reads in them: the
event loops of both keep serving clients while a snapshot streams.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import trio

from ..metrics.prometheus import Buckets
from ..raft.driver.transport import Transport
from .peer_protocol import SnapshotAck, SnapshotChunk, encode
from .telemetry import event

log = logging.getLogger("concord.snapshots")

CHUNK_BYTES: Final = 1 << 20
WINDOW: Final = 4


class TransferFailed(Exception):
    """A snapshot stream broke: the reason, for the log."""


class _Outgoing:
    __slots__ = ("acked", "changed", "error", "transfer")

    def __init__(self) -> None:
        self.transfer = secrets.token_hex(8)
        self.acked = -1  # the highest chunk acknowledged
        self.error: str | None = None
        self.changed = trio.Event()


class SnapshotSender:
    """The leader's side: at most one stream per follower."""

    def __init__(
        self,
        transport: Transport,
        nursery: trio.Nursery,
        on_done: Callable[[str, bool], None],
        *,
        timeout: float = 30.0,
        chunk_bytes: int = CHUNK_BYTES,
        durations: Buckets | None = None,
    ) -> None:
        self.transport = transport
        self.nursery = nursery
        self.durations = durations  # of the streams sent whole (seconds)
        self.on_done = on_done  # (follower, success): reported to Raft by the node
        self.timeout = timeout
        self.chunk_bytes = chunk_bytes
        self._streams: dict[str, _Outgoing] = {}
        self.sent = 0  # streams completed (INFO)

    def busy(self, to: str) -> bool:
        return to in self._streams

    def start(self, to: str, path: Path, message: object) -> None:
        """Stream the snapshot file `path` to `to`, then `message` (Raft's InstallSnapshot)."""
        if to in self._streams:
            return  # Raft sends one at a time; a duplicate request waits for the outcome
        stream = self._streams[to] = _Outgoing()
        self.nursery.start_soon(self._run, to, path, message, stream)

    def abort(self, to: str, reason: str) -> None:
        """Fail the stream to `to`, if one runs (its link went down: chunks were lost)."""
        stream = self._streams.get(to)
        if stream is not None:
            stream.error = stream.error or reason
            stream.changed.set()

    def acknowledged(self, sender: str, frame: SnapshotAck) -> None:
        """An acknowledgement from `sender`."""
        stream = self._streams.get(sender)
        if stream is None or frame.transfer != stream.transfer:
            return  # an old stream's
        seq, error = frame.seq, frame.error
        if error is not None:  # the first error says what went wrong
            stream.error = stream.error or f"the follower refused it: {error}"
        elif seq > stream.acked:
            stream.acked = seq
        stream.changed.set()

    async def _run(self, to: str, path: Path, message: object, stream: _Outgoing) -> None:
        success = False
        started = trio.current_time()
        try:
            size = await self._stream(to, path, message, stream)
        except (TransferFailed, OSError) as error:
            log.warning("sending snapshot %s to %s failed: %s", path.name, to, error)
        else:
            success = True
            self.sent += 1
            seconds = trio.current_time() - started
            if self.durations is not None:
                self.durations.observe(seconds)
            event(
                log,
                "snapshot_sent",
                f"sent snapshot {path.name} ({size} bytes) to {to} in {seconds:.2f} s",
                peer=to,
                snapshot=path.name,
                size=size,
                seconds=round(seconds, 3),
            )
        finally:
            del self._streams[to]
            self.on_done(to, success)

    async def _stream(self, to: str, path: Path, message: object, stream: _Outgoing) -> int:
        file = await trio.to_thread.run_sync(open, path, "rb")
        try:
            size = os.fstat(file.fileno()).st_size
            seq = 0
            offset = 0
            while True:
                await self._acked(stream, seq - WINDOW)  # at most WINDOW unacknowledged
                chunk = await trio.to_thread.run_sync(file.read, self.chunk_bytes)
                offset += len(chunk)
                last = offset >= size
                frame = SnapshotChunk(stream.transfer, seq, chunk, message if last else None)
                if not self.transport.send(to, encode(frame)):
                    raise TransferFailed("the link to the follower is full or gone")
                if last:
                    break
                seq += 1
            await self._acked(stream, seq)
            return size
        finally:
            await trio.to_thread.run_sync(file.close)

    async def _acked(self, stream: _Outgoing, seq: int) -> None:
        """Wait until chunk `seq` is acknowledged."""
        while stream.acked < seq:
            if stream.error is not None:
                raise TransferFailed(stream.error)
            stream.changed = trio.Event()
            with trio.move_on_after(self.timeout) as scope:
                await stream.changed.wait()
            if scope.cancelled_caught:
                raise TransferFailed(f"no acknowledgement for {self.timeout:g} s")
        if stream.error is not None:
            raise TransferFailed(stream.error)


class _Incoming:
    __slots__ = ("file", "next_seq", "path", "sender", "started", "transfer")

    def __init__(self, sender: str, transfer: str, path: Path) -> None:
        self.started = trio.current_time()
        self.sender = sender
        self.transfer = transfer
        self.path = path
        self.file: Any = None
        self.next_seq = 0


class SnapshotReceiver:
    """The follower's side: writes one stream at a time to `receive_path(sender)`; on the
    last chunk, syncs the file and hands it to `install(path, message)` (which checks it
    whole, and raises to refuse it)."""

    def __init__(
        self,
        transport: Transport,
        receive_path: Callable[[str], Path],
        install: Callable[[str, Path, object], Awaitable[None]],
        durations: Buckets | None = None,
    ) -> None:
        self.durations = durations  # of the streams received whole (seconds)
        self.transport = transport
        self.receive_path = receive_path
        self.install = install
        self._queue: deque[tuple[str, SnapshotChunk]] = deque()
        self._wake = trio.Event()
        self._current: _Incoming | None = None
        self.received = 0  # snapshots received whole (INFO)

    def offer(self, sender: str, frame: SnapshotChunk) -> None:
        """A chunk (from the event loop; written in order by `run`)."""
        if len(self._queue) > 2 * WINDOW:
            return  # more than the window: not our leader's stream; it times out
        self._queue.append((sender, frame))
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                while not self._queue:
                    self._wake = trio.Event()
                    await self._wake.wait()
                sender, frame = self._queue.popleft()
                await self._chunk(sender, frame)
        finally:
            with trio.CancelScope(shield=True):
                await self._abandon()

    async def _chunk(self, sender: str, frame: SnapshotChunk) -> None:
        transfer, seq, chunk, message = frame.transfer, frame.seq, frame.chunk, frame.message
        current = self._current
        if seq == 0:
            await self._abandon()  # a new stream supersedes any other
            current = self._current = _Incoming(sender, transfer, self.receive_path(sender))
            current.file = await trio.to_thread.run_sync(open, current.path, "wb")
        elif current is None or current.transfer != transfer or current.sender != sender:
            self._ack(sender, transfer, seq, "no such transfer (a chunk was lost)")
            return
        if seq != current.next_seq:
            await self._abandon()
            self._ack(sender, transfer, seq, f"chunk {seq} arrived, {current.next_seq} expected")
            return
        try:
            await trio.to_thread.run_sync(current.file.write, chunk)
            current.next_seq += 1
            if message is None:
                self._ack(sender, transfer, seq, None)
                return
            await trio.to_thread.run_sync(_sync_and_close, current.file)
            current.file = None
            await self.install(sender, current.path, message)
        except Exception as error:  # any failure is reported to the leader
            log.warning("snapshot from %s refused: %s", sender, error)
            await self._abandon()
            self._ack(sender, transfer, seq, str(error) or type(error).__name__)
            return
        self._current = None
        self.received += 1
        if self.durations is not None:
            self.durations.observe(trio.current_time() - current.started)
        self._ack(sender, transfer, seq, None)

    def _ack(self, sender: str, transfer: str, seq: int, error: str | None) -> None:
        self.transport.send(sender, encode(SnapshotAck(transfer, seq, error)))

    async def _abandon(self) -> None:
        current, self._current = self._current, None
        if current is None:
            return
        if current.file is not None:
            await trio.to_thread.run_sync(current.file.close)
        with contextlib.suppress(FileNotFoundError):
            current.path.unlink()


def _sync_and_close(file: Any) -> None:
    file.flush()
    os.fsync(file.fileno())
    file.close()
