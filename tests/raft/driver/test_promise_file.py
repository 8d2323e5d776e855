"""The promise file on disk: made whole, updated in place in two alternating slots, a torn
update falls back to the promise before it, and another node's file is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from concord_resp.raft.core import NOTHING_PROMISED, Promise
from concord_resp.raft.driver.promise_file import (
    FILE_SIZE,
    SLOT_OFFSETS,
    PromiseFile,
    PromiseFileError,
    identity,
)

ME = identity("n1", "cluster-a")


def test_a_new_file_holds_its_promise_and_reopens_with_the_latest_one(tmp_path: Path) -> None:
    path = tmp_path / "promise"
    made = PromiseFile.create(path, ME)
    assert made.created
    assert made.promise == NOTHING_PROMISED
    assert path.stat().st_size == FILE_SIZE
    for index in range(1, 6):
        made.record(Promise(2, index * 10))
    made.close()
    again = PromiseFile.open(path, ME)
    assert not again.created
    assert again.promise == Promise(2, 50)
    again.record(Promise(3, 20, voted=True))  # lowered (a conflict), a new term, a vote
    again.close()
    assert PromiseFile.open(path, ME).promise == Promise(3, 20, voted=True)
    assert path.stat().st_size == FILE_SIZE  # updated in place, never grown


def test_updates_take_turns_between_the_two_slots(tmp_path: Path) -> None:
    path = tmp_path / "promise"
    made = PromiseFile.create(path, ME)
    made.record(Promise(1, 7))
    first = path.read_bytes()
    made.record(Promise(1, 8))
    second = path.read_bytes()
    made.close()
    changed = [
        offset
        for offset in SLOT_OFFSETS
        if first[offset : offset + 64] != second[offset : offset + 64]
    ]
    assert len(changed) == 1  # one slot written, the other still holds the promise before


@pytest.mark.parametrize("keep", [0, 10, 30, 51])
def test_a_torn_update_falls_back_to_the_promise_before_it(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "promise"
    made = PromiseFile.create(path, ME)
    made.record(Promise(1, 7))
    before = path.read_bytes()
    made.record(Promise(1, 8))
    after = path.read_bytes()
    made.close()
    offset = next(o for o in SLOT_OFFSETS if before[o : o + 64] != after[o : o + 64])
    # The crash left only the first `keep` bytes of the new slot written.
    torn = bytearray(after)
    torn[offset + keep : offset + 64] = before[offset + keep : offset + 64]
    path.write_bytes(bytes(torn))
    assert PromiseFile.open(path, ME).promise == Promise(1, 7)


def test_another_nodes_or_clusters_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "promise"
    PromiseFile.create(path, identity("n2", "cluster-a"), Promise(1, 5)).close()
    with pytest.raises(PromiseFileError, match="belongs to another node or cluster"):
        PromiseFile.open(path, ME)
    PromiseFile.create(path, identity("n1", "cluster-b"), Promise(1, 5)).close()
    with pytest.raises(PromiseFileError, match="belongs to another node or cluster"):
        PromiseFile.open(path, ME)


def test_a_missing_or_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "promise"
    with pytest.raises(PromiseFileError, match="is missing"):
        PromiseFile.open(path, ME)
    path.write_bytes(os.urandom(FILE_SIZE))
    with pytest.raises(PromiseFileError, match="damaged"):
        PromiseFile.open(path, ME)
    path.write_bytes(b"")
    with pytest.raises(PromiseFileError, match="damaged"):
        PromiseFile.open(path, ME)
