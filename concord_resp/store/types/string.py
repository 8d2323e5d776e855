"""The string type: a stored string is `bytes`, or a `bytearray` once changed in place.

A `bytearray` is Redis's "raw" encoding after APPEND/SETRANGE; a `bytes` value is what SET
stored, and its OBJECT ENCODING is what Redis's `tryObjectEncoding` makes of those bytes (int,
embstr or raw; integers 0..9999 are shared objects). Invariant: a stored `bytes` is immutable
and may be shared (COPY shares it); only a `bytearray` is changed in place, and only inside
`Database.changing`. Snapshots keep the difference, so encodings survive a restart.
"""

from __future__ import annotations

from typing import Any, Final, TypeAlias

from ...limits import LLONG_MAX, LLONG_MIN
from ..fingerprint import mix_digest
from .base import ValueType, register

String: TypeAlias = bytes | bytearray
"""A stored string value."""

SHARED_REFCOUNT: Final = 2**31 - 1  # OBJ_SHARED_REFCOUNT: Redis's shared integers 0..9999
SHARED_INTEGERS: Final = 10_000
EMBSTR_LIMIT: Final = 44  # OBJ_ENCODING_EMBSTR_SIZE_LIMIT
LONG_LONG_CHARS: Final = 20  # the longest text tryObjectEncoding tries as a number
OBJECT_HEADER: Final = 16  # sizeof(robj) on 64 bits: type/encoding/lru, refcount, pointer


def as_long_long(text: bytes) -> int | None:
    """The number a string is the canonical decimal text of, within a C `long long`, or None.

    These are exactly the strings Redis's strict `string2ll` accepts ("0", or an optional "-"
    then a non-zero digit then digits): the text must be what `%d` prints for its value.
    """
    try:
        number = int(text)
    except ValueError:
        return None
    if b"%d" % number != text or not LLONG_MIN <= number <= LLONG_MAX:
        return None
    return number


def _sds_header(size: int) -> int:
    """The header of an sds string holding `size` bytes (sdshdr8/16/32/64)."""
    if size < 1 << 8:
        return 3
    if size < 1 << 16:
        return 5
    if size < 1 << 32:
        return 9
    return 17


class StringType(ValueType[String]):
    name = b"string"
    redis_type = 0  # OBJ_STRING
    tag = "string"
    classes = (bytes, bytearray)

    def encoding(self, value: String) -> tuple[bytes, int]:
        if isinstance(value, bytearray):
            return b"raw", 1  # changed in place (APPEND, SETRANGE)
        size = len(value)
        if size <= LONG_LONG_CHARS:
            number = as_long_long(value)
            if number is not None:
                shared = 0 <= number < SHARED_INTEGERS
                return b"int", SHARED_REFCOUNT if shared else 1
        return (b"embstr" if size <= EMBSTR_LIMIT else b"raw"), 1

    def mix_digest(self, digest: bytes, value: String) -> bytes:
        return mix_digest(digest, value)

    def to_snapshot(self, value: String) -> Any:
        return [bytes(value), type(value) is bytearray]

    def from_snapshot(self, payload: Any) -> String:
        data, raw = payload
        if type(data) is not bytes or type(raw) is not bool:
            raise TypeError(f"string payload {payload!r:.60}")
        return bytearray(data) if raw else data

    def duplicate(self, value: String) -> String:
        # Immutable bytes are shared; a bytearray may change in place, so it is copied.
        return bytearray(value) if type(value) is bytearray else value

    def estimated_size(self, value: String) -> int:
        encoding, _ = self.encoding(value)
        size = len(value)
        if encoding == b"int":
            return OBJECT_HEADER  # the number lives in the object's pointer
        # embstr: header and sds in one allocation; raw: two. Both end in a NUL byte.
        return OBJECT_HEADER + _sds_header(size) + size + 1

    def is_empty(self, value: String) -> bool:
        return False  # an empty string is a value (SET k ""), unlike an empty collection


STRING: Final = register(StringType())
