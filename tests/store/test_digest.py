"""The DEBUG DIGEST fingerprint: Redis's algorithm (compared byte for byte with a real Redis in
compat/scenarios/debug_digest.txt); here its properties."""

from __future__ import annotations

from concord_resp.store import Keyspace
from concord_resp.store.digest import dataset_digest, value_digest


def filled(order: list[tuple[int, bytes, bytes]]) -> Keyspace:
    keyspace = Keyspace()
    for index, (db, key, value) in enumerate(order, start=1):
        keyspace.dbs[db].set(key, value, index)
    return keyspace


def test_an_empty_dataset_is_all_zeros() -> None:
    assert dataset_digest(Keyspace()) == bytes(20)


def test_the_order_of_writes_does_not_matter_but_every_byte_does() -> None:
    items = [(0, b"a", b"1"), (0, b"b", b"2"), (5, b"a", b"1")]
    first = dataset_digest(filled(items))
    assert first == dataset_digest(filled(list(reversed(items))))
    assert first != dataset_digest(filled([(0, b"a", b"1"), (0, b"b", b"3"), (5, b"a", b"1")]))
    assert first != dataset_digest(filled([(0, b"a", b"1"), (0, b"b", b"2"), (6, b"a", b"1")]))


def test_a_ttl_changes_the_digest_and_a_stored_expired_key_still_counts() -> None:
    keyspace = filled([(0, b"k", b"v")])
    plain = dataset_digest(keyspace)
    db = keyspace.dbs[0]
    db.set_expiry(b"k", 1, 2)  # long past: logically gone, still stored until deleted
    assert dataset_digest(keyspace) not in (plain, bytes(20))
    assert value_digest(db, b"k") != bytes(20)
    assert value_digest(db, b"missing") == bytes(20)
