"""The dataset fingerprint of `DEBUG DIGEST` and `DEBUG DIGEST-VALUE`, as Redis computes it.

Redis's algorithm (debug.c), so that the same data gives the same 40 hex digits in Concord and
in Redis: `xor(d, s)` XORs SHA-1(s) into the 20-byte digest `d`, and `mix(d, s)` does that and
then replaces `d` with SHA-1(d). A key's digest mixes its name (dataset digest only), its type
as a 4-byte big-endian number (0 for strings) and its value, then XORs in SHA-1("!!expire!!")
if the key has a time to live. A database with keys mixes its number into the total, and
`xor(total, key digest)` adds each key, so the order of keys does not matter. An empty dataset is all
zeros.

Keys whose time has passed but that are still stored count, as in Redis: the digest is of the
stored state, which every replica has alike at the same applied index.
"""

from __future__ import annotations

from hashlib import sha1
from typing import Final

from .keyspace import Database, Keyspace

DIGEST_SIZE: Final = 20
_STRING_TYPE: Final = (0).to_bytes(4, "big")
_EXPIRE_MARK: Final = sha1(b"!!expire!!").digest()


def _xor(digest: bytes, other: bytes) -> bytes:
    return (int.from_bytes(digest, "big") ^ int.from_bytes(other, "big")).to_bytes(
        DIGEST_SIZE, "big"
    )


def _mix(digest: bytes, data: bytes) -> bytes:
    return sha1(_xor(digest, sha1(data).digest())).digest()


def value_digest(db: Database, key: bytes, *, with_name: bool = False) -> bytes:
    """A stored key's digest (`DEBUG DIGEST-VALUE`; with its name, the dataset's term);
    all zeros for a key that is not stored."""
    value = db.data.get(key)
    if value is None:
        return bytes(DIGEST_SIZE)
    digest = bytes(DIGEST_SIZE)
    if with_name:
        digest = _mix(digest, key)
    digest = _mix(_mix(digest, _STRING_TYPE), bytes(value))
    if key in db.expires:
        digest = _xor(digest, _EXPIRE_MARK)
    return digest


def dataset_digest(keyspace: Keyspace) -> bytes:
    """`DEBUG DIGEST`: every stored key of every database."""
    total = bytes(DIGEST_SIZE)
    for number, db in enumerate(keyspace.dbs):
        if not db.data:
            continue
        total = _mix(total, number.to_bytes(4, "big"))
        for key in db.data:
            total = _xor(total, sha1(value_digest(db, key, with_name=True)).digest())
    return total
