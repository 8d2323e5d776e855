"""The two SHA-1 operations Redis's DEBUG DIGEST is built from (debug.c), and nothing else.

`xor_digest(d, s)` XORs SHA-1(s) into the 20-byte digest `d`; `mix_digest(d, s)` does that and
then replaces `d` with SHA-1(d). The dataset digest (`store.digest`) and each value type's
digest term (`ValueType.mix_digest`) are written with these, so that the same data gives the
same 40 hex digits in Concord and in Redis. Pure functions of their arguments.
"""

from __future__ import annotations

from hashlib import sha1
from typing import Final

DIGEST_SIZE: Final = 20
EMPTY_DIGEST: Final = bytes(DIGEST_SIZE)


def xor_digest(digest: bytes, data: bytes | bytearray) -> bytes:
    """Redis's `xorDigest`: order-independent (XOR commutes)."""
    return (int.from_bytes(digest, "big") ^ int.from_bytes(sha1(data).digest(), "big")).to_bytes(
        DIGEST_SIZE, "big"
    )


def mix_digest(digest: bytes, data: bytes | bytearray) -> bytes:
    """Redis's `mixDigest`: order-dependent (the result is hashed again)."""
    return sha1(xor_digest(digest, data)).digest()
