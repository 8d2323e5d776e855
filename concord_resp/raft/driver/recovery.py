"""Recovery at start-up: the Raft log and hard state rebuilt from the write-ahead log.

`recover` replays every segment (the WAL checks each record's CRC and truncates a torn tail),
rebuilds the log the records describe (`rebuild_log`: a later entry at an index already held
replaces that suffix, a snapshot mark replaces everything before it), has the application
restore the newest snapshot the log joins, and loads the result into the `MemoryStorage`.
It never guesses: a gap between entries, or a commit index past the log's end, stops start-up
with an error naming the directory (`WalCorruptError`), because going on would lose or invent
committed entries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from ..core import ConfState, Entry, HardState, MemoryStorage, Snapshot, SnapshotMeta
from .snapshot_file import SnapshotInfo
from .wal import SnapshotMark, WalCorruptError, WriteAheadLog

RestoreSnapshot = Callable[[int], Awaitable[SnapshotInfo | None]]
"""Restore the newest readable snapshot at or after the index given (None: none needed)."""


def rebuild_log(
    records: list[Entry | HardState | SnapshotMark], directory: Path
) -> tuple[HardState | None, int, list[Entry]]:
    """The last hard state, the newest snapshot mark (0: none) and the entries after it, as
    the records in file order leave them: an entry at an index already held replaces that
    suffix (a Raft conflict; one before the first entry held replaces them all), a snapshot
    mark replaces everything before it. An entry past the next index is a gap: an error."""
    hard_state: HardState | None = None
    mark = 0
    entries: list[Entry] = []
    for record in records:
        if isinstance(record, HardState):
            hard_state = record
        elif isinstance(record, SnapshotMark):
            mark, entries = record.index, []
        elif entries and entries[0].index <= record.index <= entries[-1].index:
            del entries[record.index - entries[0].index :]  # a conflict: replace the suffix
            entries.append(record)
        elif entries and mark < record.index < entries[0].index:
            # A conflict reaching back before the first entry replayed: the segment that held
            # the entries it replaces was deleted, as a snapshot covers it. It replaces them.
            entries = [record]
        else:
            expected = entries[-1].index + 1 if entries else mark + 1
            if record.index != expected and (entries or mark):
                raise WalCorruptError(
                    f"{directory}: entry {record.index} follows entry {expected - 1}"
                    " (a segment is missing or out of order)"
                )
            entries.append(record)
    return hard_state, mark, entries


async def recover(
    wal: WriteAheadLog, storage: MemoryStorage, restore: RestoreSnapshot
) -> SnapshotInfo | None:
    """Load what the log and the snapshots hold into `storage`; returns the snapshot
    restored, if any. The WAL is then open for appending after the last entry."""
    directory = wal.directory
    records = await trio.to_thread.run_sync(lambda: list(wal.replay()))
    hard_state, mark, entries = rebuild_log(records, directory)
    # The snapshot must reach the log: up to the entry before its first, and at least to an
    # installed snapshot's mark (a fresh log from index 1 needs none).
    need = max(mark, entries[0].index - 1 if entries else 0)
    info = await restore(need)
    if info is not None:
        conf = ConfState(info.voters, info.learners) if info.voters else None
        storage.apply_snapshot(
            Snapshot(SnapshotMeta(info.index, info.term, conf or storage.snapshot.meta.conf_state))
        )
    storage.append(entries)
    if info is not None and (hard_state is None or hard_state.term < info.term):
        # A snapshot installed just before a crash may be newer than the last hard state
        # written: the term is at least the snapshot's (no vote cast in it yet).
        hard_state = HardState(info.term, None, info.index)
    if hard_state is not None:
        # The snapshot is committed, whatever the last hard state written said.
        commit = max(hard_state.commit, storage.snapshot.meta.index)
        if commit > storage.last_index():
            raise WalCorruptError(
                f"{directory}: commit index {commit} is past the last entry {storage.last_index()}"
            )
        storage.set_hard_state(HardState(hard_state.term, hard_state.voted_for, commit))
    wal.open_for_append(storage.last_index() + 1)
    return info
