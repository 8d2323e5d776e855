"""The dataset fingerprint of `DEBUG DIGEST` and `DEBUG DIGEST-VALUE`, as Redis computes it.

A key's digest mixes its name (dataset digest only), its type's Redis number as 4 big-endian
bytes and its value's term (`ValueType.mix_digest`), then XORs in "!!expire!!" if the key has
a time to live. A database with keys mixes its number into the total and XORs in each key, so
the order of keys does not matter; an empty dataset is all zeros. Keys whose time has passed
but that are still stored count, as in Redis: the digest is of the stored state, which every
replica has alike at the same applied index.
"""

from __future__ import annotations

from .fingerprint import EMPTY_DIGEST, mix_digest, xor_digest
from .keyspace import Database, Keyspace
from .types import value_type


def value_digest(db: Database, key: bytes, *, with_name: bool = False) -> bytes:
    """A stored key's digest (`DEBUG DIGEST-VALUE`; with its name, the dataset's term);
    all zeros for a key that is not stored."""
    value = db.data.get(key)
    if value is None:
        return EMPTY_DIGEST
    digest = EMPTY_DIGEST
    if with_name:
        digest = mix_digest(digest, key)
    kind = value_type(value)
    digest = kind.mix_digest(mix_digest(digest, kind.redis_type.to_bytes(4, "big")), value)
    if key in db.expires:
        digest = xor_digest(digest, b"!!expire!!")
    return digest


def dataset_digest(keyspace: Keyspace) -> bytes:
    """`DEBUG DIGEST`: every stored key of every database."""
    total = EMPTY_DIGEST
    for number, db in enumerate(keyspace.dbs):
        if not db.data:
            continue
        total = mix_digest(total, number.to_bytes(4, "big"))
        for key in db.data:
            total = xor_digest(total, value_digest(db, key, with_name=True))
    return total
