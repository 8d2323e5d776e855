"""The keyspace's additions for the key commands: access times, encoding overrides,
transfers between keys and databases, SWAPDB's WATCH semantics and tombstones. In-place
changes (`Database.changing`) have their own file, test_changing.py."""

from __future__ import annotations

import pytest

from concord_resp.store import Database, Keyspace
from concord_resp.store import keyspace as keyspace_module


def test_get_records_an_access_and_peek_does_not() -> None:
    db = Database()
    db.get_for_write(b"k", 1000)
    db.set(b"k", b"v", 1)
    assert db.last_access(b"k") == 1000
    assert db.peek(b"k", 5000) == b"v"
    assert db.exists(b"k", 5000)
    assert db.last_access(b"k") == 1000
    assert db.get(b"k", 6000) == b"v"
    assert db.last_access(b"k") == 6000
    assert db.get_for_write(b"k", 7000) == b"v"
    assert db.last_access(b"k") == 7000


def test_expired_keys_are_not_accessed() -> None:
    db = Database()
    db.get_for_write(b"k", 1000)
    db.set(b"k", b"v", 1)
    db.set_expiry(b"k", 1500, 2)
    assert db.get(b"k", 1500) == b"v"
    assert db.get(b"k", 1501) is None
    assert db.peek(b"k", 1501) is None
    assert db.last_access(b"k") == 1500


def test_set_and_changing_record_the_time_of_the_last_write_lookup() -> None:
    db = Database()
    db.get_for_write(b"a", 2000)
    db.set(b"a", bytearray(b"1"), 1)
    db.get_for_write(b"b", 3000)
    db.set(b"b", b"2", 2)
    with db.changing(b"a", 3):
        pass
    assert (db.last_access(b"a"), db.last_access(b"b")) == (3000, 3000)


def test_deleting_a_key_drops_its_access_time_and_override() -> None:
    db = Database()
    for index, key in enumerate((b"a", b"b", b"c"), start=1):
        db.get_for_write(key, 1000)
        db.set(key, b"1", index)
        db.override_encoding(key, b"int", 1)
    db.delete(b"a", 4)
    db.set_expiry(b"b", 1500, 5)
    db.get_for_write(b"b", 2000)  # expired: deleted
    assert set(db.access) == {b"c"}
    assert set(db.encoding_overrides) == {b"c"}
    db.clear(6, now=0)
    assert db.access == {}
    assert db.encoding_overrides == {}


def test_overwriting_a_key_clears_its_override() -> None:
    db = Database()
    db.set(b"k", b"3", 1)
    db.override_encoding(b"k", b"embstr", 1)
    assert db.encoding_override(b"k") == (b"embstr", 1)
    db.set(b"k", b"4", 2)
    assert db.encoding_override(b"k") is None
    db.override_encoding(b"k", b"embstr", 1)
    with db.changing(b"k", 3):
        pass
    assert db.encoding_override(b"k") is None


def test_transfer_carries_value_expiry_and_override() -> None:
    source, target = Database(), Database()
    source.set(b"k", b"7", 1)
    source.set_expiry(b"k", 9000, 1)
    source.override_encoding(b"k", b"int", 1)
    source.scan_order()
    target.scan_order()
    target.get_for_write(b"n", 1000)
    source.transfer(b"k", target, b"n", 5)
    assert source.data == {}
    assert source.expires == {}
    assert len(source.expiry_index) == 0
    assert list(source.scan_order()) == []
    assert source.watch_state(b"k", 1000) == (5, False)
    assert target.data == {b"n": b"7"}
    assert target.ttl_ms(b"n") == 9000
    assert list(target.expiry_index) == [(9000, b"n")]
    assert target.encoding_override(b"n") == (b"int", 1)
    assert target.watch_state(b"n", 1000) == (5, True)
    assert [key for _, key in target.scan_order()] == [b"n"]
    # within one database (RENAME)
    target.transfer(b"n", target, b"m", 6)
    assert target.data == {b"m": b"7"}
    assert target.ttl_ms(b"m") == 9000
    assert target.watch_state(b"n", 1000) == (6, False)


def test_tombstones_record_deletions_and_vanish_on_recreate() -> None:
    db = Database()
    db.set(b"k", b"v", 3)
    db.delete(b"k", 7)
    assert db.watch_state(b"k", 0) == (7, False)
    db.set(b"k", b"v", 9)
    assert b"k" not in db.tombstones
    assert db.watch_state(b"k", 0) == (9, True)


def test_evicted_tombstones_raise_the_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyspace_module, "MAX_TOMBSTONES", 2)
    db = Database()
    for index, key in enumerate((b"a", b"b", b"c"), start=1):
        db.set(key, b"v", index)
    for index, key in enumerate((b"a", b"b", b"c"), start=10):
        db.delete(key, index)
    assert db.tombstone_floor == 10
    assert db.watch_state(b"a", 0) == (10, False)  # never older than it may be
    assert db.watch_state(b"never", 0) == (10, False)


def test_swapdb_changes_keys_of_either_database_only() -> None:
    keyspace = Keyspace()
    first, second = keyspace.dbs[0], keyspace.dbs[1]
    first.set(b"only-first", b"v", 1)
    second.set(b"only-second", b"v", 2)
    first.set(b"both", b"v", 3)
    second.set(b"both", b"w", 4)
    first.set(b"deleted", b"v", 5)
    first.delete(b"deleted", 6)
    keys = (b"only-first", b"only-second", b"both", b"deleted", b"never")
    before = {(n, k): keyspace.dbs[n].watch_state(k, 0) for n in (0, 1) for k in keys}
    keyspace.swap(0, 1, 10)
    after = {(n, k): keyspace.dbs[n].watch_state(k, 0) for n in (0, 1) for k in keys}
    assert keyspace.dbs[0] is second
    assert keyspace.dbs[1] is first
    for n in (0, 1):
        for key in (b"only-first", b"only-second", b"both"):
            assert after[n, key][0] == 10
        assert after[n, b"deleted"] == before[n, b"deleted"]
        assert after[n, b"never"] == before[n, b"never"]
    assert after[0, b"only-first"] == (10, False)
    assert after[0, b"only-second"] == (10, True)


def test_swapping_a_database_with_itself_changes_nothing() -> None:
    keyspace = Keyspace()
    keyspace.dbs[0].set(b"k", b"v", 1)
    keyspace.swap(0, 0, 5)
    assert keyspace.dbs[0].watch_state(b"k", 0) == (1, True)
