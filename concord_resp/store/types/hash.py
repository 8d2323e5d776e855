"""The hash type: a stored hash is a `HashValue`, a dict of field -> value (both bytes).

Redis 7.0 keeps a small hash as a listpack in insertion order (an update keeps the field's
place, a new field goes to the tail) and converts it, for good, to a hashtable once a field or
value is longer than `hash-max-listpack-value` or it holds more than
`hash-max-listpack-entries` fields (`hashTypeTryConversion` before a write, `hashTypeSet`
around each field). A dict keeps exactly the listpack's order, so small hashes reply as Redis
does; `listpack` records the encoding. A hashtable's order in Redis is its hash order, which no
client can rely on; here it stays the dict's. SCAN cursors and random picks over a hashtable
go through a `MemberIndex` of its fields, built on first use and then kept up to date.
Invariant: a stored hash changes only through its own methods (never dict's mutators, which
would leave the index stale), inside `Database.changing`; no stored hash is empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, Final

from ...resp import string2ll
from ..encoding import EncodingConfig
from ..fingerprint import EMPTY_DIGEST, mix_digest, xor_digest
from .base import ValueType, register
from .member_index import MemberIndex
from .string import OBJECT_HEADER, _sds_header

DICT_HEADER: Final = 56  # sizeof(dict) in Redis 7.0, 64 bits
DICT_ENTRY: Final = 24  # sizeof(dictEntry): key, value, next
DICT_SLOT: Final = 8  # one bucket pointer
LISTPACK_OVERHEAD: Final = 7  # the 6-byte header and the end byte
SIZE_SAMPLES: Final = 5  # entries MEMORY USAGE averages over (its default SAMPLES)


class HashValue(dict[bytes, bytes]):
    """A hash's fields and values, in the order Redis's listpack would hold them."""

    __slots__ = ("index", "listpack")

    def __init__(self, pairs: Iterable[tuple[bytes, bytes]] = (), *, listpack: bool = True) -> None:
        super().__init__(pairs)
        self.listpack = listpack  # OBJECT ENCODING listpack, else hashtable
        self.index: MemberIndex | None = None  # the fields by crc32, once a hashtable needs it

    # -- changes (inside Database.changing only) ------------------------------------------

    def try_conversion(self, items: Iterable[bytes], config: EncodingConfig) -> None:
        """Redis's `hashTypeTryConversion`: a listpack about to receive an item longer than
        `hash-max-listpack-value` becomes a hashtable first."""
        if self.listpack:
            limit = config.hash_max_listpack_value
            if any(len(item) > limit for item in items):
                self.listpack = False

    def set_field(self, field: bytes, value: bytes, config: EncodingConfig) -> bool:
        """Redis's `hashTypeSet`: store one field; True if it is new. A listpack converts
        before the write if the field or the value is too long for it, and after it if it
        then holds too many fields (checked on an update too)."""
        if self.listpack:
            limit = config.hash_max_listpack_value
            if len(field) > limit or len(value) > limit:
                self.listpack = False
        size = len(self)
        self[field] = value
        new = len(self) != size
        if new and self.index is not None:
            self.index.add(field)
        if self.listpack and len(self) > config.hash_max_listpack_entries:
            self.listpack = False
        return new

    def delete_field(self, field: bytes) -> bool:
        """Remove a field; True if it was there."""
        if self.pop(field, None) is None:
            return False
        if self.index is not None:
            self.index.discard(field)
        return True

    # -- reads ----------------------------------------------------------------------------

    def member_index(self) -> MemberIndex:
        """The fields ordered by crc32 (built now if this is the first need of it)."""
        if self.index is None:
            self.index = MemberIndex(self)
        return self.index

    def picker(self) -> Callable[[int], bytes]:
        """A function from a position (0 <= position < len) to a field, for random picks:
        a listpack's order (copied once: O(n), as Redis walks its listpack), a hashtable's
        index order (O(log n) a pick). The choice depends only on the replicated encoding,
        so a write drawing from it picks alike on every replica."""
        if self.listpack:
            fields = list(self)
            return lambda position: fields[position]
        return self.member_index().member_at

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """(next cursor, fields) of one HSCAN step: a listpack answers whole at once with
        cursor 0, as Redis does; a hashtable walks its index from `cursor`."""
        if self.listpack:
            return 0, list(self)
        return self.member_index().scan(cursor, count)


def listpack_entry_size(item: bytes) -> int:
    """Bytes one listpack entry takes: an integer's or a string's encoding plus its
    back-length (lpEncodeBacklen)."""
    number = string2ll(item)
    if number is None:
        size = len(item)
        data = size + (1 if size < 64 else 2 if size < 4096 else 5)
    elif 0 <= number <= 127:
        data = 1
    elif -4096 <= number <= 4095:
        data = 2
    elif -(1 << 15) <= number < 1 << 15:
        data = 3
    elif -(1 << 23) <= number < 1 << 23:
        data = 4
    elif -(1 << 31) <= number < 1 << 31:
        data = 5
    else:
        data = 9
    backlen = 1 if data < 128 else 2 if data < 1 << 14 else 3 if data < 1 << 21 else 4
    return data + backlen


def sds_size(length: int) -> int:
    """Bytes of an sds string of `length` bytes: header, bytes, NUL."""
    return _sds_header(length) + length + 1


def dict_slots(used: int) -> int:
    """Buckets of a Redis dict holding `used` entries (a power of two, at least 4)."""
    slots = 4
    while slots < used:
        slots <<= 1
    return slots


class HashType(ValueType[HashValue]):
    name = b"hash"
    redis_type = 4  # OBJ_HASH
    tag = "hash"
    classes = (HashValue,)

    def encoding(self, value: HashValue) -> tuple[bytes, int]:
        return (b"listpack" if value.listpack else b"hashtable"), 1

    def mix_digest(self, digest: bytes, value: HashValue) -> bytes:
        # debug.c: each field and its value mixed into a digest of their own, XORed into
        # the total, so the order of fields does not matter.
        for field, item in value.items():
            digest = xor_digest(digest, mix_digest(mix_digest(EMPTY_DIGEST, field), item))
        return digest

    def to_snapshot(self, value: HashValue) -> Any:
        flat: list[bytes] = []
        for pair in value.items():
            flat.extend(pair)
        return [value.listpack, flat]

    def from_snapshot(self, payload: Any) -> HashValue:
        if type(payload) is not list or len(payload) != 2:
            raise TypeError(f"hash payload {payload!r:.60}")
        listpack, flat = payload
        if type(listpack) is not bool or type(flat) is not list or not flat or len(flat) % 2:
            raise TypeError(f"hash payload {payload!r:.60}")
        for item in flat:
            if type(item) is not bytes:
                raise TypeError(f"hash item {item!r:.60}")
        value = HashValue(zip(flat[::2], flat[1::2], strict=True), listpack=listpack)
        if 2 * len(value) != len(flat):
            raise ValueError("hash payload repeats a field")
        return value

    def duplicate(self, value: HashValue) -> HashValue:
        return HashValue(value.items(), listpack=value.listpack)  # bytes are shared

    def estimated_size(self, value: HashValue) -> int:
        if not value:
            return OBJECT_HEADER
        if value.listpack:
            return (
                OBJECT_HEADER
                + LISTPACK_OVERHEAD
                + sum(
                    listpack_entry_size(field) + listpack_entry_size(item)
                    for field, item in value.items()
                )
            )
        # Redis's objectComputeSize: the table, then entries averaged over a few samples.
        sampled = [
            DICT_ENTRY + sds_size(len(field)) + sds_size(len(item))
            for field, item in islice(value.items(), SIZE_SAMPLES)
        ]
        per_entry = sum(sampled) / len(sampled)
        table = DICT_HEADER + DICT_SLOT * dict_slots(len(value))
        return OBJECT_HEADER + table + int(per_entry * len(value))

    def is_empty(self, value: HashValue) -> bool:
        return not value


HASH: Final = register(HashType())
