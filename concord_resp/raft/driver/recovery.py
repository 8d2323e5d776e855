"""Recovery at start-up: the Raft log and hard state rebuilt from the write-ahead log.

`recover` replays every segment (the WAL checks each record's CRC and truncates a torn tail),
rebuilds the log the records describe (`rebuild_log`: a later entry at an index already held
replaces that suffix, a snapshot mark replaces everything before it), has the application
restore the newest snapshot the log joins, and loads the result into the `MemoryStorage`.
It never guesses: a gap between entries, or a commit index past the log's end, stops start-up
with an error naming the directory (`WalCorruptError`), because going on would lose or invent
committed entries.

With the node's promise file, the log rebuilt must reach the promise (raft/core/promise.py):
a log ending before it (a truncated tail, an emptied or missing segment, a deleted `wal/`) or
a hard state of an older term stops start-up with `BrokenPromiseError`, naming what is missing
and how many acknowledged entries are gone, unless the operator accepts the loss (the promise
then comes down to what is left). Nothing is cut or rewritten before that check: a torn tail
is cut only after it, and its warning says "never acknowledged" only when the cut lies past
the promise, which is the only case where that is known.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from ..core import (
    BrokenPromise,
    ConfState,
    Entry,
    HardState,
    MemoryStorage,
    Promise,
    Snapshot,
    SnapshotMeta,
    check_promise,
)
from .promise_file import PromiseFile
from .snapshot_file import SnapshotInfo
from .wal import MAGIC, SnapshotMark, WalCorruptError, WriteAheadLog

log = logging.getLogger("concord.wal")


class BrokenPromiseError(WalCorruptError):
    """The log ends before the node's promise: acknowledged entries (or a vote) are gone."""

    def __init__(self, message: str, broken: BrokenPromise) -> None:
        super().__init__(message)
        self.broken = broken


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
    wal: WriteAheadLog,
    storage: MemoryStorage,
    restore: RestoreSnapshot,
    promise: PromiseFile | None = None,
    *,
    accept_data_loss: bool = False,
) -> SnapshotInfo | None:
    """Load what the log and the snapshots hold into `storage`; returns the snapshot
    restored, if any. The WAL is then open for appending after the last entry."""
    directory = wal.directory
    records = await trio.to_thread.run_sync(lambda: list(wal.replay(cut=False)))
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
    if promise is not None:
        await trio.to_thread.run_sync(
            keep_promise, wal, promise, hard_state, storage.last_index(), accept_data_loss
        )
    elif wal.torn_tail is not None:
        wal.cut_torn_tail("a write cut short; whether it was acknowledged is not known")
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


def keep_promise(
    wal: WriteAheadLog,
    promise: PromiseFile,
    hard_state: HardState | None,
    last_index: int,
    accept_data_loss: bool,
) -> None:
    """Check the recovered log against the promise, then cut a torn tail saying what it was
    (see the module doc). A promise made at this start (a new or older data directory) has
    nothing to check; it is raised to what the log holds."""
    term = hard_state.term if hard_state is not None else 0
    voted = hard_state is not None and hard_state.voted_for is not None
    if promise.created:
        wal.cut_torn_tail(
            "a write cut short; this data directory had no promise record yet, so whether it"
            " was acknowledged is not known"
        )
        promise.record(Promise(term, last_index, voted))
        return
    broken = check_promise(promise.promise, term, last_index, voted)
    if broken is None:
        wal.cut_torn_tail(
            f"a write that was never acknowledged: the log still reaches entry"
            f" {promise.promise.index}, the last this node acknowledged"
        )
        return
    what = f"{describe_log_end(wal, last_index)}, but this node had promised more ({promise.path}"
    vote = ", with a vote" if promise.promise.voted else ""
    what += f" says: entry {promise.promise.index}, term {promise.promise.term}{vote}): "
    what += broken.describe()
    if not accept_data_loss:
        raise BrokenPromiseError(what, broken)
    log.warning("%s; starting anyway (--accept-data-loss): they are lost", what)
    wal.cut_torn_tail("part of what was lost")
    promise.record(Promise(term, last_index, voted))


def describe_log_end(wal: WriteAheadLog, last_index: int) -> str:
    """Where the log read back ends, in the words an operator needs to find it."""
    directory = wal.directory
    segments = wal.segments()
    if not segments:
        return (
            f"{directory} holds no log segment (deleted or emptied), so the log ends at"
            f" entry {last_index}"
        )
    last = segments[-1]
    torn = wal.torn_tail
    size = last.stat().st_size if torn is None or torn.path != last else torn.offset
    if size <= len(MAGIC):
        return f"the last log segment {last} is empty, and the log ends at entry {last_index}"
    return f"the log ends at entry {last_index} (last segment {last}, {size} bytes intact)"
