"""`Database.changing`, the only way to change a stored value in place: on leaving the block
the key counts as changed (its version, which WATCH compares), a value is created when asked,
and a collection left empty is deleted as DEL deletes. Collections are played by a test-only
type registered here, so no real Redis type is invented."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from concord_resp.store import Database, Keyspace
from concord_resp.store.digest import dataset_digest
from concord_resp.store.fingerprint import mix_digest
from concord_resp.store.types import ValueType, register, type_for_tag, unregister, value_type


class Bag(list[bytes]):
    """A test-only collection value."""


class BagType(ValueType[Bag]):
    name = b"test-bag"
    redis_type = 99
    tag = "test-bag"
    classes = (Bag,)

    def encoding(self, value: Bag) -> tuple[bytes, int]:
        return b"test", 1

    def mix_digest(self, digest: bytes, value: Bag) -> bytes:
        for item in value:
            digest = mix_digest(digest, item)
        return digest

    def to_snapshot(self, value: Bag) -> Any:
        return list(value)

    def from_snapshot(self, payload: Any) -> Bag:
        return Bag(payload)

    def duplicate(self, value: Bag) -> Bag:
        return Bag(value)

    def estimated_size(self, value: Bag) -> int:
        return 16 + sum(len(item) for item in value)

    def is_empty(self, value: Bag) -> bool:
        return not value


@pytest.fixture(autouse=True)
def bag_type() -> Iterator[ValueType[Bag]]:
    registered = register(BagType())
    yield registered
    unregister(registered)


def test_the_registry_finds_a_registered_type_by_class_and_tag(bag_type: BagType) -> None:
    assert value_type(Bag()) is bag_type
    assert type_for_tag("test-bag") is bag_type
    with pytest.raises(ValueError, match="overlaps a registered one"):
        register(BagType())  # its class, tag and name are taken


def test_an_in_place_change_bumps_the_version_and_the_access_time() -> None:
    db = Database()
    db.get_for_write(b"k", 1000)
    db.set(b"k", Bag([b"a"]), 1)
    db.override_encoding(b"k", b"other", 1)
    db.get_for_write(b"k", 2000)
    with db.changing(b"k", 5) as bag:
        assert isinstance(bag, Bag)
        bag.append(b"b")
    assert db.data[b"k"] == [b"a", b"b"]
    assert db.versions[b"k"] == 5
    assert db.last_access(b"k") == 2000
    assert db.encoding_override(b"k") is None


def test_watch_sees_an_in_place_change() -> None:
    db = Database()
    db.set(b"k", Bag([b"a"]), 1)
    watched = db.watch_state(b"k", 0)
    assert watched == (1, True)
    with db.changing(b"k", 7) as bag:
        bag.append(b"b")
    assert db.watch_state(b"k", 0) == (7, True) != watched


def test_a_collection_left_empty_is_deleted_with_a_tombstone() -> None:
    db = Database()
    db.set(b"k", Bag([b"a"]), 1)
    db.set_expiry(b"k", 9000, 1)
    db.scan_order()
    with db.changing(b"k", 4) as bag:
        bag.remove(b"a")
    assert b"k" not in db.data
    assert db.ttl_ms(b"k") is None
    assert list(db.scan_order()) == []
    assert db.watch_state(b"k", 0) == (4, False)
    assert db.tombstones == {b"k": 4}


def test_create_stores_a_new_value_for_a_missing_key() -> None:
    db = Database()
    db.set(b"k", Bag([b"x"]), 1)
    db.delete(b"k", 2)
    with db.changing(b"k", 3, create=Bag) as bag:
        bag.append(b"new")
    assert db.data == {b"k": [b"new"]}
    assert type(db.data[b"k"]) is Bag
    assert db.watch_state(b"k", 0) == (3, True)
    assert b"k" not in db.tombstones
    with db.changing(b"k", 4, create=Bag) as same:  # an existing value is not replaced
        assert same is db.data[b"k"]


def test_a_value_created_but_left_empty_is_not_kept() -> None:
    db = Database()
    with db.changing(b"k", 3, create=Bag):
        pass
    assert db.data == {}
    assert db.watch_state(b"k", 0) == (3, False)


def test_without_create_the_key_must_exist() -> None:
    with pytest.raises(KeyError), Database().changing(b"missing", 1):
        pass


def test_a_block_that_raises_still_counts_as_a_change() -> None:
    db = Database()
    db.set(b"k", Bag([b"a"]), 1)

    def change_half_way() -> None:
        with db.changing(b"k", 2) as bag:
            bag.append(b"half")
            raise RuntimeError("a bug half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        change_half_way()
    assert db.versions[b"k"] == 2


def test_a_key_deleted_inside_the_block_stays_deleted() -> None:
    db = Database()
    db.set(b"k", Bag([b"a"]), 1)
    with db.changing(b"k", 2):
        db.delete(b"k", 2)
    assert db.data == {}
    assert db.watch_state(b"k", 0) == (2, False)


def test_strings_are_never_empty() -> None:
    db = Database()
    db.set(b"k", bytearray(b"ab"), 1)
    with db.changing(b"k", 2) as raw:
        assert isinstance(raw, bytearray)
        raw.clear()
    assert db.data == {b"k": bytearray()}
    assert db.versions[b"k"] == 2


def test_the_digest_uses_the_type_of_each_value() -> None:
    keyspace = Keyspace()
    keyspace.dbs[0].set(b"k", Bag([b"a", b"b"]), 1)
    first = dataset_digest(keyspace)
    with keyspace.dbs[0].changing(b"k", 2) as bag:
        bag.reverse()
    assert dataset_digest(keyspace) not in (first, bytes(20))
